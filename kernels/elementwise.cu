// elementwise.cu: fill, the pointwise activations and their data gradients, axpby and the
// per-channel affine map (folded BatchNorm), the CUDA twins of native/cpu/activation.cpp
// and affine.cpp.
//
// FLOP/byte: all memory-bound. activation_forward reads 4 B and writes 4 B per element for
// 1-20 FLOP (sigmoid's expf), i.e. < 3 FLOP/B against ~20 FLOP/B of machine balance on an
// H100 (67 TFLOP/s FP32 / 3.35 TB/s), so the target is bandwidth: float4 loads where the
// pointers are 16-byte aligned and the length allows, one grid-stride loop otherwise.
#include "common.cuh"

// ---- device helpers

// Kinds are SALIENT_ACT_* (native/salient.h, one list for both engines); kinks as PyTorch (see activation.cpp).
enum {
    ACT_RELU = SALIENT_ACT_RELU,
    ACT_LEAKY_RELU = SALIENT_ACT_LEAKY_RELU,
    ACT_CLIP = SALIENT_ACT_CLIP,
    ACT_SIGMOID = SALIENT_ACT_SIGMOID,
    ACT_HARD_SIGMOID = SALIENT_ACT_HARD_SIGMOID,
    ACT_HARD_SWISH = SALIENT_ACT_HARD_SWISH,
    ACT_ABS = SALIENT_ACT_ABS
};

__device__ __forceinline__ float act_fwd(int kind, float x, float a, float b) {
    switch (kind) {
        case ACT_RELU: return x > 0.f ? x : 0.f;
        case ACT_LEAKY_RELU: return x >= 0.f ? x : a * x;
        case ACT_CLIP: return fminf(fmaxf(x, a), b);
        case ACT_SIGMOID: return 1.f / (1.f + expf(-x));
        case ACT_HARD_SIGMOID: return fmaxf(0.f, fminf(1.f, a * x + b));
        case ACT_HARD_SWISH: return x * fmaxf(0.f, fminf(1.f, x / 6.f + 0.5f));
        case ACT_ABS: return fabsf(x);
    }
    return 0.f;
}

__device__ __forceinline__ float act_grad(int kind, float x, float a, float b) {
    switch (kind) {
        case ACT_RELU: return x > 0.f ? 1.f : 0.f;
        case ACT_LEAKY_RELU: return x > 0.f ? 1.f : a;
        case ACT_CLIP: return (x >= a && x <= b) ? 1.f : 0.f;
        case ACT_SIGMOID: { float s = 1.f / (1.f + expf(-x)); return s * (1.f - s); }
        case ACT_HARD_SIGMOID: { float t = a * x + b; return (t > 0.f && t < 1.f) ? a : 0.f; }
        case ACT_HARD_SWISH:
            if (x < -3.f) return 0.f;
            if (x <= 3.f) return x / 3.f + 0.5f;
            return 1.f;
        case ACT_ABS: return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f);
    }
    return 0.f;
}

static inline bool aligned16(const void* p) { return ((uintptr_t)p & 15u) == 0; }

// ---- kernels

__global__ void fill_kernel(float* x, int64_t n, float value) {
    GRID_STRIDE(i, n) x[i] = value;
}

__global__ void fill_vec4_kernel(float4* x, int64_t n4, float value) {
    GRID_STRIDE(i, n4) x[i] = make_float4(value, value, value, value);
}

// y: (n) = act(x: (n)); vectorised over float4 when `vec` (n4 = n/4 groups, tail scalar).
__global__ void activation_forward_kernel(int kind, const float* __restrict__ x, float* __restrict__ y, int64_t n,
                                          float a, float b, bool vec) {
    if (vec) {
        const int64_t n4 = n / 4;
        const float4* x4 = reinterpret_cast<const float4*>(x);
        float4* y4 = reinterpret_cast<float4*>(y);
        GRID_STRIDE(i, n4) {
            float4 v = x4[i];
            y4[i] = make_float4(act_fwd(kind, v.x, a, b), act_fwd(kind, v.y, a, b), act_fwd(kind, v.z, a, b),
                                act_fwd(kind, v.w, a, b));
        }
        GRID_STRIDE(j, n - n4 * 4) y[n4 * 4 + j] = act_fwd(kind, x[n4 * 4 + j], a, b);
    } else {
        GRID_STRIDE(i, n) y[i] = act_fwd(kind, x[i], a, b);
    }
}

// dx = dy * act'(x); x, dy, dx: (n)
__global__ void activation_backward_kernel(int kind, const float* __restrict__ x, const float* __restrict__ dy,
                                           float* __restrict__ dx, int64_t n, float a, float b, bool vec) {
    if (vec) {
        const int64_t n4 = n / 4;
        const float4* x4 = reinterpret_cast<const float4*>(x);
        const float4* d4 = reinterpret_cast<const float4*>(dy);
        float4* o4 = reinterpret_cast<float4*>(dx);
        GRID_STRIDE(i, n4) {
            float4 v = x4[i], g = d4[i];
            o4[i] = make_float4(g.x * act_grad(kind, v.x, a, b), g.y * act_grad(kind, v.y, a, b),
                                g.z * act_grad(kind, v.z, a, b), g.w * act_grad(kind, v.w, a, b));
        }
        GRID_STRIDE(j, n - n4 * 4) {
            int64_t k = n4 * 4 + j;
            dx[k] = dy[k] * act_grad(kind, x[k], a, b);
        }
    } else {
        GRID_STRIDE(i, n) dx[i] = dy[i] * act_grad(kind, x[i], a, b);
    }
}

// y = alpha x + beta y; y is not read when beta == 0 (so NaNs in a fresh buffer do not leak).
__global__ void axpby_kernel(float alpha, const float* __restrict__ x, float beta, float* __restrict__ y, int64_t n) {
    if (beta == 0.f) {
        GRID_STRIDE(i, n) y[i] = alpha * x[i];
    } else {
        GRID_STRIDE(i, n) y[i] = alpha * x[i] + beta * y[i];
    }
}

// y[o,c,i] = x[o,c,i] * scale[c] + shift[c]; x, y: (outer, channels, inner)
__global__ void channel_affine_kernel(const float* x, const float* __restrict__ scale,
                                      const float* __restrict__ shift, float* y, int64_t total, int64_t channels,
                                      int64_t inner) {
    GRID_STRIDE(i, total) {
        int64_t c = (i / inner) % channels;
        float v = x[i] * scale[c];
        if (shift) v += shift[c];
        y[i] = v;
    }
}

// ---- launchers

extern "C" int fill_cuda(float* x, int64_t n, float value) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK(n >= 0, "fill_cuda: negative length %lld", (long long)n);
    if (n == 0) return SALIENT_OK;
    if (aligned16(x) && n % 4 == 0)
        fill_vec4_kernel<<<salient_cuda::grid_for(n / 4), salient_cuda::kThreads>>>(reinterpret_cast<float4*>(x),
                                                                                    n / 4, value);
    else
        fill_kernel<<<salient_cuda::grid_for(n), salient_cuda::kThreads>>>(x, n, value);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int activation_forward_cuda(int kind, const float* x, float* y, int64_t n, float alpha, float beta) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(n >= 0, "activation_forward_cuda: negative length %lld", (long long)n);
    SALIENT_CUDA_CHECK(kind >= ACT_RELU && kind <= ACT_ABS, "activation_forward_cuda: unknown kind %d", kind);
    if (n == 0) return SALIENT_OK;
    const bool vec = aligned16(x) && aligned16(y);
    activation_forward_kernel<<<salient_cuda::grid_for(vec ? salient_cuda::ceil_div(n, 4) : n),
                                salient_cuda::kThreads>>>(kind, x, y, n, alpha, beta, vec);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int activation_backward_cuda(int kind, const float* x, const float* dy, float* dx, int64_t n, float alpha,
                                        float beta) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(dy);
    SALIENT_CUDA_CHECK_PTR(dx);
    SALIENT_CUDA_CHECK(n >= 0, "activation_backward_cuda: negative length %lld", (long long)n);
    SALIENT_CUDA_CHECK(kind >= ACT_RELU && kind <= ACT_ABS, "activation_backward_cuda: unknown kind %d", kind);
    if (n == 0) return SALIENT_OK;
    const bool vec = aligned16(x) && aligned16(dy) && aligned16(dx);
    activation_backward_kernel<<<salient_cuda::grid_for(vec ? salient_cuda::ceil_div(n, 4) : n),
                                 salient_cuda::kThreads>>>(kind, x, dy, dx, n, alpha, beta, vec);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int axpby_cuda(float alpha, const float* x, float beta, float* y, int64_t n) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(n >= 0, "axpby_cuda: negative length %lld", (long long)n);
    if (n == 0) return SALIENT_OK;
    axpby_kernel<<<salient_cuda::grid_for(n), salient_cuda::kThreads>>>(alpha, x, beta, y, n);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int channel_affine_cuda(const float* x, const float* scale, const float* shift, float* y, int64_t outer,
                                   int64_t channels, int64_t inner) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(scale);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(outer >= 0 && channels >= 0 && inner >= 0, "channel_affine_cuda: negative size");
    const int64_t total = outer * channels * inner;
    if (total == 0) return SALIENT_OK;
    channel_affine_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, scale, shift, y, total,
                                                                                    channels, inner);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
