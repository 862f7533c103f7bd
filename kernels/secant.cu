// secant.cu: the secant backward of a pointwise function over paired rows (DeepLIFT's Rescale
// rule, Shrikumar et al. 2017, arXiv:1704.02685, as Captum's DeepLift computes it), the CUDA
// twin of native/cpu/secant.cpp: inputs in the first half of the rows, references in the
// second, element i paired with h+i; dx = dy * Δy/Δx where |Δx| >= eps, else kept.
//
// FLOP/byte: per pair 2 subtractions, 2 products and 2 quotients against 7 reads and 2 writes
// of 4 B (about 0.2 FLOP/B): bandwidth-bound, one pass instead of the dozen a composition of
// binary ops takes.
#include "common.cuh"
#include "primitives_cuda.h"

// ---- device helpers
//
// (none)

// ---- kernels

// x, y, dy, dx: (2,h); the product before the quotient, as on the CPU (no FMA can form, and the
// quotient is IEEE-rounded without fast-math)
// own: Relu's own gradient (dy where x > 0 or NaN, else 0) where |Δx| < eps, else dx is kept there
__global__ void secant_backward_kernel(const float* __restrict__ x, const float* __restrict__ y,
                                       const float* __restrict__ dy, float* __restrict__ dx, int64_t h, float eps,
                                       bool relu) {
    GRID_STRIDE(i, h) {
        const float dxv = x[i] - x[h + i];
        if (fabsf(dxv) >= eps) {
            const float dyv = y[i] - y[h + i];
            dx[i] = dy[i] * dyv / dxv;
            dx[h + i] = dy[h + i] * dyv / dxv;
        } else if (relu) {
            dx[i] = x[i] <= 0.f ? 0.f : dy[i];
            dx[h + i] = x[h + i] <= 0.f ? 0.f : dy[h + i];
        }
    }
}

// r / (z ± eps), the sign of z choosing (sign(0) = +1); one IEEE sum and one IEEE quotient, as on the CPU
__device__ __forceinline__ float stab_quotient(float r, float z, float eps) { return r / (z + (z < 0.f ? -eps : eps)); }

// y = stab_quotient(r, z) elementwise
__global__ void stab_divide_kernel(const float* __restrict__ r, const float* __restrict__ z, float* y, int64_t n,
                                   float eps) {
    GRID_STRIDE(i, n) {
        y[i] = stab_quotient(r[i], z[i], eps);
    }
}

// LRP's Norm rule through a sum: g = r / stab(a + b), da = g * a, db = g * b (either may be null); each
// step one IEEE rounding, as on the CPU (no product meets a sum to contract into)
__global__ void norm_shares_kernel(const float* __restrict__ a, const float* __restrict__ b, const float* __restrict__ r,
                                   float* __restrict__ da, float* __restrict__ db, int64_t n, float eps) {
    GRID_STRIDE(i, n) {
        const float ai = a[i], bi = b[i], g = stab_quotient(r[i], ai + bi, eps);
        if (da) da[i] = g * ai;
        if (db) db[i] = g * bi;
    }
}

// ---- launchers

extern "C" int secant_backward_cuda(const float* x, const float* y, const float* dy, float* dx, int64_t h, float eps,
                                    int own) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK_PTR(dy);
    SALIENT_CUDA_CHECK_PTR(dx);
    SALIENT_CUDA_CHECK(h > 0 && eps >= 0.f && isfinite(eps), "secant_backward_cuda: bad sizes h=%lld eps=%g",
                       (long long)h, (double)eps);
    SALIENT_CUDA_CHECK(own < 0 || own == SALIENT_ACT_RELU,
                       "secant_backward_cuda: own gradient %d is not Relu's (%d) or given (< 0)", own, SALIENT_ACT_RELU);
    secant_backward_kernel<<<salient_cuda::grid_for(h), salient_cuda::kThreads>>>(x, y, dy, dx, h, eps,
                                                                                    own == SALIENT_ACT_RELU);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int stab_divide_cuda(const float* r, const float* z, float* y, int64_t n, float eps) {
    SALIENT_CUDA_CHECK_PTR(r);
    SALIENT_CUDA_CHECK_PTR(z);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(n > 0 && eps >= 0.f && isfinite(eps), "stab_divide_cuda: bad sizes n=%lld eps=%g", (long long)n,
                       (double)eps);
    stab_divide_kernel<<<salient_cuda::grid_for(n), salient_cuda::kThreads>>>(r, z, y, n, eps);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int norm_shares_cuda(const float* a, const float* b, const float* r, float* da, float* db, int64_t n,
                                float eps) {
    SALIENT_CUDA_CHECK_PTR(a);
    SALIENT_CUDA_CHECK_PTR(b);
    SALIENT_CUDA_CHECK_PTR(r);
    SALIENT_CUDA_CHECK(da || db, "norm_shares_cuda: neither share is wanted");
    SALIENT_CUDA_CHECK(n > 0 && eps >= 0.f && isfinite(eps), "norm_shares_cuda: bad sizes n=%lld eps=%g", (long long)n,
                       (double)eps);
    norm_shares_kernel<<<salient_cuda::grid_for(n), salient_cuda::kThreads>>>(a, b, r, da, db, n, eps);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
