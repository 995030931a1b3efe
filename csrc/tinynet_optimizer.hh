// The update rules: how a parameter moves given its step (the negative gradient of the loss),
// with the optimizer's state. Each is written once as a template over the unit a road works
// on (one parameter for the general loop, a padded row of them for the small networks' road),
// so that every road instantiates the same rule.
//
// Every rule keeps at most two numbers per parameter (`a` and `b`, rows of the fit's
// TrainingState.slots, tinynet/_optimizers.py). `decay` is true for synapse weights, whose
// gradient gains l2 * w (and AdamW's decoupled decay); biases, scales and shifts have none.
#ifndef TINYNET_OPTIMIZER_HH
#define TINYNET_OPTIMIZER_HH

#include <cmath>

#include "tinynet_platform.hh"

namespace tinynet {

// Gradient descent, with classical or Nesterov momentum and L2 decay (tinynet's own form):
//   step -= l2 * w                              (weights, not biases: `decay`)
//   w += learning_rate * step                   (no momentum: the blog's update)
//   v = momentum * v + learning_rate * step;    w += v                     (classical)
//                                               w += momentum * v + learning_rate * step
//                                               (Nesterov's, in the form that needs no
//                                               gradient at a look-ahead point)
// The state is one velocity per weight, read and written only with momentum.
//
// The forms without and with momentum are two functions, and every road chooses between them
// outside its loops, never per parameter: with both forms behind one branch, a compiler may
// compute `learning_rate * step` once above it, and then cannot fuse the plain form's
// multiply-add, in one road and not in another.
template <typename T>
struct Sgd {
    T learning_rate, momentum, l2;
    bool nesterov;

    // The next value of `w` (a T or a vector of them) without momentum.
    template <typename U>
    TINYNET_ALWAYS_INLINE U plain(const U& w, U step, bool decay) const {
        if (decay && l2 != T(0)) step -= l2 * w;
        return w + learning_rate * step;
    }

    // The next value of `w` with momentum, updating `velocity`.
    template <typename U>
    TINYNET_ALWAYS_INLINE U moving(const U& w, U step, U& velocity, bool decay) const {
        if (decay && l2 != T(0)) step -= l2 * w;
        velocity = momentum * velocity + learning_rate * step;
        return w + (nesterov ? momentum * velocity + learning_rate * step : velocity);
    }
};

// Adam (PyTorch's torch.optim.Adam), and AdamW with a decoupled weight decay: with the
// gradient g = (-step + l2 * w) * scale, at update t (from 1)
//   w *= 1 - learning_rate * weight_decay                       (AdamW, weights only)
//   m += (1 - beta_1) (g - m);   v = beta_2 v + (1 - beta_2) g^2
//   w -= learning_rate / (1 - beta_1^t) * m / (sqrt(v) / sqrt(1 - beta_2^t) + epsilon)
// or, with epsilon_hat (Kingma and Ba's efficient form, scikit-learn's and TensorFlow's: the
// epsilon added to the root of the uncorrected second moment)
//   w -= learning_rate * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)
// The per-update factors are set by start(t) before the update's steps. The division by
// sqrt(1 - beta_2^t) is a multiplication by its inverse (one division per parameter instead
// of two: the loop is bound by the divider), which differs from PyTorch's by rounding.
// `scale` is 1, or 1 / the batch's weight when the fit takes the mean over each batch (see
// Optimizer::set_batch_weight); the decoupled decay is not scaled.
template <typename T>
struct Adam {
    T learning_rate, beta_1, beta_2, epsilon, l2, weight_decay;
    bool epsilon_hat = false;
    T scale = T(1);
    T step_size, inverse_correction_2;  // learning_rate / (1 - beta_1^t), 1 / sqrt(1 - beta_2^t)

    void start(long long t) {
        const double correction_1 = 1.0 - std::pow(double(beta_1), double(t));
        const double correction_2 = 1.0 - std::pow(double(beta_2), double(t));
        if (epsilon_hat) {
            step_size = T(double(learning_rate) * std::sqrt(correction_2) / correction_1);
            inverse_correction_2 = T(1);
            return;
        }
        step_size = T(double(learning_rate) / correction_1);
        inverse_correction_2 = T(1.0 / std::sqrt(correction_2));
    }

    // Scaled: whether the gradient is multiplied by `scale` (not when it is 1).
    template <bool Scaled>
    TINYNET_ALWAYS_INLINE T next(T w, T step, T& m, T& v, bool decay) const {
        T g = -step;
        if (decay && l2 != T(0)) g += l2 * w;
        if (Scaled) g *= scale;
        if (decay && weight_decay != T(0)) w *= T(1) - learning_rate * weight_decay;
        m += (T(1) - beta_1) * (g - m);
        v = beta_2 * v + (T(1) - beta_2) * g * g;
        const T denominator = std::sqrt(v) * inverse_correction_2 + epsilon;
        return w - step_size * (m / denominator);
    }
};

// RMSprop (PyTorch's torch.optim.RMSprop, not centred), rho being its alpha: with the
// gradient g = (-step + l2 * w) * scale (`scale` as Adam's),
//   s = rho s + (1 - rho) g^2;   a = sqrt(s) + epsilon
//   b = momentum b + g / a;  w -= learning_rate * b      (momentum > 0)
//   w -= learning_rate * (g / a)                          (otherwise)
template <typename T>
struct RmsProp {
    T learning_rate, rho, epsilon, momentum, l2;
    T scale = T(1);

    template <bool Scaled>
    TINYNET_ALWAYS_INLINE T next(T w, T step, T& s, T& b, bool decay) const {
        T g = -step;
        if (decay && l2 != T(0)) g += l2 * w;
        if (Scaled) g *= scale;
        s = rho * s + (T(1) - rho) * g * g;
        const T average = std::sqrt(s) + epsilon;
        if (momentum == T(0)) return w - learning_rate * (g / average);
        b = momentum * b + g / average;
        return w - learning_rate * b;
    }
};

// The optimizers, by the codes the Cython core passes (see tinynet/_kernels.pxd).
enum OptimizerKind { kSgd = 0, kAdam = 1, kAdamW = 2, kRmsProp = 3 };

// A fit's update rule: its kind and each rule's settings (only the kind's are read).
template <typename T>
struct Optimizer {
    OptimizerKind kind;
    Sgd<T> sgd;
    Adam<T> adam;
    RmsProp<T> rmsprop;

    T rate = T(0);  // the epoch's learning rate

    // Set the learning rate of the epoch about to be trained.
    void set_learning_rate(T epoch_rate) {
        rate = sgd.learning_rate = adam.learning_rate = rmsprop.learning_rate = epoch_rate;
    }

    // Divide the gradient of the batch about to be trained by its weight (its rows, or the
    // sum of their sample weights): the mean over the batch. For SGD that is its learning
    // rate over the weight; Adam and RMSprop see the scaled gradient. A batch of weight 0
    // has no gradient.
    void set_batch_weight(double weight) {
        sgd.learning_rate = T(weight > 0 ? double(rate) / weight : 0.0);
        adam.scale = rmsprop.scale = T(weight > 0 ? 1.0 / weight : 0.0);
    }

    // Prepare update number t (from 1) of the fit's optimizer.
    void start(long long t) {
        if (kind == kAdam || kind == kAdamW) adam.start(t);
    }
};

// syn[i] = rule.next(...) for each of `size` parameters, with the gradient scaled (the
// reduction "mean") or not: the branch is taken once per loop, not per parameter.
template <typename T, typename Rule>
TINYNET_ALWAYS_INLINE void adaptive_steps(const Rule& rule, T* TINYNET_RESTRICT syn,
                                          T* TINYNET_RESTRICT a, T* TINYNET_RESTRICT b,
                                          const T* TINYNET_RESTRICT step, idx_t size,
                                          bool decay) {
    if (rule.scale != T(1)) {
        for (idx_t i = 0; i < size; ++i)
            syn[i] = rule.template next<true>(syn[i], step[i], a[i], b[i], decay);
        return;
    }
    for (idx_t i = 0; i < size; ++i)
        syn[i] = rule.template next<false>(syn[i], step[i], a[i], b[i], decay);
}

// syn[i] = the next value of each of `size` parameters in place, by the optimizer's rule,
// with a[i] and b[i] its state (read only where the rule keeps state).
template <typename T>
TINYNET_ALWAYS_INLINE void steps_loop(const Optimizer<T>& o, T* TINYNET_RESTRICT syn,
                                      T* TINYNET_RESTRICT a, T* TINYNET_RESTRICT b,
                                      const T* TINYNET_RESTRICT step, idx_t size, bool decay) {
    switch (o.kind) {
        case kAdam:
        case kAdamW:
            return adaptive_steps(o.adam, syn, a, b, step, size, decay);
        case kRmsProp:
            return adaptive_steps(o.rmsprop, syn, a, b, step, size, decay);
        default:
            break;
    }
    if (o.sgd.momentum == T(0)) {
        for (idx_t i = 0; i < size; ++i) syn[i] = o.sgd.plain(syn[i], step[i], decay);
        return;
    }
    for (idx_t i = 0; i < size; ++i) syn[i] = o.sgd.moving(syn[i], step[i], a[i], decay);
}

// steps_loop compiled for each instruction set (the square roots and divisions of Adam and
// RMSprop vectorise across the widest registers; the multiply-adds are fused, or not, as on
// the small networks' road in the same set); take_steps runs the fit's.
struct Steps {
    template <typename T>
    static TINYNET_ALWAYS_INLINE void run(const Optimizer<T>& o, T* syn, T* a, T* b,
                                          const T* step, idx_t size, bool decay) {
        steps_loop(o, syn, a, b, step, size, decay);
    }
};

// steps_loop in instruction set `isa` (the fit's Machine's).
template <typename T>
inline void take_steps(Isa isa, const Optimizer<T>& o, T* syn, T* a, T* b, const T* step,
                       idx_t size, bool decay) {
    run_on<Steps>(isa, o, syn, a, b, step, size, decay);
}

}  // namespace tinynet

#endif  // TINYNET_OPTIMIZER_HH
