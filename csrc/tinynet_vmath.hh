// Vectorisable exp, sigmoid and tanh over arrays, within a few ulp of the correctly rounded
// results, and the check for non-finite values, in one table of kernels per instruction set.
//
// libm's exp is a scalar call (~3.5 ns here); these are branch-free polynomials the compiler
// vectorises, ~1 ns or less per element. Each array kernel is compiled three times, for
// x86-64 (SSE2), x86-64-v3 (AVX2) and x86-64-v4 (AVX-512) (tinynet_platform.hh), and each
// fit's Machine holds the table of the one its plan chose. The build lets the compiler fuse
// multiply-adds, as v3 and v4 do and SSE2 cannot: those two give identical results, the
// baseline results within a few ulp of theirs. The small networks' road inlines the same
// functions (exp_value, sigmoid_value, tanh_value) into its epoch, compiled for the same set,
// and fuses the same multiply-adds.
#ifndef TINYNET_VMATH_HH
#define TINYNET_VMATH_HH

#include <cmath>
#include <cstdint>
#include <cstring>

#include "tinynet_platform.hh"

namespace tinynet {
namespace vmath {

// What exp and expm1 need to know of each format: its bits' integer type, the width of
// its mantissa and the bias of its exponent, the constants of the reduction below, and where
// exp and expm1 saturate. kScaleOffset is the bias exp_value adds to n so that n + bias >= 0
// after its clamp.
template <typename T>
struct Format;

template <>
struct Format<double> {
    using Bits = std::uint64_t;
    static constexpr int kMantissaBits = 52;
    static constexpr Bits kExponentBias = 1023, kScaleOffset = 1076;
    static constexpr double kShift = 0x1.8p52, kInvLn2 = 0x1.71547652b82fep0;
    static constexpr double kLn2Hi = 0x1.62e42fee00000p-1, kLn2Lo = 0x1.a39ef35793c76p-33;
    // Below -746 exp rounds to 0, above 710 to inf; below -40 expm1 rounds to -1.
    static constexpr double kExpLow = -746.0, kExpHigh = 710.0, kExpm1Low = -40.0;
};

template <>
struct Format<float> {
    using Bits = std::uint32_t;
    static constexpr int kMantissaBits = 23;
    static constexpr Bits kExponentBias = 127, kScaleOffset = 150;
    static constexpr float kShift = 0x1.8p23f, kInvLn2 = 0x1.715476p0f;
    static constexpr float kLn2Hi = 0x1.62e400p-1f, kLn2Lo = 0x1.7f7d1cp-20f;
    static constexpr float kExpLow = -104.0f, kExpHigh = 89.0f, kExpm1Low = -20.0f;
};

template <typename T>
TINYNET_ALWAYS_INLINE typename Format<T>::Bits bits(T x) {
    typename Format<T>::Bits u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}

template <typename T>
TINYNET_ALWAYS_INLINE T from_bits(typename Format<T>::Bits u) {
    T x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

// 2^e for the biased exponent e (a normal number for e in [1, 2 * bias]).
template <typename T>
TINYNET_ALWAYS_INLINE T power_of_two(typename Format<T>::Bits biased_exponent) {
    return from_bits<T>(biased_exponent << Format<T>::kMantissaBits);
}

// x = n ln 2 + r, n = round(x / ln 2), r in [-ln2/2, ln2/2] (Cody and Waite: ln 2 in two
// parts, the first with trailing zeros so that n * hi is exact). Adding 1.5 * 2^52 (float:
// 2^23) rounds x / ln 2 to an integer and leaves n in the low bits of n_bits, so the whole
// evaluation is arithmetic and bit operations, without branches or conversions. Returns r;
// n is n_bits - bits(kShift), as an unsigned integer (wrapping below 0).
template <typename T>
TINYNET_ALWAYS_INLINE T reduce(T x, typename Format<T>::Bits& n_bits) {
    using F = Format<T>;
    T n = x * F::kInvLn2 + F::kShift;
    n_bits = bits(n);
    n -= F::kShift;
    return (x - n * F::kLn2Hi) - n * F::kLn2Lo;
}

// expm1(r) for r in [-ln2/2, ln2/2], as r + r^2 p(r), from its Taylor series to r^13
// (error < 0.04 ulp on the interval). p is evaluated by Estrin's scheme, in pairs of terms
// joined by r^2, r^4 and r^8: a dependency chain of 4 multiply-adds where Horner's has 11,
// which matters when a small network's epoch waits on each layer's sigmoid.
TINYNET_ALWAYS_INLINE double expm1_reduced(double r) {
    const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const double p01 = 0.5 + r * (1.0 / 6.0), p23 = 1.0 / 24.0 + r * (1.0 / 120.0);
    const double p45 = 1.0 / 720.0 + r * (1.0 / 5040.0);
    const double p67 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    const double p89 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
    const double p1011 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
    const double p = (p01 + r2 * p23) + r4 * (p45 + r2 * p67) + r8 * (p89 + r2 * p1011);
    return r + r * (r * p);
}

// The same to r^7 for float (error < 0.05 ulp of float on the interval).
TINYNET_ALWAYS_INLINE float expm1_reduced(float r) {
    const float r2 = r * r, r4 = r2 * r2;
    const float p01 = 0.5f + r * (1.0f / 6.0f), p23 = 1.0f / 24.0f + r * (1.0f / 120.0f);
    const float p45 = 1.0f / 720.0f + r * (1.0f / 5040.0f);
    const float p = (p01 + r2 * p23) + r4 * p45;
    return r + r * (r * p);
}

// exp(x) = 2^n (1 + expm1(r)). 2^n is applied as two factors 2^h and 2^(n - h), each a
// normal number, so that results near the overflow and in the subnormal range are rounded
// once, like the rest.
template <typename T>
TINYNET_ALWAYS_INLINE T exp_value(T x) {
    using F = Format<T>;
    using Bits = typename F::Bits;
    // Clamped to where exp saturates; NaN passes the tests unchanged. (Two chained clamps
    // would be compiled as branches, which SSE2 code cannot vectorise.)
    const T low = x < F::kExpLow ? F::kExpLow : x, high = x > F::kExpHigh ? F::kExpHigh : x;
    x = x < T(0) ? low : high;
    Bits n_bits;
    const T p = T(1) + expm1_reduced(reduce(x, n_bits));
    // u = n + offset >= 0 after the clamp; h = floor(u / 2) - offset / 2.
    const Bits u = n_bits - (bits(F::kShift) - F::kScaleOffset);
    const Bits half = u >> 1;
    const Bits bias = F::kExponentBias - F::kScaleOffset / 2;
    return (p * power_of_two<T>(half + bias)) * power_of_two<T>(u - half + bias);
}

// 1 / (1 + exp(-x)) from exp(-|x|), which never overflows: for x < 0 it is
// exp(x) / (1 + exp(x)), the same value without the infinity.
template <typename T>
TINYNET_ALWAYS_INLINE T sigmoid_value(T x) {
    const T z = exp_value(-std::fabs(x));
    return (x >= T(0) ? T(1) : z) / (T(1) + z);
}

// expm1(z) for z <= 0 down to the point where it rounds to -1: 2^n expm1(r) + (2^n - 1),
// accurate to the last bits for small z (n = 0, r = z).
template <typename T>
TINYNET_ALWAYS_INLINE T expm1_nonpositive(T z) {
    using F = Format<T>;
    // The clamp is written like exp_value's: a plain one lets the compiler fold the clamped
    // branch to a constant, a branch SSE2 cannot vectorise.
    const T low = z < F::kExpm1Low ? F::kExpm1Low : z;
    z = z < T(0) ? low : z;
    typename F::Bits n_bits;
    const T expm1_r = expm1_reduced(reduce(z, n_bits));
    // 2^n with n in [-58, 0] (float: [-29, 0]): a normal number.
    const T scale = power_of_two<T>(n_bits - bits(F::kShift) + F::kExponentBias);
    return scale * expm1_r + (scale - T(1));
}

// tanh(x) = sign(x) * -t / (2 + t), t = expm1(-2|x|): no cancellation near 0, no overflow.
template <typename T>
TINYNET_ALWAYS_INLINE T tanh_value(T x) {
    const T t = expm1_nonpositive(T(-2) * std::fabs(x));
    return std::copysign(-t / (T(2) + t), x);
}

// The array kernels, each written once as a loop the compiler vectorises. They work in
// place: with separate input and output arrays the compiler would add a run-time overlap
// test, which an in-place call fails, and fall back to its scalar loop.
template <typename T>
TINYNET_ALWAYS_INLINE void exp_loop(T* x, std::ptrdiff_t size) {
    for (std::ptrdiff_t i = 0; i < size; ++i) x[i] = exp_value(x[i]);
}
template <typename T>
TINYNET_ALWAYS_INLINE void sigmoid_loop(T* x, std::ptrdiff_t size) {
    for (std::ptrdiff_t i = 0; i < size; ++i) x[i] = sigmoid_value(x[i]);
}
template <typename T>
TINYNET_ALWAYS_INLINE void tanh_loop(T* x, std::ptrdiff_t size) {
    for (std::ptrdiff_t i = 0; i < size; ++i) x[i] = tanh_value(x[i]);
}

// Whether no element is NaN or infinite, i.e. no exponent field is all ones: integer
// operations, so that the loop vectorises (a sum of floats would be kept in order).
template <typename T>
TINYNET_ALWAYS_INLINE bool finite_loop(const T* x, std::ptrdiff_t size) {
    using Bits = typename Format<T>::Bits;
    constexpr int kExponentBits = int(sizeof(T)) * 8 - 1 - Format<T>::kMantissaBits;
    constexpr Bits kExponent = ((Bits(1) << kExponentBits) - 1) << Format<T>::kMantissaBits;
    Bits non_finite = 0;
    for (std::ptrdiff_t i = 0; i < size; ++i) non_finite |= (bits(x[i]) & kExponent) == kExponent;
    return non_finite == 0;
}

// One table of the array kernels per dtype, each x = f(x) over `size` elements, and the
// check for non-finite values.
template <typename T>
struct Kernels {
    void (*exp)(T* x, std::ptrdiff_t size);
    void (*sigmoid)(T* x, std::ptrdiff_t size);
    void (*tanh)(T* x, std::ptrdiff_t size);
    bool (*all_finite)(const T* x, std::ptrdiff_t size);
};

// Kernels<T> compiled for one instruction set; TARGET is empty or a target attribute.
#define TINYNET_VMATH_KERNELS(NAME, TARGET)                                                  \
    template <typename T>                                                                    \
    struct NAME {                                                                            \
        TARGET static void exp(T* x, std::ptrdiff_t size) { exp_loop(x, size); }             \
        TARGET static void sigmoid(T* x, std::ptrdiff_t size) { sigmoid_loop(x, size); }     \
        TARGET static void tanh(T* x, std::ptrdiff_t size) { tanh_loop(x, size); }           \
        TARGET static bool all_finite(const T* x, std::ptrdiff_t size) {                     \
            return finite_loop(x, size);                                                     \
        }                                                                                    \
        static constexpr Kernels<T> table() {                                                \
            return {&NAME::exp, &NAME::sigmoid, &NAME::tanh, &NAME::all_finite};             \
        }                                                                                    \
    };

TINYNET_VMATH_KERNELS(Baseline, )
#if TINYNET_X86_DISPATCH
TINYNET_VMATH_KERNELS(X86V3, TINYNET_TARGET_V3)
TINYNET_VMATH_KERNELS(X86V4, TINYNET_TARGET_V4)
#endif
#undef TINYNET_VMATH_KERNELS

// The kernels compiled for `isa` (which the CPU must run).
template <typename T>
inline Kernels<T> kernels_for(Isa isa) {
#if TINYNET_X86_DISPATCH
    if (isa == kX86V4) return X86V4<T>::table();
    if (isa == kX86V3) return X86V3<T>::table();
#endif
    (void)isa;
    return Baseline<T>::table();
}

}  // namespace vmath
}  // namespace tinynet

#endif  // TINYNET_VMATH_HH
