// Matrix products through BLAS's gemm once they are big enough to pay for the call.
//
// The Cython core hands over scipy's gemm (scipy.linalg.cython_blas, callable without the
// GIL) when it loads; below `crossover` multiply-adds the kernels' own loops are faster
// (measured by benchmarks/crossover.py). BLAS is column-major: a row-major n x j matrix is,
// to it, its j x n transpose, so each row-major product C = A B is asked for as Cᵀ = Bᵀ Aᵀ.
#ifndef TINYNET_BLAS_HH
#define TINYNET_BLAS_HH

#include <climits>
#include <cstddef>

namespace tinynet {
namespace blas {

// The Fortran gemm's signature, as scipy exports it: C = alpha op(A) op(B) + beta C.
typedef void (*dgemm_t)(char* transa, char* transb, int* m, int* n, int* k, double* alpha,
                        double* a, int* lda, double* b, int* ldb, double* beta, double* c,
                        int* ldc);
typedef void (*sgemm_t)(char* transa, char* transb, int* m, int* n, int* k, float* alpha,
                        float* a, int* lda, float* b, int* ldb, float* beta, float* c,
                        int* ldc);

inline dgemm_t dgemm = nullptr;
inline sgemm_t sgemm = nullptr;

// Products of at least this many multiply-adds go to BLAS (if it was handed over): measured
// with benchmarks/crossover.py, BLAS took 0.7x the loops' time from 128 (4 x 4 x 8) on, and
// 1.4x their time at 48 (4 x 3 x 4, the XOR's first layer).
inline std::ptrdiff_t crossover = 100;

inline void call(char ta, char tb, int m, int n, int k, double alpha, const double* a, int lda,
                 const double* b, int ldb, double beta, double* c, int ldc) {
    dgemm(&ta, &tb, &m, &n, &k, &alpha, const_cast<double*>(a), &lda, const_cast<double*>(b),
          &ldb, &beta, c, &ldc);
}

inline void call(char ta, char tb, int m, int n, int k, float alpha, const float* a, int lda,
                 const float* b, int ldb, float beta, float* c, int ldc) {
    sgemm(&ta, &tb, &m, &n, &k, &alpha, const_cast<float*>(a), &lda, const_cast<float*>(b),
          &ldb, &beta, c, &ldc);
}

// Whether an n x k x j product goes to BLAS: big enough, and every size fits its int.
template <typename T>
inline bool pays(std::ptrdiff_t n, std::ptrdiff_t k, std::ptrdiff_t j) {
    const bool available = sizeof(T) == sizeof(double) ? dgemm != nullptr : sgemm != nullptr;
    return available && n * k * j >= crossover && n <= INT_MAX && k <= INT_MAX && j <= INT_MAX &&
           n * k <= INT_MAX && n * j <= INT_MAX && k * j <= INT_MAX;
}

// c__nj = a__nk . b__kj
template <typename T>
inline void dot(const T* a__nk, const T* b__kj, T* c__nj, std::ptrdiff_t n, std::ptrdiff_t k,
                std::ptrdiff_t j) {
    call('N', 'N', int(j), int(n), int(k), T(1), b__kj, int(j), a__nk, int(k), T(0), c__nj,
         int(j));
}

// c__kj = alpha * a__nkᵀ . b__nj + beta * c__kj
template <typename T>
inline void transpose_dot(const T* a__nk, const T* b__nj, T* c__kj, std::ptrdiff_t n,
                          std::ptrdiff_t k, std::ptrdiff_t j, T alpha, T beta) {
    call('N', 'T', int(j), int(k), int(n), alpha, b__nj, int(j), a__nk, int(k), beta, c__kj,
         int(j));
}

// c__nk = a__nj . b__kjᵀ
template <typename T>
inline void dot_transpose(const T* a__nj, const T* b__kj, T* c__nk, std::ptrdiff_t n,
                          std::ptrdiff_t k, std::ptrdiff_t j) {
    call('T', 'N', int(k), int(n), int(j), T(1), b__kj, int(j), a__nj, int(j), T(0), c__nk,
         int(k));
}

}  // namespace blas
}  // namespace tinynet

#endif  // TINYNET_BLAS_HH
