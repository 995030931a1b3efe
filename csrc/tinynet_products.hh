// The matrix products of a layer's step: forward (l . syn), the weights' step (lᵀ . delta)
// and the blog's fused update. Each goes to the fit's BLAS from its crossover on
// (tinynet_blas.hh); below it, to the loops here.
//
// Every array is row-major and contiguous; the suffix after "__" names its axes:
//   n  samples (rows of the batch)     k  units of the layer below
//   j  units of the layer above
// so `syn__kj` is the synapse from a k-unit layer to a j-unit layer and `l__nj` that
// layer's output for n samples. Nothing here allocates; the caller owns every buffer.
#ifndef TINYNET_PRODUCTS_HH
#define TINYNET_PRODUCTS_HH

#include "tinynet_blas.hh"
#include "tinynet_machine.hh"
#include "tinynet_platform.hh"

namespace tinynet {

// Below the crossover, products of fewer than this many output columns keep each sum in a
// register; wider ones sweep whole rows, which vectorises across the columns. Both forms add
// the terms of every sum in index order, so they give identical results, whatever the sizes.
const idx_t kRowSweepMinColumns = 8;

// c__nj = a__nk . b__kj, each sum taken in index order over k.
template <typename T>
inline void dot(const Machine& m, const T* TINYNET_RESTRICT a__nk,
                const T* TINYNET_RESTRICT b__kj, T* TINYNET_RESTRICT c__nj, idx_t n, idx_t k,
                idx_t j) {
    if (blas::pays<T>(m.gemm, n, k, j)) {
        blas::dot(m.gemm, a__nk, b__kj, c__nj, n, k, j);
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
inline void transpose_dot(const Machine& m, const T* TINYNET_RESTRICT a__nk,
                          const T* TINYNET_RESTRICT b__nj, T* TINYNET_RESTRICT c__kj, idx_t n,
                          idx_t k, idx_t j) {
    if (blas::pays<T>(m.gemm, n, k, j)) {
        blas::transpose_dot(m.gemm, a__nk, b__nj, c__kj, n, k, j, T(1), T(0));
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

// syn__kj += learning_rate * (a__nkᵀ . b__nj): the blog's update, each sum taken in index
// order over n as in transpose_dot. Narrow synapses add each sum straight from its register;
// wide ones go through `step` (k * j elements), so the results are the same either way.
// (The same as Sgd's rule without momentum or decay, tinynet_optimizer.hh; BLAS fuses it.)
template <typename T>
inline void transpose_dot_update(const Machine& m, const T* TINYNET_RESTRICT a__nk,
                                 const T* TINYNET_RESTRICT b__nj, T* TINYNET_RESTRICT syn__kj,
                                 T* TINYNET_RESTRICT step, idx_t n, idx_t k, idx_t j,
                                 T learning_rate) {
    if (blas::pays<T>(m.gemm, n, k, j)) {
        blas::transpose_dot(m.gemm, a__nk, b__nj, syn__kj, n, k, j, learning_rate, T(1));
        return;
    }
    if (j < kRowSweepMinColumns) {
        narrow_transpose_dot(a__nk, b__nj, n, k, j,
                             [=](idx_t i, T sum) { syn__kj[i] += learning_rate * sum; });
        return;
    }
    transpose_dot(m, a__nk, b__nj, step, n, k, j);
    for (idx_t i = 0; i < k * j; ++i) syn__kj[i] += learning_rate * step[i];
}

}  // namespace tinynet

#endif  // TINYNET_PRODUCTS_HH
