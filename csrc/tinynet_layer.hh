// One layer's part of a training step in the general loop: forward propagation through a
// synapse, dropout, the output and hidden deltas, delta trimming and the biases' step. The
// per-unit pieces (activations and slopes, the output error) are shared with the small
// networks' road; the update rule is in tinynet_optimizer.hh.
//
// Every kernel that multiplies and adds is compiled once per instruction set (run_on,
// tinynet_platform.hh) and runs the fit's: its multiply-adds are fused, or not, as on the
// small networks' road in the same set. The others (adding biases, summing columns, clipping)
// have nothing to fuse and compute alike everywhere.
//
// Array names follow tinynet_products.hh: `__nk` is n rows of k units, and so on.
#ifndef TINYNET_LAYER_HH
#define TINYNET_LAYER_HH

#include <cmath>
#include <cstdint>
#include <limits>

#include "tinynet_activations.hh"
#include "tinynet_blas.hh"
#include "tinynet_machine.hh"
#include "tinynet_platform.hh"
#include "tinynet_products.hh"
#include "tinynet_random.hh"

namespace tinynet {

// c__nj += bias__j, to every row.
template <typename T>
inline void add_bias(T* TINYNET_RESTRICT c__nj, const T* TINYNET_RESTRICT bias__j, idx_t n,
                     idx_t j) {
    for (idx_t r = 0; r < n; ++r)
        for (idx_t q = 0; q < j; ++q) c__nj[r * j + q] += bias__j[q];
}

// The pre-activation of a layer: z__nj = l_prev__nk . syn__kj + bias__j (no bias term if
// bias__j is null).
template <typename T>
inline void forward_linear(const Machine& m, const T* TINYNET_RESTRICT l_prev__nk,
                           const T* TINYNET_RESTRICT syn__kj, const T* TINYNET_RESTRICT bias__j,
                           T* TINYNET_RESTRICT z__nj, idx_t n, idx_t k, idx_t j) {
    dot(m, l_prev__nk, syn__kj, z__nj, n, k, j);
    if (bias__j) add_bias(z__nj, bias__j, n, j);
}

// Forward propagation through one synapse: l__nj = f(l_prev__nk . syn__kj + bias__j),
// without the bias term if bias__j is null; a softmax also writes its log-probabilities to
// log_out__nj if given.
template <typename T>
inline void forward_layer(const Machine& m, Activation f, const T* TINYNET_RESTRICT l_prev__nk,
                          const T* TINYNET_RESTRICT syn__kj, const T* TINYNET_RESTRICT bias__j,
                          T* TINYNET_RESTRICT l__nj, T* TINYNET_RESTRICT log_out__nj, idx_t n,
                          idx_t k, idx_t j) {
    forward_linear(m, l_prev__nk, syn__kj, bias__j, l__nj, n, k, j);
    activate(m, f, l__nj, log_out__nj, n, j);
}

// Batch normalisation of a layer's pre-activation z__nj in place, in training mode (PyTorch's
// BatchNorm1d): per unit q over the n rows, mean and biased variance, then
// xhat = (z - mean) / sqrt(var + epsilon) into xhat__nj and z = scale * xhat + shift. The
// unit's mean and 1 / sqrt(var + epsilon) go to mean__j and inv_std__j, its unbiased variance
// (for the running statistics; 0 for one row) to var__j. Sums in double, in row order.
struct NormaliseBatch {
    template <typename T>
    static TINYNET_ALWAYS_INLINE void run(T* TINYNET_RESTRICT z__nj, T* TINYNET_RESTRICT xhat__nj,
                                          const T* TINYNET_RESTRICT scale__j,
                                          const T* TINYNET_RESTRICT shift__j,
                                          T* TINYNET_RESTRICT mean__j, T* TINYNET_RESTRICT var__j,
                                          T* TINYNET_RESTRICT inv_std__j, idx_t n, idx_t j,
                                          double epsilon) {
        for (idx_t q = 0; q < j; ++q) {
            double sum = 0.0;
            for (idx_t r = 0; r < n; ++r) sum += double(z__nj[r * j + q]);
            const double mean = sum / double(n);
            double squares = 0.0;
            for (idx_t r = 0; r < n; ++r) {
                const double d = double(z__nj[r * j + q]) - mean;
                squares = TINYNET_RUNNING_SUM(squares + d * d);
            }
            const double inv_std = 1.0 / std::sqrt(squares / double(n) + epsilon);
            mean__j[q] = T(mean);
            var__j[q] = n > 1 ? T(squares / double(n - 1)) : T(0);
            inv_std__j[q] = T(inv_std);
            for (idx_t r = 0; r < n; ++r) {
                const T xhat = T((double(z__nj[r * j + q]) - mean) * inv_std);
                xhat__nj[r * j + q] = xhat;
                z__nj[r * j + q] = scale__j[q] * xhat + shift__j[q];
            }
        }
    }
};

template <typename T>
inline void normalise_batch(const Machine& m, T* z__nj, T* xhat__nj, const T* scale__j,
                            const T* shift__j, T* mean__j, T* var__j, T* inv_std__j, idx_t n,
                            idx_t j, double epsilon) {
    run_on<NormaliseBatch>(m.isa, z__nj, xhat__nj, scale__j, shift__j, mean__j, var__j,
                           inv_std__j, n, j, epsilon);
}

// Batch normalisation with the running statistics (prediction, validation):
// z = scale * (z - running_mean) / sqrt(running_var + epsilon) + shift.
struct NormaliseRunning {
    template <typename T>
    static TINYNET_ALWAYS_INLINE void run(T* TINYNET_RESTRICT z__nj,
                                          const T* TINYNET_RESTRICT scale__j,
                                          const T* TINYNET_RESTRICT shift__j,
                                          const T* TINYNET_RESTRICT running_mean__j,
                                          const T* TINYNET_RESTRICT running_var__j, idx_t n,
                                          idx_t j, double epsilon) {
        for (idx_t q = 0; q < j; ++q) {
            const T inv_std = T(1.0 / std::sqrt(double(running_var__j[q]) + epsilon));
            for (idx_t r = 0; r < n; ++r)
                z__nj[r * j + q] =
                    scale__j[q] * ((z__nj[r * j + q] - running_mean__j[q]) * inv_std) +
                    shift__j[q];
        }
    }
};

template <typename T>
inline void normalise_running(const Machine& m, T* z__nj, const T* scale__j, const T* shift__j,
                              const T* running_mean__j, const T* running_var__j, idx_t n,
                              idx_t j, double epsilon) {
    run_on<NormaliseRunning>(m.isa, z__nj, scale__j, shift__j, running_mean__j, running_var__j,
                             n, j, epsilon);
}

// running = (1 - momentum) * running + momentum * batch, for the mean and the (unbiased)
// variance of each of j units: once per update.
struct MoveRunning {
    template <typename T>
    static TINYNET_ALWAYS_INLINE void run(T* TINYNET_RESTRICT running_mean__j,
                                          T* TINYNET_RESTRICT running_var__j,
                                          const T* TINYNET_RESTRICT mean__j,
                                          const T* TINYNET_RESTRICT var__j, idx_t j, T momentum) {
        for (idx_t q = 0; q < j; ++q) {
            running_mean__j[q] = (T(1) - momentum) * running_mean__j[q] + momentum * mean__j[q];
            running_var__j[q] = (T(1) - momentum) * running_var__j[q] + momentum * var__j[q];
        }
    }
};

template <typename T>
inline void move_running(const Machine& m, T* running_mean__j, T* running_var__j,
                         const T* mean__j, const T* var__j, idx_t j, T momentum) {
    run_on<MoveRunning>(m.isa, running_mean__j, running_var__j, mean__j, var__j, j, momentum);
}

// Back through a batch normalisation: delta__nj (the negative gradient with respect to its
// output) becomes, in place, that with respect to its input z, and the steps of its scale and
// shift (the negative gradients) go to step_scale__j and step_shift__j:
//   step_shift = sum_r delta;  step_scale = sum_r delta * xhat
//   delta = scale * inv_std / n * (n * delta - step_shift - xhat * step_scale)
struct NormaliseBatchBack {
    template <typename T>
    static TINYNET_ALWAYS_INLINE void run(T* TINYNET_RESTRICT delta__nj,
                                          const T* TINYNET_RESTRICT xhat__nj,
                                          const T* TINYNET_RESTRICT scale__j,
                                          const T* TINYNET_RESTRICT inv_std__j,
                                          T* TINYNET_RESTRICT step_scale__j,
                                          T* TINYNET_RESTRICT step_shift__j, idx_t n, idx_t j) {
        for (idx_t q = 0; q < j; ++q) {
            T sum = T(0), sum_xhat = T(0);
            for (idx_t r = 0; r < n; ++r) {
                sum += delta__nj[r * j + q];
                sum_xhat =
                    TINYNET_RUNNING_SUM(sum_xhat + delta__nj[r * j + q] * xhat__nj[r * j + q]);
            }
            step_shift__j[q] = sum;
            step_scale__j[q] = sum_xhat;
            const T factor = scale__j[q] * inv_std__j[q] / T(n);
            for (idx_t r = 0; r < n; ++r) {
                const idx_t i = r * j + q;
                delta__nj[i] = factor * (T(n) * delta__nj[i] - sum - xhat__nj[i] * sum_xhat);
            }
        }
    }
};

template <typename T>
inline void normalise_batch_back(const Machine& m, T* delta__nj, const T* xhat__nj,
                                 const T* scale__j, const T* inv_std__j, T* step_scale__j,
                                 T* step_shift__j, idx_t n, idx_t j) {
    run_on<NormaliseBatchBack>(m.isa, delta__nj, xhat__nj, scale__j, inv_std__j, step_scale__j,
                               step_shift__j, n, j);
}

// Inverted dropout on a hidden layer's output l__nk: unit (r, p) is kept when
// random_uniform(key, (first_row + r) * row_stride + first_unit + p) >= rate, and then
// scaled by `scale` (1 / (1 - rate)), else zeroed; slopes__nk receives the slope of each
// unit at its undropped output times the same factor.
struct DropUnits {
    template <typename G, typename T>
    static TINYNET_ALWAYS_INLINE void sloped(G slope_of, T* l__nk, T* slopes__nk, idx_t n,
                                             idx_t k, std::uint64_t key, std::uint64_t first_row,
                                             std::uint64_t row_stride, std::uint64_t first_unit,
                                             double rate, T scale) {
        for (idx_t r = 0; r < n; ++r) {
            const std::uint64_t row_counter =
                (first_row + std::uint64_t(r)) * row_stride + first_unit;
            for (idx_t p = 0; p < k; ++p) {
                const T factor =
                    random_uniform(key, row_counter + std::uint64_t(p)) >= rate ? scale : T(0);
                const idx_t i = r * k + p;
                slopes__nk[i] = slope_of(l__nk[i]) * factor;
                l__nk[i] = l__nk[i] * factor;
            }
        }
    }

    template <typename T>
    static TINYNET_ALWAYS_INLINE void run(Activation f, T* l__nk, T* slopes__nk, idx_t n, idx_t k,
                                          std::uint64_t key, std::uint64_t first_row,
                                          std::uint64_t row_stride, std::uint64_t first_unit,
                                          double rate, T scale) {
        with_slope<T, DropUnits>(f, l__nk, slopes__nk, n, k, key, first_row, row_stride,
                                 first_unit, rate, scale);
    }
};

template <typename T>
inline void drop_units(const Machine& m, Activation f, T* l__nk, T* slopes__nk, idx_t n, idx_t k,
                       std::uint64_t key, std::uint64_t first_row, std::uint64_t row_stride,
                       std::uint64_t first_unit, double rate, T scale) {
    run_on<DropUnits>(m.isa, f, l__nk, slopes__nk, n, k, key, first_row, row_stride, first_unit,
                      rate, scale);
}

// The squared-error output delta, (y - l) * g(l) for each of n rows of j outputs, with
// sum |y - l| and sum (y - l)^2 accumulated in double for either T, in row order. l's rows
// are l_stride elements apart and l_delta's delta_stride (both j in the general loop; on
// the small networks' road the padded width, or 1 for l where one unit's rows are grouped);
// y's are j apart.
template <typename T, typename G>
TINYNET_ALWAYS_INLINE void squared_error_delta(const T* TINYNET_RESTRICT y,
                                               const T* TINYNET_RESTRICT l, idx_t l_stride,
                                               T* TINYNET_RESTRICT l_delta, idx_t delta_stride,
                                               idx_t n, idx_t j, double* abs_error_sum,
                                               double* squared_error_sum, G g) {
    double abs_sum = 0.0, squared_sum = 0.0;
    for (idx_t r = 0; r < n; ++r) {
        for (idx_t q = 0; q < j; ++q) {
            const T out = l[r * l_stride + q], error = y[r * j + q] - out;
            l_delta[r * delta_stride + q] = error * g(out);
            abs_sum += std::fabs(double(error));
            squared_sum = TINYNET_RUNNING_SUM(squared_sum + double(error) * double(error));
        }
    }
    *abs_error_sum = abs_sum;
    *squared_error_sum = squared_sum;
}

// The delta of a sigmoid or linear output (f), with sum |y - l| and the summed loss
// 0.5 (y - l)^2: rows as in squared_error_delta.
template <typename T>
TINYNET_ALWAYS_INLINE void squared_loss_delta(Activation f, const T* TINYNET_RESTRICT y,
                                              const T* TINYNET_RESTRICT l, idx_t l_stride,
                                              T* TINYNET_RESTRICT l_delta, idx_t delta_stride,
                                              idx_t n, idx_t j, double* abs_error_sum,
                                              double* loss_sum) {
    double squared_sum = 0.0;
    if (f == kSigmoid)
        squared_error_delta(y, l, l_stride, l_delta, delta_stride, n, j, abs_error_sum,
                            &squared_sum, SlopeOf<kSigmoid, T>());
    else
        squared_error_delta(y, l, l_stride, l_delta, delta_stride, n, j, abs_error_sum,
                            &squared_sum, SlopeOf<kLinear, T>());
    *loss_sum = 0.5 * squared_sum;
}

// The softmax output's delta and sums (see output_delta).
template <typename T>
TINYNET_ALWAYS_INLINE void softmax_delta(const T* TINYNET_RESTRICT y,
                                         const T* TINYNET_RESTRICT l,
                                         T* TINYNET_RESTRICT l_delta, idx_t n, idx_t j,
                                         double* abs_error_sum, double* loss_sum) {
    double abs_sum = 0.0, loss = 0.0;
    for (idx_t r = 0; r < n; ++r) {
        T y_sum = T(0);
        for (idx_t q = 0; q < j; ++q) y_sum += y[r * j + q];
        for (idx_t i = r * j; i < (r + 1) * j; ++i) {
            abs_sum += std::fabs(double(y[i] - l[i]));
            loss = TINYNET_RUNNING_SUM(loss - double(y[i]) * double(l_delta[i]));
            l_delta[i] = y[i] - l[i] * y_sum;
        }
    }
    *abs_error_sum = abs_sum;
    *loss_sum = loss;
}

// The logistic output's delta and sums (see output_delta). The loss takes each output
// clipped to [eps, 1 - eps], eps the machine epsilon of T (as scikit-learn's binary log
// loss does), so that it stays finite where the sigmoid saturates; the delta does not.
template <typename T>
TINYNET_ALWAYS_INLINE void logistic_delta(const T* TINYNET_RESTRICT y,
                                          const T* TINYNET_RESTRICT l,
                                          T* TINYNET_RESTRICT l_delta, idx_t n, idx_t j,
                                          double* abs_error_sum, double* loss_sum) {
    const T eps = std::numeric_limits<T>::epsilon(), top = T(1) - eps;
    double abs_sum = 0.0, loss = 0.0;
    for (idx_t i = 0; i < n * j; ++i) {
        const T out = l[i], error = y[i] - out;
        l_delta[i] = error;
        abs_sum += std::fabs(double(error));
        const double p = double(out < eps ? eps : (out > top ? top : out)), target = double(y[i]);
        loss = TINYNET_RUNNING_SUM(loss - (target * std::log(p) +
                                           (1.0 - target) * std::log(1.0 - p)));
    }
    *abs_error_sum = abs_sum;
    *loss_sum = loss;
}

// The poisson output's delta and sums (see output_delta). l_delta holds z = log(l) on entry
// (from activate), so that the loss stays finite where l underflows to 0; where exp
// overflowed, l is inf and so is the loss (the fit's divergence). y log(y) is 0 at y = 0.
template <typename T>
TINYNET_ALWAYS_INLINE void poisson_delta(const T* TINYNET_RESTRICT y,
                                         const T* TINYNET_RESTRICT l,
                                         T* TINYNET_RESTRICT l_delta, idx_t n, idx_t j,
                                         double* abs_error_sum, double* loss_sum) {
    double abs_sum = 0.0, loss = 0.0;
    for (idx_t i = 0; i < n * j; ++i) {
        const T out = l[i], error = y[i] - out;
        const double target = double(y[i]), log_out = double(l_delta[i]);
        l_delta[i] = error;
        abs_sum += std::fabs(double(error));
        const double entropy = target > 0.0 ? target * (std::log(target) - log_out) : 0.0;
        loss = TINYNET_RUNNING_SUM(loss + (entropy - target + double(out)));
    }
    *abs_error_sum = abs_sum;
    *loss_sum = loss;
}

// The output layer's delta, the negative gradient of each sample's loss with respect to the
// output units' inputs, with the sums the history reports: sum |y - l| and the summed loss.
//   sigmoid: loss 0.5 (y - l)^2, delta (y - l) * sigmoid_d(l)   (the blog)
//   linear:  loss 0.5 (y - l)^2, delta  y - l
//   softmax: loss -y log(l),     delta  y - l * sum(y): y - l for targets that sum to 1.
//            l_delta must hold log(l) on entry (from softmax_rows); it is overwritten.
//   logistic: loss -(y log(l) + (1 - y) log(1 - l)), delta y - l (see logistic_delta).
//   poisson: loss y log(y / l) - y + l,  delta  y - l (the half Poisson deviance, l = exp(z)).
//            l_delta must hold log(l) on entry (from activate); it is overwritten.
// For n rows of j outputs; the sums are taken in double for either T.
struct OutputDelta {
    template <typename T>
    static TINYNET_ALWAYS_INLINE void run(Activation f, const T* TINYNET_RESTRICT y,
                                          const T* TINYNET_RESTRICT l,
                                          T* TINYNET_RESTRICT l_delta, idx_t n, idx_t j,
                                          double* abs_error_sum, double* loss_sum) {
        if (f == kSoftmax) {
            softmax_delta(y, l, l_delta, n, j, abs_error_sum, loss_sum);
            return;
        }
        if (f == kLogistic) {
            logistic_delta(y, l, l_delta, n, j, abs_error_sum, loss_sum);
            return;
        }
        if (f == kPoisson) {
            poisson_delta(y, l, l_delta, n, j, abs_error_sum, loss_sum);
            return;
        }
        squared_loss_delta(f, y, l, j, l_delta, j, n, j, abs_error_sum, loss_sum);
    }
};

template <typename T>
inline void output_delta(const Machine& m, Activation f, const T* y, const T* l, T* l_delta,
                         idx_t n, idx_t j, double* abs_error_sum, double* loss_sum) {
    run_on<OutputDelta>(m.isa, f, y, l, l_delta, n, j, abs_error_sum, loss_sum);
}

// output_delta for rows weighted by row_weights__n: each row's delta times its weight, and
// the sums behind the history weighted the same way.
struct WeightedOutputDelta {
    template <typename T>
    static TINYNET_ALWAYS_INLINE void run(Activation f, const T* TINYNET_RESTRICT y,
                                          const T* TINYNET_RESTRICT l,
                                          T* TINYNET_RESTRICT l_delta,
                                          const T* TINYNET_RESTRICT row_weights__n, idx_t n,
                                          idx_t j, double* abs_error_sum, double* loss_sum) {
        double abs_sum = 0.0, loss = 0.0;
        for (idx_t r = 0; r < n; ++r) {
            double row_abs, row_loss;
            OutputDelta::run(f, y + r * j, l + r * j, l_delta + r * j, idx_t(1), j, &row_abs,
                             &row_loss);
            const T weight = row_weights__n[r];
            for (idx_t q = 0; q < j; ++q) l_delta[r * j + q] *= weight;
            abs_sum = TINYNET_RUNNING_SUM(abs_sum + double(weight) * row_abs);
            loss = TINYNET_RUNNING_SUM(loss + double(weight) * row_loss);
        }
        *abs_error_sum = abs_sum;
        *loss_sum = loss;
    }
};

template <typename T>
inline void weighted_output_delta(const Machine& m, Activation f, const T* y, const T* l,
                                  T* l_delta, const T* row_weights__n, idx_t n, idx_t j,
                                  double* abs_error_sum, double* loss_sum) {
    run_on<WeightedOutputDelta>(m.isa, f, y, l, l_delta, row_weights__n, n, j, abs_error_sum,
                                loss_sum);
}

// l_delta__nk = (l_next_delta__nj . syn__kjᵀ) * slope__nk: the error sent back through a
// synapse (before that synapse is updated), times the slope g(source) of each unit, in the
// kernels' loops.
struct HiddenDeltaLoops {
    template <typename G, typename T>
    static TINYNET_ALWAYS_INLINE void sloped(G g, const T* TINYNET_RESTRICT l_next_delta__nj,
                                             const T* TINYNET_RESTRICT syn__kj,
                                             const T* TINYNET_RESTRICT source,
                                             T* TINYNET_RESTRICT l_delta__nk, idx_t n, idx_t k,
                                             idx_t j) {
        for (idx_t r = 0; r < n; ++r) {
            const T* d = l_next_delta__nj + r * j;
            for (idx_t p = 0; p < k; ++p) {
                const T* s = syn__kj + p * j;
                T error = T(0);
                for (idx_t q = 0; q < j; ++q) error = TINYNET_RUNNING_SUM(error + d[q] * s[q]);
                l_delta__nk[r * k + p] = error * g(source[r * k + p]);
            }
        }
    }

    // The slope of each unit is f's derivative at the layer's output l__nk, or, if
    // slopes__nk is given (dropout computed it in the forward pass), that.
    template <typename T>
    static TINYNET_ALWAYS_INLINE void run(Activation f, const T* l_next_delta__nj,
                                          const T* syn__kj, const T* l__nk, const T* slopes__nk,
                                          T* l_delta__nk, idx_t n, idx_t k, idx_t j) {
        if (slopes__nk) {
            sloped(GivenSlope(), l_next_delta__nj, syn__kj, slopes__nk, l_delta__nk, n, k, j);
            return;
        }
        with_slope<T, HiddenDeltaLoops>(f, l_next_delta__nj, syn__kj, l__nk, l_delta__nk, n, k,
                                        j);
    }
};

// l_delta__nk *= the slope of each unit (as HiddenDeltaLoops takes it): after BLAS's product.
struct TimesSlope {
    template <typename G, typename T>
    static TINYNET_ALWAYS_INLINE void sloped(G g, const T* TINYNET_RESTRICT source,
                                             T* TINYNET_RESTRICT l_delta, idx_t size) {
        for (idx_t i = 0; i < size; ++i) l_delta[i] *= g(source[i]);
    }

    template <typename T>
    static TINYNET_ALWAYS_INLINE void run(Activation f, const T* l__nk, const T* slopes__nk,
                                          T* l_delta, idx_t size) {
        if (slopes__nk) {
            sloped(GivenSlope(), slopes__nk, l_delta, size);
            return;
        }
        with_slope<T, TimesSlope>(f, l__nk, l_delta, size);
    }
};

// A hidden layer's delta (HiddenDeltaLoops), its product through BLAS from the crossover on.
template <typename T>
inline void hidden_delta(const Machine& m, Activation f, const T* l_next_delta__nj,
                         const T* syn__kj, const T* l__nk, const T* slopes__nk, T* l_delta__nk,
                         idx_t n, idx_t k, idx_t j) {
    if (blas::pays<T>(m.gemm, n, k, j)) {
        blas::dot_transpose(m.gemm, l_next_delta__nj, syn__kj, l_delta__nk, n, k, j);
        run_on<TimesSlope>(m.isa, f, l__nk, slopes__nk, l_delta__nk, n * k);
        return;
    }
    run_on<HiddenDeltaLoops>(m.isa, f, l_next_delta__nj, syn__kj, l__nk, slopes__nk, l_delta__nk,
                             n, k, j);
}

// The blog's "delta trimming": every delta into [-bound, bound]. NaN stays NaN.
template <typename T>
inline void clip_all(T* delta, idx_t size, T bound) {
    for (idx_t i = 0; i < size; ++i)
        delta[i] = delta[i] > bound ? bound : (delta[i] < -bound ? -bound : delta[i]);
}

// The sum of the squares of `size` values, in double, in eight interleaved partial sums: one
// running sum would make the loop wait on the latency of every addition (the L2 penalty of
// the reduction "mean", measured before every update).
struct SquaredSum {
    template <typename T>
    static TINYNET_ALWAYS_INLINE double run(const T* TINYNET_RESTRICT x, idx_t size) {
        double partial[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
        idx_t i = 0;
        for (; i + 8 <= size; i += 8)
            for (int k = 0; k < 8; ++k) partial[k] += double(x[i + k]) * double(x[i + k]);
        double total = 0.0;
        for (; i < size; ++i) total = TINYNET_RUNNING_SUM(total + double(x[i]) * double(x[i]));
        for (int k = 0; k < 8; ++k) total += partial[k];
        return total;
    }
};

template <typename T>
inline double squared_sum(const Machine& m, const T* x, idx_t size) {
    return run_on<SquaredSum>(m.isa, x, size);
}

// sums__j = the sum of the rows of a__nj, in row order (a bias's step).
template <typename T>
inline void column_sums(const T* TINYNET_RESTRICT a__nj, T* TINYNET_RESTRICT sums__j, idx_t n,
                        idx_t j) {
    for (idx_t q = 0; q < j; ++q) sums__j[q] = T(0);
    for (idx_t r = 0; r < n; ++r)
        for (idx_t q = 0; q < j; ++q) sums__j[q] += a__nj[r * j + q];
}

}  // namespace tinynet

#endif  // TINYNET_LAYER_HH
