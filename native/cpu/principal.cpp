// Host-side linear algebra of the eigen and clustering CAMs, in double precision through
// OpenBLAS and its LAPACK (the preset's full libopenblas.so.0):
//   principal_directions_cpu: the first principal direction of N centred data sets
//   pairwise_distances_cpu:   the Euclidean distance matrix of n rows
// Small problems (K or P up to a few thousand): one image per OpenMP thread, OpenBLAS
// single-threaded inside (see blas.h).
#include "common.h"
#include "salient.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

// x: (N,K,P) centred over P; sums: (N,K) sums over P of the uncentred data; out: (N,K).
// Data set n is X (K,P); v is numpy's svd(X^T)[2][0]: the top eigenvector of X X^T (K <= P),
// or X u / sigma with (u, sigma^2) the top eigenpair of X^T X (P < K). Sign: v . sums >= 0,
// on a tie the largest |v_k| positive (the centred projection sums to 0 and cannot decide).
// A data set without variance gets v = 0.
extern "C" int principal_directions_cpu(const float* x, const float* sums, float* out, int n, int k, int p) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(sums);
    SALIENT_CHECK_PTR(out);
    SALIENT_CHECK(n > 0 && k > 0 && p > 0, "principal_directions_cpu: bad sizes n=%d k=%d p=%d", n, k, p);
    const bool small = k <= p;
    const int d = small ? k : p;
    int bad = 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        std::vector<double> xd((size_t)k * p), gram((size_t)d * d), z(d), v(k);
        const float* xi = x + (int64_t)i * k * p;
        for (int64_t j = 0; j < (int64_t)k * p; j++) xd[j] = xi[j];
        cblas_dsyrk(CblasRowMajor, CblasUpper, small ? CblasNoTrans : CblasTrans, d, small ? p : k, 1.0, xd.data(), p,
                    0.0, gram.data(), d);
        lapack_int m = 0;
        std::vector<double> w(d);   // dsyevr writes up to d eigenvalues' worth of workspace here, even for one
        std::vector<lapack_int> support(2 * d);
        lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', d, gram.data(), d, 0, 0, d, d, 0.0, &m, w.data(),
                                         z.data(), 1, support.data());
        float* o = out + (int64_t)i * k;
        if (info != 0) {
#pragma omp atomic write
            bad = (int)info;
            continue;
        }
        const double lambda = std::max(w[0], 0.0);
        if (lambda == 0) {
            std::fill(o, o + k, 0.f);
            continue;
        }
        if (small)
            std::copy(z.begin(), z.end(), v.begin());
        else
            cblas_dgemv(CblasRowMajor, CblasNoTrans, k, p, 1.0 / std::sqrt(lambda), xd.data(), p, z.data(), 1, 0.0,
                        v.data(), 1);
        double s = 0, big = 0;
        int arg = 0;
        for (int j = 0; j < k; j++) {
            s += v[j] * sums[(int64_t)i * k + j];
            if (std::fabs(v[j]) > big) {
                big = std::fabs(v[j]);
                arg = j;
            }
        }
        const double sign = (s < 0 || (s == 0 && v[arg] < 0)) ? -1.0 : 1.0;
        for (int j = 0; j < k; j++) o[j] = (float)(sign * v[j]);
    }
    if (bad != 0) return salient::fail(SALIENT_EBACKEND, "principal_directions_cpu: LAPACK dsyevr failed (info %d)", bad);
    return SALIENT_OK;
}

// x: (n,d) rows; dist: (n,n) Euclidean distances in double, sqrt(|a|^2 + |b|^2 - 2 a.b)
// clamped at 0, from the Gram matrix (n x n, never the n x n x d differences).
extern "C" int pairwise_distances_cpu(const float* x, double* dist, int n, int d) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(dist);
    SALIENT_CHECK(n > 0 && d > 0, "pairwise_distances_cpu: bad sizes n=%d d=%d", n, d);
    std::vector<double> xd((size_t)n * d);
    for (int64_t j = 0; j < (int64_t)n * d; j++) xd[j] = x[j];
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, d, 1.0, xd.data(), d, 0.0, dist, n);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const double si = dist[(int64_t)i * n + i];
        for (int j = i + 1; j < n; j++) {
            const double sj = dist[(int64_t)j * n + j];   // diagonal entries are read, never written, here
            dist[(int64_t)i * n + j] = std::sqrt(std::max(0.0, si + sj - 2 * dist[(int64_t)i * n + j]));
        }
    }
    for (int i = 0; i < n; i++) {
        dist[(int64_t)i * n + i] = 0;
        for (int j = 0; j < i; j++) dist[(int64_t)i * n + j] = dist[(int64_t)j * n + i];
    }
    return SALIENT_OK;
}
