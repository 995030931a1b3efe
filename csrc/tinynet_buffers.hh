// Moving a fit's data between its buffers: the rows of a shuffled batch, the snapshot an
// epoch that fails is rolled back to, and the check that decides whether it failed.
#ifndef TINYNET_BUFFERS_HH
#define TINYNET_BUFFERS_HH

#include "tinynet_machine.hh"
#include "tinynet_platform.hh"

namespace tinynet {

// dst__mc = the rows order[0], ..., order[m - 1] of src__nc. Four elements at a time: a plain
// copy loop becomes a call to memcpy per row, which cost more than the copy itself for rows
// of a few elements (a shuffled batch's targets, 20 features). The rows are scattered over
// src, often beyond the core's own cache: each is fetched kPrefetchRows rows ahead.
template <typename T>
inline void gather_rows(const T* TINYNET_RESTRICT src__nc, const idx_t* TINYNET_RESTRICT order,
                        T* TINYNET_RESTRICT dst__mc, idx_t m, idx_t c) {
    constexpr idx_t kPrefetchRows = 8;
    for (idx_t r = 0; r < m; ++r) {
#if defined(__GNUC__)
        if (r + kPrefetchRows < m) {
            const T* ahead = src__nc + order[r + kPrefetchRows] * c;
            __builtin_prefetch(ahead);
            __builtin_prefetch(ahead + c - 1);
        }
#endif
        const T* from = src__nc + order[r] * c;
        T* to = dst__mc + r * c;
        idx_t q = 0;
        for (; q + 4 <= c; q += 4) {
            const T a = from[q], b = from[q + 1], d = from[q + 2], e = from[q + 3];
            to[q] = a;
            to[q + 1] = b;
            to[q + 2] = d;
            to[q + 3] = e;
        }
        switch (c - q) {
            case 3: to[q + 2] = from[q + 2]; [[fallthrough]];
            case 2: to[q + 1] = from[q + 1]; [[fallthrough]];
            case 1: to[q] = from[q]; break;
            default: break;
        }
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
