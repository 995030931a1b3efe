// What every kernel header needs of the compiler and the CPU: the index type, restrict and
// always-inline, and the instruction sets the vectorised code is compiled for, with the
// widest one this CPU runs.
#ifndef TINYNET_PLATFORM_HH
#define TINYNET_PLATFORM_HH

#include <cstddef>

#if defined(_MSC_VER)
#define TINYNET_RESTRICT __restrict
#else
#define TINYNET_RESTRICT __restrict__
#endif

// TINYNET_INLINE_LAMBDA, between a lambda's parameters and its body, inlines it likewise.
#if defined(__GNUC__)
#define TINYNET_ALWAYS_INLINE inline __attribute__((always_inline))
#define TINYNET_INLINE_LAMBDA __attribute__((always_inline))
#else
#define TINYNET_ALWAYS_INLINE inline
#define TINYNET_INLINE_LAMBDA
#endif

// On x86-64 with GCC or clang, the kernels are compiled three times, for x86-64 (SSE2),
// x86-64-v3 (AVX2 and FMA) and x86-64-v4 (AVX-512), and a fit runs the widest its plan
// chose: wheels need not assume the build machine's CPU. The build lets the compiler contract
// a * b + c into a fused multiply-add (setup.py), which v3 and v4 have and SSE2 has not: the
// same kernel may round differently in SSE2 than in the other two.
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(_M_X64))
#define TINYNET_X86_DISPATCH 1
#define TINYNET_TARGET_V3 __attribute__((target("arch=x86-64-v3")))
#define TINYNET_TARGET_V4 __attribute__((target("arch=x86-64-v4,prefer-vector-width=512")))
#else
#define TINYNET_X86_DISPATCH 0
#endif

#if defined(__GNUC__) && !defined(__clang__)
// Vectors of lanes (the small networks' road) are passed by reference or inlined, so none
// crosses a function's ABI: GCC's notes on vector ABIs, issued where the per-unit templates are
// instantiated, are beside the point.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

// A running sum's next value, `expression` (the sum plus or minus a product), left a scalar
// addition: a loop that only adds to one sum is otherwise vectorised by GCC as an in-order
// reduction, its products computed apart and added one by one, never fused, and the terms
// left to the loop's remainder fused, so that which terms round twice would depend on the
// loop's length and the vector width. Every running sum of products in the kernels goes
// through it, so that each of its multiply-adds is fused where the instruction set has them,
// as in the roads' sums of vectors. (GCC's barrier keeps the reduction from being recognised;
// before GCC 12, an empty asm on the sum's register does.)
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define TINYNET_RUNNING_SUM(expression) __builtin_assoc_barrier(expression)
#elif defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__aarch64__))
#if defined(__x86_64__)
#define TINYNET_SUM_REGISTER "+x"
#else
#define TINYNET_SUM_REGISTER "+w"
#endif
#define TINYNET_RUNNING_SUM(expression)                    \
    __extension__({                                        \
        auto tinynet_sum_ = (expression);                  \
        __asm__("" : TINYNET_SUM_REGISTER(tinynet_sum_));  \
        tinynet_sum_;                                      \
    })
#else
#define TINYNET_RUNNING_SUM(expression) (expression)
#endif

namespace tinynet {

typedef std::ptrdiff_t idx_t;

// Instruction sets, widest last.
enum Isa { kBaseline = 0, kX86V3 = 1, kX86V4 = 2 };

// The widest instruction set this CPU runs.
inline Isa best_isa() {
#if TINYNET_X86_DISPATCH
    // Feature by feature: the level names ("x86-64-v3") need GCC 12 or LLVM 18.
    __builtin_cpu_init();
    const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("avx");
    const bool v4 = v3 && __builtin_cpu_supports("avx512f") &&
                    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
                    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    if (v4) return kX86V4;
    if (v3) return kX86V3;
#endif
    return kBaseline;
}

// A kernel compiled once per instruction set: Kernel::run(args...) inlined into a function
// of each set's, run_on(isa, args...) calling the one for `isa` (which the CPU must run).
// Every road of a fit must compute alike in its instruction set, so each kernel's arithmetic
// is inlined into these functions: Kernel::run, and everything it calls that computes, is
// TINYNET_ALWAYS_INLINE (a function left out of line would be compiled for SSE2 alone, and
// round without fused multiply-adds where the other roads fuse them).
#define TINYNET_ISA_RUNNER(NAME, TARGET)                                                      \
    struct NAME {                                                                             \
        template <typename Kernel, typename... Args>                                          \
        TARGET static auto run(Args&&... args) {                                              \
            return Kernel::run(static_cast<Args&&>(args)...);                                 \
        }                                                                                     \
    };

TINYNET_ISA_RUNNER(OnBaseline, )
#if TINYNET_X86_DISPATCH
TINYNET_ISA_RUNNER(OnX86V3, TINYNET_TARGET_V3)
TINYNET_ISA_RUNNER(OnX86V4, TINYNET_TARGET_V4)
#endif
#undef TINYNET_ISA_RUNNER

template <typename Kernel, typename... Args>
inline auto run_on(Isa isa, Args&&... args) {
#if TINYNET_X86_DISPATCH
    if (isa == kX86V4) return OnX86V4::run<Kernel>(static_cast<Args&&>(args)...);
    if (isa == kX86V3) return OnX86V3::run<Kernel>(static_cast<Args&&>(args)...);
#endif
    (void)isa;
    return OnBaseline::run<Kernel>(static_cast<Args&&>(args)...);
}

}  // namespace tinynet

#endif  // TINYNET_PLATFORM_HH
