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

#if defined(__GNUC__)
#define TINYNET_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define TINYNET_ALWAYS_INLINE inline
#endif

// On x86-64 with GCC or clang, the vectorised code is compiled three times, for x86-64
// (SSE2), x86-64-v3 (AVX2) and x86-64-v4 (AVX-512), and a fit runs the widest its plan
// chose: wheels need not assume the build machine's CPU.
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

}  // namespace tinynet

#endif  // TINYNET_PLATFORM_HH
