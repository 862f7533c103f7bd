// ig.cu: Integrated Gradients path integration (Captum semantics), the CUDA twin of
// native/cpu/ig.cpp:
//   attr = (x - x') * sum_k w_k * grad f(x' + a_k (x - x'))
// ig_interpolate writes the points of a chunk of S steps straight into the batch buffer
// (no host round trip per step); ig_accumulate adds sum_k w_k * grad for the chunk.
//
// FLOP/byte: interpolate writes S*N*D floats from 2*N*D reads (2 FLOP per 4 B written);
// accumulate reads S*N*D gradients for 2 FLOP each. Both are bandwidth-bound and tiny
// next to the S forward+backward passes they feed (ResNet-50: ~12 GFLOP per image-step).
// The step coefficients live in device memory (S floats, read through the constant cache).
#include "common.cuh"

// ---- device helpers
//
// (none)

// ---- kernels

// y: (S,N,D), y[s,n,:] = b[n,:] + alphas[s] * (x[n,:] - b[n,:]); x, b: (N,D)
__global__ void ig_interpolate_kernel(const float* __restrict__ x, const float* __restrict__ b,
                                      const float* __restrict__ alphas, float* __restrict__ y, int64_t total,
                                      int64_t nd) {
    GRID_STRIDE(i, total) {
        const int64_t j = i % nd;
        const float a = alphas[i / nd];
        const float bj = b[j];
        y[i] = bj + a * (x[j] - bj);
    }
}

// acc: (N,D) += sum_s weights[s] * g[s,n,:]; g: (S,N,D). The sum runs in step order, as on the CPU.
__global__ void ig_accumulate_kernel(const float* __restrict__ g, const float* __restrict__ weights,
                                     float* __restrict__ acc, int s, int64_t nd) {
    GRID_STRIDE(j, nd) {
        float t = acc[j];
        for (int k = 0; k < s; k++) t += weights[k] * g[(int64_t)k * nd + j];
        acc[j] = t;
    }
}

// ---- launchers

extern "C" int ig_interpolate_cuda(const float* x, const float* b, const float* alphas, float* y, int s, int n,
                                   int64_t d) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(b);
    SALIENT_CUDA_CHECK_PTR(alphas);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(s > 0 && n > 0 && d > 0, "ig_interpolate_cuda: bad sizes s=%d n=%d d=%lld", s, n, (long long)d);
    const int64_t nd = (int64_t)n * d;
    const int64_t total = (int64_t)s * nd;
    ig_interpolate_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, b, alphas, y, total, nd);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int ig_accumulate_cuda(const float* g, const float* weights, float* acc, int s, int n, int64_t d) {
    SALIENT_CUDA_CHECK_PTR(g);
    SALIENT_CUDA_CHECK_PTR(weights);
    SALIENT_CUDA_CHECK_PTR(acc);
    SALIENT_CUDA_CHECK(s > 0 && n > 0 && d > 0, "ig_accumulate_cuda: bad sizes s=%d n=%d d=%lld", s, n, (long long)d);
    const int64_t nd = (int64_t)n * d;
    ig_accumulate_kernel<<<salient_cuda::grid_for(nd), salient_cuda::kThreads>>>(g, weights, acc, s, nd);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
