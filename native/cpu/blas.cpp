// sgemm_parallel: see blas.h.
#include <algorithm>
#include <omp.h>
#include "blas.h"

namespace salient {

void sgemm_parallel(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                    const float* b, int ldb, float beta, float* c, int ldc) {
    const int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    const double work = 2.0 * m * n * (double)k;
    // a product with few rows is bound by reading B: split it when B is large (1 MB)
    const bool big_b = (double)n * k >= 262144.0 && n >= 128;
    if (nt <= 1 || (work < 4e6 && !big_b) || (m < 16 && n < 16)) {
        sgemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    // split the longer side of C; blocks of 16 rows / 64 columns keep the BLAS kernels full
    const bool split_rows = m >= n;
    const int len = split_rows ? m : n, quantum = split_rows ? 16 : 64;
    const int blocks = std::max(1, std::min(nt, (len + quantum - 1) / quantum));
#pragma omp parallel for schedule(static) num_threads(blocks)
    for (int t = 0; t < blocks; t++) {
        int lo = (int)((int64_t)len * t / blocks), hi = (int)((int64_t)len * (t + 1) / blocks);
        if (hi <= lo) continue;
        if (split_rows) {
            // rows lo..hi of op(A) and C
            const float* ab = trans_a ? a + lo : a + (int64_t)lo * lda;
            sgemm_serial(trans_a, trans_b, hi - lo, n, k, alpha, ab, lda, b, ldb, beta, c + (int64_t)lo * ldc, ldc);
        } else {
            // columns lo..hi of op(B) and C
            const float* bb = trans_b ? b + (int64_t)lo * ldb : b + lo;
            sgemm_serial(trans_a, trans_b, m, hi - lo, k, alpha, a, lda, bb, ldb, beta, c + lo, ldc);
        }
    }
}

}  // namespace salient
