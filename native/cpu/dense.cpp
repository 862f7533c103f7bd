// Dense products on OpenBLAS: ONNX Gemm and numpy/ONNX MatMul.
//
//   gemm:   y = alpha * op(a) op(b) + beta * c,  c broadcast from (c_rows, c_cols) to (m, n)
//   matmul: y[i...] = a[i...] @ b[i...] with numpy batch broadcasting
//
// FLOPs: 2*m*n*k per product.
#include <climits>
#include <vector>
#include <omp.h>
#include "blas.h"
#include "common.h"

namespace {
constexpr int64_t kBlasMax = INT_MAX;
}

extern "C" int gemm_cpu(const float* a, const float* b, const float* c, int64_t c_rows, int64_t c_cols, float* y,
                        int64_t m, int64_t n, int64_t k, int trans_a, int trans_b, float alpha, float beta) {
    SALIENT_CHECK_PTR(a);
    SALIENT_CHECK_PTR(b);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(m >= 0 && n >= 0 && k >= 0, "gemm_cpu: negative size (m=%lld n=%lld k=%lld)", (long long)m,
                  (long long)n, (long long)k);
    SALIENT_CHECK(m < kBlasMax && n < kBlasMax && k < kBlasMax, "gemm_cpu: sizes exceed BLAS ints");
    SALIENT_CHECK(c == nullptr || ((c_rows == 1 || c_rows == m) && (c_cols == 1 || c_cols == n)),
                  "gemm_cpu: c of (%lld,%lld) does not broadcast to (%lld,%lld)", (long long)c_rows,
                  (long long)c_cols, (long long)m, (long long)n);
    // a: (m,k) or (k,m), b: (k,n) or (n,k), c: (c_rows,c_cols), y: (m,n)
    if (m == 0 || n == 0) return SALIENT_OK;
    const bool use_c = c != nullptr && beta != 0.f;
    // y = alpha * (the product's chain from 0), then + beta * c, as the CUDA kernel computes it
    salient::sgemm_parallel(trans_a, trans_b, (int)m, (int)n, (int)k, alpha, a, trans_a ? (int)m : (int)k, b,
                            trans_b ? (int)k : (int)n, 0.f, y, (int)n);
    if (use_c) {
#pragma omp parallel for schedule(static) if (m * n > 65536)
        for (int64_t i = 0; i < m; i++) {
            const float* cr = c + (c_rows == 1 ? 0 : i) * c_cols;
            float* yr = y + i * n;
            if (c_cols == 1)
                for (int64_t j = 0; j < n; j++) yr[j] = yr[j] + beta * cr[0];
            else
                for (int64_t j = 0; j < n; j++) yr[j] = yr[j] + beta * cr[j];
        }
    }
    return SALIENT_OK;
}

extern "C" int matmul_cpu(const float* a, const int64_t* a_batch, const float* b, const int64_t* b_batch,
                          int batch_rank, float* y, int64_t m, int64_t n, int64_t k) {
    SALIENT_CHECK_PTR(a);
    SALIENT_CHECK_PTR(b);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(batch_rank >= 0 && batch_rank <= SALIENT_MAX_RANK, "matmul_cpu: batch rank %d outside [0, %d]",
                  batch_rank, SALIENT_MAX_RANK);
    SALIENT_CHECK(batch_rank == 0 || (a_batch != nullptr && b_batch != nullptr), "matmul_cpu: batch shape is null");
    SALIENT_CHECK(m >= 0 && n >= 0 && k >= 0, "matmul_cpu: negative size");
    SALIENT_CHECK(m < kBlasMax && n < kBlasMax && k < kBlasMax, "matmul_cpu: sizes exceed BLAS ints");
    // a: (a_batch..., m, k), b: (b_batch..., k, n), y: (broadcast batch..., m, n)
    int64_t out[SALIENT_MAX_RANK], sa[SALIENT_MAX_RANK], sb[SALIENT_MAX_RANK];
    int64_t batch = 1, a_count = 1, b_count = 1;
    for (int d = 0; d < batch_rank; d++) {
        SALIENT_CHECK(a_batch[d] >= 0 && b_batch[d] >= 0, "matmul_cpu: negative batch dim");
        SALIENT_CHECK(a_batch[d] == b_batch[d] || a_batch[d] == 1 || b_batch[d] == 1,
                      "matmul_cpu: batch dims %lld and %lld do not broadcast (axis %d)", (long long)a_batch[d],
                      (long long)b_batch[d], d);
        out[d] = a_batch[d] == 1 ? b_batch[d] : a_batch[d];
        batch *= out[d];
        a_count *= a_batch[d];
        b_count *= b_batch[d];
    }
    if (batch == 0 || m == 0 || n == 0) return SALIENT_OK;
    if (k == 0) {
        for (int64_t i = 0; i < batch * m * n; i++) y[i] = 0.f;
        return SALIENT_OK;
    }
    // b shared by every batch: one tall product (a_count*m, k) @ (k, n)
    if (b_count == 1 && a_count == batch && a_count * m < kBlasMax) {
        salient::sgemm_parallel(false, false, (int)(a_count * m), (int)n, (int)k, 1.f, a, (int)k, b, (int)n, 0.f, y,
                                (int)n);
        return SALIENT_OK;
    }
    // element strides (in matrices) of each operand's batch dims; 0 where broadcast
    int64_t acc_a = 1, acc_b = 1;
    for (int d = batch_rank - 1; d >= 0; d--) {
        sa[d] = a_batch[d] == 1 ? 0 : acc_a;
        sb[d] = b_batch[d] == 1 ? 0 : acc_b;
        acc_a *= a_batch[d];
        acc_b *= b_batch[d];
    }
    // many products: one per thread at a time; few: each split over the threads
    const bool per_thread = batch >= omp_get_max_threads() && 2.0 * m * n * (double)k * batch > 4e6;
#pragma omp parallel for schedule(dynamic, 1) if (per_thread)
    for (int64_t i = 0; i < batch; i++) {
        int64_t ia = 0, ib = 0, rem = i;
        for (int d = batch_rank - 1; d >= 0; d--) {
            int64_t j = rem % out[d];
            rem /= out[d];
            ia += j * sa[d];
            ib += j * sb[d];
        }
        salient::sgemm_parallel(false, false, (int)m, (int)n, (int)k, 1.f, a + ia * m * k, (int)k, b + ib * k * n,
                                (int)n, 0.f, y + i * m * n, (int)n);
    }
    return SALIENT_OK;
}
