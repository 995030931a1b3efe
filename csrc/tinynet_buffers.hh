// Moving a fit's data between its buffers: the rows of a shuffled batch, the snapshot an
// epoch that fails is rolled back to, and the check that decides whether it failed.
#ifndef TINYNET_BUFFERS_HH
#define TINYNET_BUFFERS_HH

#include "tinynet_machine.hh"
#include "tinynet_platform.hh"

namespace tinynet {

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
inline bool all_finite(const Machine& m, const T* x, idx_t size) {
    return m.kernels(T()).all_finite(x, size);
}

}  // namespace tinynet

#endif  // TINYNET_BUFFERS_HH
