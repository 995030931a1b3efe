// Matrix products through BLAS's gemm once they are big enough to pay for the call.
//
// A fit's plan chooses the library (tinynet/_plan.py): the ILP64 OpenBLAS numpy's wheel
// bundles, as numpy's own products use it, if the Cython core found one when it loaded, else
// scipy's (scipy.linalg.cython_blas); both are callable without the GIL. Below `crossover`
// multiply-adds the kernels' own loops are faster (measured by tinynet.bench.crossover).
// BLAS is column-major: a row-major n x j matrix is, to it, its j x n transpose, so each
// row-major product C = A B is asked for as Cᵀ = Bᵀ Aᵀ.
#ifndef TINYNET_BLAS_HH
#define TINYNET_BLAS_HH

#include <climits>
#include <cstddef>
#include <cstdint>

namespace tinynet {
namespace blas {

// The Fortran gemm's signature, as scipy exports it: C = alpha op(A) op(B) + beta C.
typedef void (*dgemm_t)(char* transa, char* transb, int* m, int* n, int* k, double* alpha,
                        double* a, int* lda, double* b, int* ldb, double* beta, double* c,
                        int* ldc);
typedef void (*sgemm_t)(char* transa, char* transb, int* m, int* n, int* k, float* alpha,
                        float* a, int* lda, float* b, int* ldb, float* beta, float* c,
                        int* ldc);

// The same with 64-bit integers (an ILP64 BLAS, such as the one numpy bundles).
typedef void (*dgemm64_t)(char* transa, char* transb, std::int64_t* m, std::int64_t* n,
                          std::int64_t* k, double* alpha, double* a, std::int64_t* lda, double* b,
                          std::int64_t* ldb, double* beta, double* c, std::int64_t* ldc);
typedef void (*sgemm64_t)(char* transa, char* transb, std::int64_t* m, std::int64_t* n,
                          std::int64_t* k, float* alpha, float* a, std::int64_t* lda, float* b,
                          std::int64_t* ldb, float* beta, float* c, std::int64_t* ldc);

// Products of at least this many multiply-adds go to BLAS by default: measured with
// tinynet.bench.crossover, BLAS took 0.7x the loops' time from 128 (4 x 4 x 8) on, and 1.4x
// their time at 48 (4 x 3 x 4, the XOR's first layer).
constexpr std::ptrdiff_t kDefaultCrossover = 100;

// One fit's BLAS: the 32-bit pair, or, when set (both), the 64-bit pair, which is then
// used; and the size from which a product goes to it.
struct Gemm {
    dgemm_t dgemm = nullptr;
    sgemm_t sgemm = nullptr;
    dgemm64_t dgemm64 = nullptr;
    sgemm64_t sgemm64 = nullptr;
    std::ptrdiff_t crossover = kDefaultCrossover;
};

// gemm through whichever pair is set, with the integers its interface takes.
template <typename T, typename Gemm32, typename Gemm64>
inline void call_either(Gemm32 gemm, Gemm64 gemm64, char ta, char tb, int m, int n, int k,
                        T alpha, const T* a, int lda, const T* b, int ldb, T beta, T* c,
                        int ldc) {
    if (gemm64) {
        std::int64_t m64 = m, n64 = n, k64 = k, lda64 = lda, ldb64 = ldb, ldc64 = ldc;
        gemm64(&ta, &tb, &m64, &n64, &k64, &alpha, const_cast<T*>(a), &lda64, const_cast<T*>(b),
               &ldb64, &beta, c, &ldc64);
    } else {
        gemm(&ta, &tb, &m, &n, &k, &alpha, const_cast<T*>(a), &lda, const_cast<T*>(b), &ldb,
             &beta, c, &ldc);
    }
}

inline void call(const Gemm& g, char ta, char tb, int m, int n, int k, double alpha,
                 const double* a, int lda, const double* b, int ldb, double beta, double* c,
                 int ldc) {
    call_either(g.dgemm, g.dgemm64, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

inline void call(const Gemm& g, char ta, char tb, int m, int n, int k, float alpha,
                 const float* a, int lda, const float* b, int ldb, float beta, float* c,
                 int ldc) {
    call_either(g.sgemm, g.sgemm64, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Whether an n x k x j product goes to BLAS: big enough, and every size fits an int.
template <typename T>
inline bool pays(const Gemm& g, std::ptrdiff_t n, std::ptrdiff_t k, std::ptrdiff_t j) {
    const bool available =
        sizeof(T) == sizeof(double) ? (g.dgemm || g.dgemm64) : (g.sgemm || g.sgemm64);
    return available && n * k * j >= g.crossover && n <= INT_MAX && k <= INT_MAX &&
           j <= INT_MAX && n * k <= INT_MAX && n * j <= INT_MAX && k * j <= INT_MAX;
}

// c__nj = a__nk . b__kj
template <typename T>
inline void dot(const Gemm& g, const T* a__nk, const T* b__kj, T* c__nj, std::ptrdiff_t n,
                std::ptrdiff_t k, std::ptrdiff_t j) {
    call(g, 'N', 'N', int(j), int(n), int(k), T(1), b__kj, int(j), a__nk, int(k), T(0), c__nj,
         int(j));
}

// c__kj = alpha * a__nkᵀ . b__nj + beta * c__kj
template <typename T>
inline void transpose_dot(const Gemm& g, const T* a__nk, const T* b__nj, T* c__kj,
                          std::ptrdiff_t n, std::ptrdiff_t k, std::ptrdiff_t j, T alpha,
                          T beta) {
    call(g, 'N', 'T', int(j), int(k), int(n), alpha, b__nj, int(j), a__nk, int(k), beta, c__kj,
         int(j));
}

// c__nk = a__nj . b__kjᵀ
template <typename T>
inline void dot_transpose(const Gemm& g, const T* a__nj, const T* b__kj, T* c__nk,
                          std::ptrdiff_t n, std::ptrdiff_t k, std::ptrdiff_t j) {
    call(g, 'T', 'N', int(k), int(n), int(j), T(1), b__kj, int(j), a__nj, int(j), T(0), c__nk,
         int(k));
}

}  // namespace blas
}  // namespace tinynet

#endif  // TINYNET_BLAS_HH
