// The primitives of the blog's network, as in its C++ port: sigmoid, sigmoid_d, dot,
// transpose-dot, the output and hidden deltas, and the weight update.
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

#if defined(_MSC_VER)
#define TINYNET_RESTRICT __restrict
#else
#define TINYNET_RESTRICT __restrict__
#endif

namespace tinynet {

typedef std::ptrdiff_t idx_t;

// 1 / (1 + exp(-x)), evaluated from exp(-|x|) so that exp never overflows: for x < 0 it
// is exp(x) / (1 + exp(x)), the same value without the infinity.
template <typename T>
inline T sigmoid(T x) {
    const T z = std::exp(-std::fabs(x));
    return (x >= T(0) ? T(1) : z) / (T(1) + z);
}

// out = sigmoid(x), elementwise; out may be x.
template <typename T>
inline void sigmoid_all(const T* x, T* out, idx_t size) {
    for (idx_t i = 0; i < size; ++i) out[i] = sigmoid(x[i]);
}

// The sigmoid's slope, from its output (the blog's nonlin(x, deriv=True)).
template <typename T>
inline T sigmoid_d(T out) {
    return out * (T(1) - out);
}

// Below this many output columns the matrix products keep each sum in a register; from it
// on they sweep whole rows, which vectorises across the columns. Both forms add the terms of
// every sum in index order, so they give identical results, whatever the sizes.
const idx_t kRowSweepMinColumns = 8;

// c__nj = a__nk . b__kj, each sum taken in index order over k.
template <typename T>
inline void dot(const T* TINYNET_RESTRICT a__nk, const T* TINYNET_RESTRICT b__kj,
                T* TINYNET_RESTRICT c__nj, idx_t n, idx_t k, idx_t j) {
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

// c__kj = a__nkᵀ . b__nj, each sum taken in index order over n.
template <typename T>
inline void transpose_dot(const T* TINYNET_RESTRICT a__nk, const T* TINYNET_RESTRICT b__nj,
                          T* TINYNET_RESTRICT c__kj, idx_t n, idx_t k, idx_t j) {
    if (j < kRowSweepMinColumns) {
        for (idx_t p = 0; p < k; ++p) {
            for (idx_t q = 0; q < j; ++q) {
                T sum = T(0);
                for (idx_t r = 0; r < n; ++r) sum += a__nk[r * k + p] * b__nj[r * j + q];
                c__kj[p * j + q] = sum;
            }
        }
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

// Forward propagation through one synapse: l__nj = sigmoid(l_prev__nk . syn__kj).
template <typename T>
inline void forward_layer(const T* TINYNET_RESTRICT l_prev__nk, const T* TINYNET_RESTRICT syn__kj,
                          T* TINYNET_RESTRICT l__nj, idx_t n, idx_t k, idx_t j) {
    dot(l_prev__nk, syn__kj, l__nj, n, k, j);
    sigmoid_all(l__nj, l__nj, n * j);
}

// The output layer's delta, (y - l) * sigmoid_d(l), with the two error sums the history
// reports: sum |y - l| and sum (y - l)^2, accumulated in double for either T.
template <typename T>
inline void output_delta(const T* TINYNET_RESTRICT y, const T* TINYNET_RESTRICT l,
                         T* TINYNET_RESTRICT l_delta, idx_t size,
                         double* abs_error_sum, double* squared_error_sum) {
    double abs_sum = 0.0, squared_sum = 0.0;
    for (idx_t i = 0; i < size; ++i) {
        const T error = y[i] - l[i];
        l_delta[i] = error * sigmoid_d(l[i]);
        abs_sum += std::fabs(double(error));
        squared_sum += double(error) * double(error);
    }
    *abs_error_sum = abs_sum;
    *squared_error_sum = squared_sum;
}

// A hidden layer's delta: l_delta__nk = (l_next_delta__nj . syn__kjᵀ) * sigmoid_d(l__nk),
// the error sent back through the synapse before that synapse is updated.
template <typename T>
inline void hidden_delta(const T* TINYNET_RESTRICT l_next_delta__nj,
                         const T* TINYNET_RESTRICT syn__kj, const T* TINYNET_RESTRICT l__nk,
                         T* TINYNET_RESTRICT l_delta__nk, idx_t n, idx_t k, idx_t j) {
    for (idx_t r = 0; r < n; ++r) {
        const T* d = l_next_delta__nj + r * j;
        for (idx_t p = 0; p < k; ++p) {
            const T* s = syn__kj + p * j;
            T error = T(0);
            for (idx_t q = 0; q < j; ++q) error += d[q] * s[q];
            l_delta__nk[r * k + p] = error * sigmoid_d(l__nk[r * k + p]);
        }
    }
}

// The weight update: syn += learning_rate * step, elementwise.
template <typename T>
inline void update(T* TINYNET_RESTRICT syn, const T* TINYNET_RESTRICT step, idx_t size,
                   T learning_rate) {
    for (idx_t i = 0; i < size; ++i) syn[i] += learning_rate * step[i];
}

}  // namespace tinynet

#endif  // TINYNET_KERNELS_HH
