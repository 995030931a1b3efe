// The update rule: how a weight moves given its step (the negative gradient of the loss),
// with the optimizer's state. Written once as a template over the unit a road works on (one
// weight for the general loop, a padded row of them for the small networks' road), so that
// every road instantiates the same rule; a new optimizer is a new rule here.
#ifndef TINYNET_OPTIMIZER_HH
#define TINYNET_OPTIMIZER_HH

#include "tinynet_platform.hh"

namespace tinynet {

// Gradient descent, with classical or Nesterov momentum and L2 decay:
//   step -= l2 * w                              (weights, not biases: `decay`)
//   w += learning_rate * step                   (no momentum: the blog's update)
//   v = momentum * v + learning_rate * step;    w += v                     (classical)
//                                               w += momentum * v + learning_rate * step
//                                               (Nesterov's, in the form that needs no
//                                               gradient at a look-ahead point)
// The state is one velocity per weight, read and written only with momentum.
template <typename T>
struct Sgd {
    T learning_rate, momentum, l2;
    bool nesterov;

    // The next value of `w` (a T or a vector of them), updating `velocity` with momentum.
    template <typename U>
    TINYNET_ALWAYS_INLINE U next(const U& w, U step, U& velocity, bool decay) const {
        if (decay && l2 != T(0)) step -= l2 * w;
        if (momentum == T(0)) return w + learning_rate * step;
        velocity = momentum * velocity + learning_rate * step;
        return w + (nesterov ? momentum * velocity + learning_rate * step : velocity);
    }
};

// syn[i] = rule.next(syn[i], step[i], velocity[i], decay) for `size` weights in place;
// `velocity` is read only with momentum.
template <typename T>
inline void take_steps(const Sgd<T>& rule, T* TINYNET_RESTRICT syn, T* TINYNET_RESTRICT velocity,
                       const T* TINYNET_RESTRICT step, idx_t size, bool decay) {
    if (rule.momentum == T(0)) {
        T unused = T(0);
        for (idx_t i = 0; i < size; ++i) syn[i] = rule.next(syn[i], step[i], unused, decay);
        return;
    }
    for (idx_t i = 0; i < size; ++i) syn[i] = rule.next(syn[i], step[i], velocity[i], decay);
}

}  // namespace tinynet

#endif  // TINYNET_OPTIMIZER_HH
