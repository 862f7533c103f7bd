// ROAD's noisy linear imputation (Rong et al., ICML 2022; pytorch-grad-cam's NoisyLinearImputer,
// road.py), without the noise: every removed pixel becomes the weighted mean of its 8 neighbours
// inside the image (weights 1/6 for the 4-neighbours, 1/12 for the diagonals), a removed
// neighbour being an unknown of the same system. road.py assembles A v = b with A's diagonal
// -sum(in-image neighbour weights) and solves it with scipy's spsolve. Here -A, symmetric and
// positive definite whenever at least one pixel is kept, is numbered in raster order, so it is
// banded with half-bandwidth kd <= w + 1, and is solved directly by LAPACK's banded Cholesky
// (dpbsv) in double precision, all C channels as right-hand sides of one factorisation.
//
// road_impute_cpu imputes `count` masks of one image; the masks run in parallel over the OpenMP
// threads, each solve single-threaded (OpenBLAS is pinned to one thread, see runtime.cpp). Each
// mask's result depends on that mask alone, never on how the masks are scheduled.
// Cost per mask: n*kd^2 flops to factorise and 4*n*kd*C to solve, band storage (kd+1)*n doubles;
// the caller keeps that under `max_band_bytes` (road_band_bytes_cpu gives it) and solves larger
// systems another way.
#include "common.h"
#include "salient.h"

#include <lapacke.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr int kDy[8] = {1, 0, -1, 1, 0, -1, 1, -1};
constexpr int kDx[8] = {1, 1, 1, -1, -1, -1, 0, 0};
constexpr double kW[8] = {1 / 12.0, 1 / 6.0, 1 / 12.0, 1 / 12.0, 1 / 6.0, 1 / 12.0, 1 / 6.0, 1 / 6.0};

// Unknown numbers in raster order (-1 for kept pixels); returns their count and the half-bandwidth.
int number_unknowns(const uint8_t* keep, int h, int w, std::vector<int>& var, int& kd) {
    const int hw = h * w;
    var.assign(hw, -1);
    int n = 0;
    for (int p = 0; p < hw; p++)
        if (!keep[p]) var[p] = n++;
    kd = 0;
    for (int p = 0; p < hw; p++) {
        if (var[p] < 0) continue;
        const int y = p / w, x = p % w;
        for (int k = 0; k < 8; k++) {
            const int yy = y + kDy[k], xx = x + kDx[k];
            if (yy < 0 || xx < 0 || yy >= h || xx >= w) continue;
            const int q = var[yy * w + xx];
            if (q >= 0) kd = std::max(kd, q - var[p]);
        }
    }
    return n;
}

// One mask: out (C,H,W) = x with the removed pixels imputed. Returns 0, or LAPACK's info.
int impute_one(const float* x, int c, int h, int w, const uint8_t* keep, float* out) {
    const int hw = h * w;
    std::vector<int> var;
    int kd = 0;
    const int n = number_unknowns(keep, h, w, var, kd);
    std::memcpy(out, x, sizeof(float) * (size_t)c * hw);
    if (n == 0) return 0;
    if (n == hw) {
        // nothing kept: the homogeneous system's solution, zeros (as the Java imputer defines it)
        std::memset(out, 0, sizeof(float) * (size_t)c * hw);
        return 0;
    }
    const int ldab = kd + 1;
    std::vector<double> ab((size_t)ldab * n, 0.0), rhs((size_t)n * c, 0.0);
    // upper band, column-major: AB[kd + i - j, j] = M[i, j] for i <= j
    for (int p = 0; p < hw; p++) {
        const int i = var[p];
        if (i < 0) continue;
        const int y = p / w, xx0 = p % w;
        double s = 0;
        for (int k = 0; k < 8; k++) {
            const int yy = y + kDy[k], xx = xx0 + kDx[k];
            if (yy < 0 || xx < 0 || yy >= h || xx >= w) continue;
            s += kW[k];
            const int q = yy * w + xx, j = var[q];
            if (j < 0) {
                for (int ch = 0; ch < c; ch++) rhs[(size_t)ch * n + i] += kW[k] * x[(size_t)ch * hw + q];
            } else if (j > i) {
                ab[(size_t)j * ldab + kd + i - j] = -kW[k];
            }
        }
        ab[(size_t)i * ldab + kd] = s;
    }
    const int info = (int)LAPACKE_dpbsv(LAPACK_COL_MAJOR, 'U', n, kd, c, ab.data(), ldab, rhs.data(), n);
    if (info != 0) return info;
    for (int p = 0; p < hw; p++) {
        const int i = var[p];
        if (i < 0) continue;
        for (int ch = 0; ch < c; ch++) out[(size_t)ch * hw + p] = (float)rhs[(size_t)ch * n + i];
    }
    return 0;
}

}  // namespace

extern "C" int64_t road_band_bytes_cpu(const uint8_t* keep, int h, int w) {
    if (!keep || h <= 0 || w <= 0) return -1;
    std::vector<int> var;
    int kd = 0;
    const int n = number_unknowns(keep, h, w, var, kd);
    return (int64_t)(kd + 1) * n * (int64_t)sizeof(double);
}

extern "C" int road_impute_cpu(const float* x, int c, int h, int w, const uint8_t* keep, int count, float* out,
                               int64_t max_band_bytes) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(keep);
    SALIENT_CHECK_PTR(out);
    SALIENT_CHECK(c > 0 && h > 0 && w > 0 && count > 0, "%s: needs c, h, w and count > 0, got %d, %d, %d and %d",
                  __func__, c, h, w, count);
    SALIENT_CHECK((int64_t)c * h * w <= INT32_MAX, "%s: an image of %d x %d x %d is too large", __func__, c, h, w);
    const int64_t hw = (int64_t)h * w, chw = (int64_t)c * hw;
    for (int i = 0; i < count; i++) {
        const int64_t bytes = road_band_bytes_cpu(keep + i * hw, h, w);
        SALIENT_CHECK(bytes <= max_band_bytes, "%s: mask %d needs %lld bytes of band storage, over the %lld allowed",
                      __func__, i, (long long)bytes, (long long)max_band_bytes);
    }
    int failed = -1, info = 0;
    constexpr int kNoMemory = INT32_MIN;
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < count; i++) {
        int rc;
        try {
            rc = impute_one(x, c, h, w, keep + i * hw, out + i * chw);
        } catch (...) {  // std::bad_alloc: never let an exception leave the OpenMP region
            rc = kNoMemory;
        }
        if (rc != 0) {
#pragma omp critical
            {
                failed = i;
                info = rc;
            }
        }
    }
    if (failed >= 0 && info == kNoMemory)
        return salient::fail(SALIENT_ENOMEM, "%s: out of memory for the system of mask %d", __func__, failed);
    if (failed >= 0)
        return salient::fail(SALIENT_EINVAL, "%s: the system of mask %d is not positive definite (LAPACK info %d)",
                             __func__, failed, info);
    return SALIENT_OK;
}
