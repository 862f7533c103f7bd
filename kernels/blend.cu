// blend.cu: masked blend y = b + m * (x - b) and weighted sums along the leading axis,
// the CUDA twins of native/cpu/blend.cpp (IG points and step sums, perturbation masks,
// noise-tunnel means).
//
// FLOP/byte: the blend writes S*N*D floats from about 2 reads each (3 FLOP per 12 B);
// the weighted sum reads S*R floats for 2 FLOP each. Both are bandwidth-bound and tiny
// next to the forward and backward passes they feed.
#include "common.cuh"
#include "primitives_cuda.h"

// ---- device helpers
//
// (none)

// ---- kernels

// y[s,n,j] = b[n % nb, j] + m[s, j % dm] * (x[n,j] - b[n % nb, j]); y: (S,N,D)
__global__ void masked_blend_kernel(const float* __restrict__ x, const float* __restrict__ b,
                                    const float* __restrict__ m, float* __restrict__ y, int64_t total, int64_t n,
                                    int64_t nb, int64_t d, int64_t dm) {
    GRID_STRIDE(i, total) {
        const int64_t j = i % d, row = i / d, img = row % n, s = row / n;
        const float xv = x[img * d + j];
        const float bv = b[(nb == 1 ? 0 : img) * d + j];
        y[i] = fmaf(m[s * dm + j % dm], xv - bv, bv);
    }
}

// acc[j] += sum_s w[s] * g[s,j], in s order as on the CPU
__global__ void weighted_sum_kernel(const float* __restrict__ g, const float* __restrict__ w,
                                    float* __restrict__ acc, int64_t s, int64_t r) {
    GRID_STRIDE(j, r) {
        float t = acc[j];
        for (int64_t k = 0; k < s; k++) t = fmaf(w[k], g[k * r + j], t);
        acc[j] = t;
    }
}

// ---- launchers

extern "C" int masked_blend_cuda(const float* x, const float* b, const float* m, float* y, int64_t s, int64_t n,
                                 int64_t nb, int64_t d, int64_t dm) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(b);
    SALIENT_CUDA_CHECK_PTR(m);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(s > 0 && n > 0 && d > 0 && dm > 0 && (nb == 1 || nb == n) && d % dm == 0,
                       "masked_blend_cuda: bad sizes s=%lld n=%lld nb=%lld d=%lld dm=%lld", (long long)s,
                       (long long)n, (long long)nb, (long long)d, (long long)dm);
    const int64_t total = s * n * d;
    masked_blend_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, b, m, y, total, n, nb, d, dm);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int weighted_sum_cuda(const float* g, const float* w, float* acc, int64_t s, int64_t r) {
    SALIENT_CUDA_CHECK_PTR(g);
    SALIENT_CUDA_CHECK_PTR(w);
    SALIENT_CUDA_CHECK_PTR(acc);
    SALIENT_CUDA_CHECK(s > 0 && r > 0, "weighted_sum_cuda: bad sizes s=%lld r=%lld", (long long)s, (long long)r);
    weighted_sum_kernel<<<salient_cuda::grid_for(r), salient_cuda::kThreads>>>(g, w, acc, s, r);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
