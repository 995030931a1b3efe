// The primitives of the blog's network, as in its C++ port: sigmoid, sigmoid_d, dot,
// transpose-dot, the output and hidden deltas, and the weight update; and those of the
// features its "Future Work" list asks for: more activations, bias units, delta trimming,
// L2 regularisation, momentum, mini-batches.
//
// One template per primitive gives the float and the double kernel from one source.
// Every array is row-major and contiguous; the suffix after "__" names its axes:
//   n  samples (rows of the batch)     k  units of the layer below
//   j  units of the layer above
// so `syn__kj` is the synapse from a k-unit layer to a j-unit layer and `l__nj` that
// layer's output for n samples. Nothing here allocates; the caller owns every buffer.
#ifndef TINYNET_KERNELS_HH
#define TINYNET_KERNELS_HH

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "tinynet_blas.hh"
#include "tinynet_random.hh"
#include "tinynet_vmath.hh"

#if defined(_MSC_VER)
#define TINYNET_RESTRICT __restrict
#else
#define TINYNET_RESTRICT __restrict__
#endif

namespace tinynet {

typedef std::ptrdiff_t idx_t;

// x = 1 / (1 + exp(-x)), exp(x) and tanh(x), elementwise in place, by the vectorised kernels
// (tinynet_vmath.hh). The sigmoid is evaluated from exp(-|x|), so exp never overflows.
template <typename T>
inline void sigmoid_all(T* x, idx_t size) {
    vmath::kernels(T()).sigmoid(x, size);
}

template <typename T>
inline void exp_all(T* x, idx_t size) {
    vmath::kernels(T()).exp(x, size);
}

template <typename T>
inline void tanh_all(T* x, idx_t size) {
    vmath::kernels(T()).tanh(x, size);
}

// The sigmoid's slope, from its output (the blog's nonlin(x, deriv=True)).
template <typename T>
inline T sigmoid_d(T out) {
    return out * (T(1) - out);
}

// The matrix products go to BLAS from blas::crossover multiply-adds on (tinynet_blas.hh).
// Below it, products of fewer than this many output columns keep each sum in a register;
// wider ones sweep whole rows, which vectorises across the columns. Both forms add the terms
// of every sum in index order, so they give identical results, whatever the sizes.
const idx_t kRowSweepMinColumns = 8;

// c__nj = a__nk . b__kj, each sum taken in index order over k.
template <typename T>
inline void dot(const T* TINYNET_RESTRICT a__nk, const T* TINYNET_RESTRICT b__kj,
                T* TINYNET_RESTRICT c__nj, idx_t n, idx_t k, idx_t j) {
    if (blas::pays<T>(n, k, j)) {
        blas::dot(a__nk, b__kj, c__nj, n, k, j);
        return;
    }
    if (j < kRowSweepMinColumns) {
        for (idx_t r = 0; r < n; ++r) {
            const T* a = a__nk + r * k;
            for (idx_t q = 0; q < j; ++q) {
                T sum = T(0);
                for (idx_t p = 0; p < k; ++p) sum += a[p] * b__kj[p * j + q];
                c__nj[r * j + q] = sum;
            }
        }
        return;
    }
    for (idx_t r = 0; r < n; ++r) {
        const T* a = a__nk + r * k;
        T* c = c__nj + r * j;
        for (idx_t q = 0; q < j; ++q) c[q] = T(0);
        for (idx_t p = 0; p < k; ++p) {
            const T a_rp = a[p];
            const T* b = b__kj + p * j;
            for (idx_t q = 0; q < j; ++q) c[q] += a_rp * b[q];
        }
    }
}

// The sums of a__nkᵀ . b__nj for narrow products, each taken in index order over n in a
// register and handed to store(p * j + q, sum).
template <typename T, typename Store>
inline void narrow_transpose_dot(const T* TINYNET_RESTRICT a__nk, const T* TINYNET_RESTRICT b__nj,
                                 idx_t n, idx_t k, idx_t j, Store store) {
    for (idx_t p = 0; p < k; ++p) {
        for (idx_t q = 0; q < j; ++q) {
            T sum = T(0);
            for (idx_t r = 0; r < n; ++r) sum += a__nk[r * k + p] * b__nj[r * j + q];
            store(p * j + q, sum);
        }
    }
}

// c__kj = a__nkᵀ . b__nj, each sum taken in index order over n.
template <typename T>
inline void transpose_dot(const T* TINYNET_RESTRICT a__nk, const T* TINYNET_RESTRICT b__nj,
                          T* TINYNET_RESTRICT c__kj, idx_t n, idx_t k, idx_t j) {
    if (blas::pays<T>(n, k, j)) {
        blas::transpose_dot(a__nk, b__nj, c__kj, n, k, j, T(1), T(0));
        return;
    }
    if (j < kRowSweepMinColumns) {
        narrow_transpose_dot(a__nk, b__nj, n, k, j, [=](idx_t i, T sum) { c__kj[i] = sum; });
        return;
    }
    for (idx_t i = 0; i < k * j; ++i) c__kj[i] = T(0);
    for (idx_t r = 0; r < n; ++r) {
        const T* a = a__nk + r * k;
        const T* b = b__nj + r * j;
        for (idx_t p = 0; p < k; ++p) {
            const T a_rp = a[p];
            T* c = c__kj + p * j;
            for (idx_t q = 0; q < j; ++q) c[q] += a_rp * b[q];
        }
    }
}

// The weight update: syn += learning_rate * step, elementwise.
template <typename T>
inline void update(T* TINYNET_RESTRICT syn, const T* TINYNET_RESTRICT step, idx_t size,
                   T learning_rate) {
    for (idx_t i = 0; i < size; ++i) syn[i] += learning_rate * step[i];
}

// syn__kj += learning_rate * (a__nkᵀ . b__nj): the blog's update, each sum taken in index
// order over n as in transpose_dot. Narrow synapses add each sum straight from its register;
// wide ones go through `step` (k * j elements), so the results are the same either way.
template <typename T>
inline void transpose_dot_update(const T* TINYNET_RESTRICT a__nk, const T* TINYNET_RESTRICT b__nj,
                                 T* TINYNET_RESTRICT syn__kj, T* TINYNET_RESTRICT step, idx_t n,
                                 idx_t k, idx_t j, T learning_rate) {
    if (blas::pays<T>(n, k, j)) {
        blas::transpose_dot(a__nk, b__nj, syn__kj, n, k, j, learning_rate, T(1));
        return;
    }
    if (j < kRowSweepMinColumns) {
        narrow_transpose_dot(a__nk, b__nj, n, k, j,
                             [=](idx_t i, T sum) { syn__kj[i] += learning_rate * sum; });
        return;
    }
    transpose_dot(a__nk, b__nj, step, n, k, j);
    update(syn__kj, step, k * j, learning_rate);
}

// The activation functions, by the codes the Cython core passes (see tinynet/_kernels.pxd).
// Hidden layers use sigmoid, tanh or relu; the output layer sigmoid, linear or softmax.
enum Activation { kSigmoid = 0, kTanh = 1, kRelu = 2, kLinear = 3, kSoftmax = 4 };

template <typename T>
inline T relu(T x) {
    return x < T(0) ? T(0) : x;  // written so that NaN passes through, as in numpy.maximum
}

// out = f(x) elementwise for every activation but softmax; out may be x.
template <typename T, typename F>
inline void map_all(const T* x, T* out, idx_t size, F f) {
    for (idx_t i = 0; i < size; ++i) out[i] = f(x[i]);
}

// Each row of z__nj becomes its softmax, exp(z - max) / sum(exp(z - max)); if log_out is
// given, it receives the log of those probabilities, z - max - log(sum), which stays finite
// where a probability underflows to zero (the cross-entropy reads it). The exponentials are
// taken in one vectorised pass over the whole layer.
template <typename T>
inline void softmax_rows(T* TINYNET_RESTRICT z__nj, T* TINYNET_RESTRICT log_out__nj, idx_t n,
                         idx_t j) {
    for (idx_t r = 0; r < n; ++r) {
        T* z = z__nj + r * j;
        T largest = z[0];
        for (idx_t q = 1; q < j; ++q) largest = z[q] > largest ? z[q] : largest;
        for (idx_t q = 0; q < j; ++q) z[q] -= largest;
        if (log_out__nj)
            for (idx_t q = 0; q < j; ++q) log_out__nj[r * j + q] = z[q];
    }
    exp_all(z__nj, n * j);
    for (idx_t r = 0; r < n; ++r) {
        T* z = z__nj + r * j;
        T sum = T(0);
        for (idx_t q = 0; q < j; ++q) sum += z[q];
        for (idx_t q = 0; q < j; ++q) z[q] /= sum;
        if (log_out__nj) {
            const T log_sum = std::log(sum);
            for (idx_t q = 0; q < j; ++q) log_out__nj[r * j + q] -= log_sum;
        }
    }
}

// z__nj = f(z__nj) in place, for a layer of n rows of j units and any f but the sigmoid
// (forward_layer calls sigmoid_all itself: inside this switch the float32 XOR measured 3-4%
// more instructions and time).
template <typename T>
inline void activate_other(Activation f, T* TINYNET_RESTRICT z__nj,
                           T* TINYNET_RESTRICT log_out__nj, idx_t n, idx_t j) {
    switch (f) {
        case kTanh: tanh_all(z__nj, n * j); break;
        case kRelu: map_all(z__nj, z__nj, n * j, relu<T>); break;
        case kSoftmax: softmax_rows(z__nj, log_out__nj, n, j); break;
        default: break;  // kLinear: the identity
    }
}

// A hidden activation's slope, from its output (sigmoid_d for the sigmoid).
template <typename T>
inline T tanh_d(T out) {
    return T(1) - out * out;
}

template <typename T>
inline T relu_d(T out) {
    return out > T(0) ? T(1) : T(0);
}

// Calls body(slope_of) with the slope function of the hidden activation f (sigmoid_d,
// tanh_d or relu_d), so that each kernel taking one is compiled once per activation.
template <typename T, typename Body>
inline void with_slope(Activation f, Body body) {
    switch (f) {
        case kTanh: body(tanh_d<T>); break;
        case kRelu: body(relu_d<T>); break;
        default: body(sigmoid_d<T>);
    }
}

// Inverted dropout on a hidden layer's output l__nk: unit (r, p) is kept when
// random_uniform(key, (first_row + r) * row_stride + first_unit + p) >= rate, and then
// scaled by `scale` (1 / (1 - rate)), else zeroed; slopes__nk receives the slope of each
// unit at its undropped output times the same factor.
template <typename T, typename G>
inline void drop_units_with(T* l__nk, T* slopes__nk, idx_t n, idx_t k, std::uint64_t key,
                       std::uint64_t first_row, std::uint64_t row_stride,
                       std::uint64_t first_unit, double rate, T scale, G slope_of) {
    for (idx_t r = 0; r < n; ++r) {
        const std::uint64_t row_counter = (first_row + std::uint64_t(r)) * row_stride + first_unit;
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
inline void drop_units(Activation f, T* l__nk, T* slopes__nk, idx_t n, idx_t k, std::uint64_t key,
                       std::uint64_t first_row, std::uint64_t row_stride,
                       std::uint64_t first_unit, double rate, T scale) {
    with_slope<T>(f, [&](auto slope_of) {
        drop_units_with(l__nk, slopes__nk, n, k, key, first_row, row_stride, first_unit, rate,
                        scale, slope_of);
    });
}

// c__nj += bias__j, to every row.
template <typename T>
inline void add_bias(T* TINYNET_RESTRICT c__nj, const T* TINYNET_RESTRICT bias__j, idx_t n,
                     idx_t j) {
    for (idx_t r = 0; r < n; ++r)
        for (idx_t q = 0; q < j; ++q) c__nj[r * j + q] += bias__j[q];
}

// Forward propagation through one synapse: l__nj = f(l_prev__nk . syn__kj + bias__j),
// without the bias term if bias__j is null.
template <typename T>
inline void forward_layer(Activation f, const T* TINYNET_RESTRICT l_prev__nk,
                          const T* TINYNET_RESTRICT syn__kj, const T* TINYNET_RESTRICT bias__j,
                          T* TINYNET_RESTRICT l__nj, T* TINYNET_RESTRICT log_out__nj, idx_t n,
                          idx_t k, idx_t j) {
    dot(l_prev__nk, syn__kj, l__nj, n, k, j);
    if (bias__j) add_bias(l__nj, bias__j, n, j);
    if (f == kSigmoid)
        sigmoid_all(l__nj, n * j);
    else
        activate_other(f, l__nj, log_out__nj, n, j);
}

// The squared-error output delta, (y - l) * g(l) for each output, with sum |y - l| and
// sum (y - l)^2 accumulated in double for either T.
template <typename T, typename G>
inline void squared_error_delta(const T* TINYNET_RESTRICT y, const T* TINYNET_RESTRICT l,
                                T* TINYNET_RESTRICT l_delta, idx_t size, double* abs_error_sum,
                                double* squared_error_sum, G g) {
    double abs_sum = 0.0, squared_sum = 0.0;
    for (idx_t i = 0; i < size; ++i) {
        const T error = y[i] - l[i];
        l_delta[i] = error * g(l[i]);
        abs_sum += std::fabs(double(error));
        squared_sum += double(error) * double(error);
    }
    *abs_error_sum = abs_sum;
    *squared_error_sum = squared_sum;
}

// The output layer's delta, the negative gradient of each sample's loss with respect to the
// output units' inputs, with the sums the history reports: sum |y - l| and the summed loss.
//   sigmoid: loss 0.5 (y - l)^2, delta (y - l) * sigmoid_d(l)   (the blog)
//   linear:  loss 0.5 (y - l)^2, delta  y - l
//   softmax: loss -y log(l),     delta  y - l * sum(y): y - l for targets that sum to 1.
//            l_delta must hold log(l) on entry (from softmax_rows); it is overwritten.
// For n rows of j outputs; the sums are taken in double for either T.
template <typename T>
inline void output_delta(Activation f, const T* TINYNET_RESTRICT y, const T* TINYNET_RESTRICT l,
                         T* TINYNET_RESTRICT l_delta, idx_t n, idx_t j, double* abs_error_sum,
                         double* loss_sum) {
    const idx_t size = n * j;
    double squared_sum = 0.0;
    switch (f) {
        case kSoftmax: {
            double abs_sum = 0.0, loss = 0.0;
            for (idx_t r = 0; r < n; ++r) {
                T y_sum = T(0);
                for (idx_t q = 0; q < j; ++q) y_sum += y[r * j + q];
                for (idx_t i = r * j; i < (r + 1) * j; ++i) {
                    abs_sum += std::fabs(double(y[i] - l[i]));
                    loss -= double(y[i]) * double(l_delta[i]);
                    l_delta[i] = y[i] - l[i] * y_sum;
                }
            }
            *abs_error_sum = abs_sum;
            *loss_sum = loss;
            return;
        }
        case kSigmoid:
            squared_error_delta(y, l, l_delta, size, abs_error_sum, &squared_sum, sigmoid_d<T>);
            break;
        default:
            squared_error_delta(y, l, l_delta, size, abs_error_sum, &squared_sum,
                                [](T) { return T(1); });
    }
    *loss_sum = 0.5 * squared_sum;
}

// l_delta__nk = (l_next_delta__nj . syn__kjᵀ) * slope__nk: the error sent back through a
// synapse (before that synapse is updated), times the slope g(source) of each unit.
template <typename T, typename G>
inline void hidden_delta_with(const T* TINYNET_RESTRICT l_next_delta__nj,
                              const T* TINYNET_RESTRICT syn__kj, const T* TINYNET_RESTRICT source,
                              T* TINYNET_RESTRICT l_delta__nk, idx_t n, idx_t k, idx_t j, G g) {
    if (blas::pays<T>(n, k, j)) {
        blas::dot_transpose(l_next_delta__nj, syn__kj, l_delta__nk, n, k, j);
        for (idx_t i = 0; i < n * k; ++i) l_delta__nk[i] *= g(source[i]);
        return;
    }
    for (idx_t r = 0; r < n; ++r) {
        const T* d = l_next_delta__nj + r * j;
        for (idx_t p = 0; p < k; ++p) {
            const T* s = syn__kj + p * j;
            T error = T(0);
            for (idx_t q = 0; q < j; ++q) error += d[q] * s[q];
            l_delta__nk[r * k + p] = error * g(source[r * k + p]);
        }
    }
}

// A hidden layer's delta. The slope of each unit is f's derivative at the layer's output
// l__nk, or, if slopes__nk is given (dropout computed it in the forward pass), that.
template <typename T>
inline void hidden_delta(Activation f, const T* l_next_delta__nj, const T* syn__kj,
                         const T* l__nk, const T* slopes__nk, T* l_delta__nk, idx_t n, idx_t k,
                         idx_t j) {
    if (slopes__nk) {
        hidden_delta_with(l_next_delta__nj, syn__kj, slopes__nk, l_delta__nk, n, k, j,
                          [](T s) { return s; });
        return;
    }
    with_slope<T>(f, [&](auto slope_of) {
        hidden_delta_with(l_next_delta__nj, syn__kj, l__nk, l_delta__nk, n, k, j, slope_of);
    });
}

// The blog's "delta trimming": every delta into [-bound, bound]. NaN stays NaN.
template <typename T>
inline void clip_all(T* delta, idx_t size, T bound) {
    for (idx_t i = 0; i < size; ++i)
        delta[i] = delta[i] > bound ? bound : (delta[i] < -bound ? -bound : delta[i]);
}

// sums__j = the sum of the rows of a__nj, in row order (a bias's step).
template <typename T>
inline void column_sums(const T* TINYNET_RESTRICT a__nj, T* TINYNET_RESTRICT sums__j, idx_t n,
                        idx_t j) {
    for (idx_t q = 0; q < j; ++q) sums__j[q] = T(0);
    for (idx_t r = 0; r < n; ++r)
        for (idx_t q = 0; q < j; ++q) sums__j[q] += a__nj[r * j + q];
}

// L2 regularisation: step -= l2 * syn, the penalty's negative gradient.
template <typename T>
inline void decay(T* TINYNET_RESTRICT step, const T* TINYNET_RESTRICT syn, idx_t size, T l2) {
    for (idx_t i = 0; i < size; ++i) step[i] -= l2 * syn[i];
}

// The update with momentum: velocity = momentum * velocity + learning_rate * step, then
// syn += velocity (classical) or syn += momentum * velocity + learning_rate * step
// (Nesterov's, in the form that needs no gradient at a look-ahead point).
template <typename T>
inline void momentum_update(T* TINYNET_RESTRICT syn, T* TINYNET_RESTRICT velocity,
                            const T* TINYNET_RESTRICT step, idx_t size, T learning_rate,
                            T momentum, bool nesterov) {
    for (idx_t i = 0; i < size; ++i) {
        velocity[i] = momentum * velocity[i] + learning_rate * step[i];
        syn[i] += nesterov ? momentum * velocity[i] + learning_rate * step[i] : velocity[i];
    }
}

// dst__mc = the rows order[0], ..., order[m - 1] of src__nc.
template <typename T>
inline void gather_rows(const T* TINYNET_RESTRICT src__nc, const idx_t* TINYNET_RESTRICT order,
                        T* TINYNET_RESTRICT dst__mc, idx_t m, idx_t c) {
    for (idx_t r = 0; r < m; ++r) {
        const T* src = src__nc + order[r] * c;
        for (idx_t q = 0; q < c; ++q) dst__mc[r * c + q] = src[q];
    }
}

// dst = src: the snapshot of the weights that an epoch which fails is rolled back to.
template <typename T>
inline void copy_all(const T* TINYNET_RESTRICT src, T* TINYNET_RESTRICT dst, idx_t size) {
    for (idx_t i = 0; i < size; ++i) dst[i] = src[i];
}

// Whether no element is NaN or infinite (vmath's finite_loop, vectorised per CPU).
template <typename T>
inline bool all_finite(const T* x, idx_t size) {
    return vmath::kernels(T()).all_finite(x, size);
}

}  // namespace tinynet

#endif  // TINYNET_KERNELS_HH
