// SGEMM for the CPU engine: OpenBLAS runs single-threaded inside salient's own
// OpenMP workers (its thread pool is pinned to one thread when the library
// loads, see runtime.cpp). One pool of threads for everything avoids two
// spinning pools fighting over the same cores.
#pragma once
#include <cblas.h>
#include <cstdint>

namespace salient {

// Row-major C = alpha * op(A) op(B) + beta * C, split into blocks of rows or
// columns of C over the OpenMP threads (each block one single-threaded sgemm).
// Serial when the product is small or when called inside a parallel region.
void sgemm_parallel(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                    const float* b, int ldb, float beta, float* c, int ldc);

// Single-threaded sgemm in the calling thread.
inline void sgemm_serial(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                         const float* b, int ldb, float beta, float* c, int ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace salient
