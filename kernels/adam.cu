// adam.cu: Adam's update (Kingma & Ba, arXiv:1412.6980), the CUDA twin of native/cpu/adam.cpp,
// written as torch.optim.Adam computes it:
//   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g;  p -= step_size * m / (sqrt(v)/bc2_sqrt + eps).
//
// FLOP/byte: ~12 FLOP per 28 B moved (g, p, m, v read; p, m, v written): bandwidth-bound.
#include "common.cuh"
#include "primitives_cuda.h"

// ---- device helpers
//
// (none)

// ---- kernels

__global__ void adam_step_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                 float* __restrict__ v, int64_t n, float beta1, float beta2, float eps, float step_size,
                                 float bc2_sqrt) {
    GRID_STRIDE(i, n) {
        const float gi = g[i];
        const float mi = m[i] * beta1 + gi * (1.f - beta1);
        const float vi = v[i] * beta2 + gi * gi * (1.f - beta2);
        m[i] = mi;
        v[i] = vi;
        p[i] -= step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
}

// ---- launchers

extern "C" int adam_step_cuda(float* p, const float* g, float* m, float* v, int64_t n, float beta1, float beta2,
                              float eps, float step_size, float bc2_sqrt) {
    SALIENT_CUDA_CHECK_PTR(p);
    SALIENT_CUDA_CHECK_PTR(g);
    SALIENT_CUDA_CHECK_PTR(m);
    SALIENT_CUDA_CHECK_PTR(v);
    SALIENT_CUDA_CHECK(n > 0, "adam_step_cuda: bad size n=%lld", (long long)n);
    SALIENT_CUDA_CHECK(bc2_sqrt > 0.f, "adam_step_cuda: bias correction must be positive");
    adam_step_kernel<<<salient_cuda::grid_for(n), salient_cuda::kThreads>>>(p, g, m, v, n, beta1, beta2, eps, step_size,
                                                                            bc2_sqrt);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
