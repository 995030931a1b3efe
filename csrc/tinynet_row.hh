// A row of W values (a padded row of units, or one value per ensemble member) as the
// instruction set's own vectors of VB bytes, as many as it takes, with the arithmetic the
// roads use on rows. One vector type of the whole row's width would, where it is wider than
// the machine's vectors (eight doubles on AVX2), be split through memory on every operation:
// measured 7x slower than this on the small road's 3-8-1 network in float64.
#ifndef TINYNET_ROW_HH
#define TINYNET_ROW_HH

#include <cstring>

#include "tinynet_platform.hh"
#include "tinynet_vmath.hh"

namespace tinynet {

#if defined(__GNUC__)

template <typename T, int W, int VB>
struct Row {
    static constexpr int kBytes =
        VB < int(W * sizeof(T)) ? VB : int(W * sizeof(T));
    static constexpr int kParts = int(W * sizeof(T)) / kBytes;
    static constexpr int kPer = kBytes / int(sizeof(T));
    typedef T V __attribute__((vector_size(kBytes)));
    V part[kParts];

    static TINYNET_ALWAYS_INLINE Row zero() {
        Row r;
        for (int h = 0; h < kParts; ++h) r.part[h] = V{};
        return r;
    }
    // a in every lane (a - 0 keeps the sign of a zero).
    static TINYNET_ALWAYS_INLINE Row all(T a) {
        Row r;
        for (int h = 0; h < kParts; ++h) r.part[h] = a - V{};
        return r;
    }
    // A vector at a time: one copy of the whole array would be split into smaller moves.
    static TINYNET_ALWAYS_INLINE Row load(const T* row) {
        Row r;
        for (int h = 0; h < kParts; ++h) {
            V v;
            std::memcpy(&v, row + h * kPer, sizeof v);
            r.part[h] = v;
        }
        return r;
    }
    TINYNET_ALWAYS_INLINE void store(T* row) const {
        for (int h = 0; h < kParts; ++h) {
            const V v = part[h];
            std::memcpy(row + h * kPer, &v, sizeof v);
        }
    }

    // f(part) for each part: f maps a vector to a vector.
    template <typename F>
    TINYNET_ALWAYS_INLINE Row map(F f) const {
        Row r;
        for (int h = 0; h < kParts; ++h) r.part[h] = f(part[h]);
        return r;
    }
    // Each operator part by part, in plain loops the compiler unrolls.
    TINYNET_ALWAYS_INLINE Row operator+(const Row& b) const {
        Row r;
        for (int h = 0; h < kParts; ++h) r.part[h] = part[h] + b.part[h];
        return r;
    }
    TINYNET_ALWAYS_INLINE Row operator-(const Row& b) const {
        Row r;
        for (int h = 0; h < kParts; ++h) r.part[h] = part[h] - b.part[h];
        return r;
    }
    TINYNET_ALWAYS_INLINE Row operator*(const Row& b) const {
        Row r;
        for (int h = 0; h < kParts; ++h) r.part[h] = part[h] * b.part[h];
        return r;
    }
    TINYNET_ALWAYS_INLINE Row& operator+=(const Row& b) {
        for (int h = 0; h < kParts; ++h) part[h] += b.part[h];
        return *this;
    }
    TINYNET_ALWAYS_INLINE Row& operator-=(const Row& b) {
        for (int h = 0; h < kParts; ++h) part[h] -= b.part[h];
        return *this;
    }
    // a * row and a - row, for a value a shared by the lanes.
    friend TINYNET_ALWAYS_INLINE Row operator*(T a, const Row& b) {
        Row r;
        for (int h = 0; h < kParts; ++h) r.part[h] = a * b.part[h];
        return r;
    }
    friend TINYNET_ALWAYS_INLINE Row operator-(T a, const Row& b) {
        Row r;
        for (int h = 0; h < kParts; ++h) r.part[h] = a - b.part[h];
        return r;
    }
    // Lane by lane: a where this row is not zero, b where it is.
    TINYNET_ALWAYS_INLINE Row where_nonzero(const Row& a, const Row& b) const {
        Row r;
        for (int h = 0; h < kParts; ++h) r.part[h] = part[h] != T(0) ? a.part[h] : b.part[h];
        return r;
    }
    TINYNET_ALWAYS_INLINE T operator[](int m) const { return part[m / kPer][m % kPer]; }

    // The lanes' bits, to select lanes with: all ones in the first `units` lanes, zeros in
    // the others.
    typedef typename vmath::Format<T>::Bits B;
    typedef B MaskPart __attribute__((vector_size(kBytes)));
    struct Mask {
        MaskPart part[kParts];
    };
    static TINYNET_ALWAYS_INLINE Mask first_lanes(idx_t units) {
        Mask mask;
        for (int h = 0; h < kParts; ++h)
            for (int q = 0; q < kPer; ++q) mask.part[h][q] = h * kPer + q < units ? ~B(0) : B(0);
        return mask;
    }

    // This row in the lanes of `mask`, zero in the others: a selection, not a product by 1s
    // and 0s, which the compiler could fuse into a multiply-add where another road has none.
    TINYNET_ALWAYS_INLINE Row keep(const Mask& mask) const {
        Row kept;
        for (int h = 0; h < kParts; ++h) {
            MaskPart bits;
            std::memcpy(&bits, &part[h], sizeof bits);
            bits &= mask.part[h];
            std::memcpy(&kept.part[h], &bits, sizeof bits);
        }
        return kept;
    }
};

#endif  // __GNUC__

}  // namespace tinynet

#endif  // TINYNET_ROW_HH
