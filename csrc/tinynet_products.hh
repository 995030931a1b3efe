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

// The products below the crossover, in the kernels' loops: each compiled once per
// instruction set (run_on), so that each multiply-add is fused, or not, as on the small
// networks' road in the same set.

// c__nj = a__nk . b__kj, each sum taken in index order over k.
struct DotLoops {
    template <typename T>
    static TINYNET_ALWAYS_INLINE void run(const T* TINYNET_RESTRICT a__nk,
                                          const T* TINYNET_RESTRICT b__kj,
                                          T* TINYNET_RESTRICT c__nj, idx_t n, idx_t k, idx_t j) {
        if (j < kRowSweepMinColumns) {
            for (idx_t r = 0; r < n; ++r) {
                const T* a = a__nk + r * k;
                for (idx_t q = 0; q < j; ++q) {
                    T sum = T(0);
                    for (idx_t p = 0; p < k; ++p)
                        sum = TINYNET_RUNNING_SUM(sum + a[p] * b__kj[p * j + q]);
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
};

// The sums of a__nkᵀ . b__nj for narrow products, each taken in index order over n in a
// register: c__kj = the sums, or with Update, c__kj += learning_rate * the sums.
template <bool Update, typename T>
TINYNET_ALWAYS_INLINE void narrow_transpose_dot(const T* TINYNET_RESTRICT a__nk,
                                                const T* TINYNET_RESTRICT b__nj,
                                                T* TINYNET_RESTRICT c__kj, idx_t n, idx_t k,
                                                idx_t j, T learning_rate) {
    for (idx_t p = 0; p < k; ++p) {
        for (idx_t q = 0; q < j; ++q) {
            T sum = T(0);
            for (idx_t r = 0; r < n; ++r)
                sum = TINYNET_RUNNING_SUM(sum + a__nk[r * k + p] * b__nj[r * j + q]);
            if (Update)
                c__kj[p * j + q] += learning_rate * sum;
            else
                c__kj[p * j + q] = sum;
        }
    }
}

// c__kj = a__nkᵀ . b__nj, each sum taken in index order over n.
struct TransposeDotLoops {
    template <typename T>
    static TINYNET_ALWAYS_INLINE void run(const T* TINYNET_RESTRICT a__nk,
                                          const T* TINYNET_RESTRICT b__nj,
                                          T* TINYNET_RESTRICT c__kj, idx_t n, idx_t k, idx_t j) {
        if (j < kRowSweepMinColumns) {
            narrow_transpose_dot<false>(a__nk, b__nj, c__kj, n, k, j, T(0));
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
};

// syn__kj += learning_rate * (a__nkᵀ . b__nj), the sums as in TransposeDotLoops. Narrow
// synapses add each sum straight from its register; wide ones go through `step` (k * j
// elements), so the results are the same either way.
struct TransposeDotUpdateLoops {
    template <typename T>
    static TINYNET_ALWAYS_INLINE void run(const T* TINYNET_RESTRICT a__nk,
                                          const T* TINYNET_RESTRICT b__nj,
                                          T* TINYNET_RESTRICT syn__kj, T* TINYNET_RESTRICT step,
                                          idx_t n, idx_t k, idx_t j, T learning_rate) {
        if (j < kRowSweepMinColumns) {
            narrow_transpose_dot<true>(a__nk, b__nj, syn__kj, n, k, j, learning_rate);
            return;
        }
        TransposeDotLoops::run(a__nk, b__nj, step, n, k, j);
        for (idx_t i = 0; i < k * j; ++i) syn__kj[i] += learning_rate * step[i];
    }
};

// c__nj = a__nk . b__kj, each sum taken in index order over k (below the crossover).
template <typename T>
inline void dot(const Machine& m, const T* a__nk, const T* b__kj, T* c__nj, idx_t n, idx_t k,
                idx_t j) {
    if (blas::pays<T>(m.gemm, n, k, j)) {
        blas::dot(m.gemm, a__nk, b__kj, c__nj, n, k, j);
        return;
    }
    run_on<DotLoops>(m.isa, a__nk, b__kj, c__nj, n, k, j);
}

// c__kj = a__nkᵀ . b__nj, each sum taken in index order over n (below the crossover).
template <typename T>
inline void transpose_dot(const Machine& m, const T* a__nk, const T* b__nj, T* c__kj, idx_t n,
                          idx_t k, idx_t j) {
    if (blas::pays<T>(m.gemm, n, k, j)) {
        blas::transpose_dot(m.gemm, a__nk, b__nj, c__kj, n, k, j, T(1), T(0));
        return;
    }
    run_on<TransposeDotLoops>(m.isa, a__nk, b__nj, c__kj, n, k, j);
}

// syn__kj += learning_rate * (a__nkᵀ . b__nj): the blog's update, `step` (k * j elements)
// scratch. (The same as Sgd's rule without momentum or decay, tinynet_optimizer.hh; BLAS
// fuses it.)
template <typename T>
inline void transpose_dot_update(const Machine& m, const T* a__nk, const T* b__nj, T* syn__kj,
                                 T* step, idx_t n, idx_t k, idx_t j, T learning_rate) {
    if (blas::pays<T>(m.gemm, n, k, j)) {
        blas::transpose_dot(m.gemm, a__nk, b__nj, syn__kj, n, k, j, learning_rate, T(1));
        return;
    }
    run_on<TransposeDotUpdateLoops>(m.isa, a__nk, b__nj, syn__kj, step, n, k, j,
                                    learning_rate);
}

}  // namespace tinynet

#endif  // TINYNET_PRODUCTS_HH
