// cam.cu: the CAM family on the device, the CUDA twin of native/cpu/cam.cpp.
//   gradcam_weights: one fused reduction per (image, channel) over the h*w plane giving
//     Grad-CAM's mean gradient, Grad-CAM++'s alpha-weighted sum (eq. 19 of
//     arXiv:1710.11063, eps = 1e-6 as pytorch-grad-cam) or XGrad-CAM's normalised sum;
//   cam_combine: the channel-weighted sum (or LayerCAM's relu(g)*a, HiResCAM's g*a);
//   bilinear_resize / nearest_resize: the upsampling of maps (torch align_corners=False / 'nearest');
//   cam_finish: pytorch-grad-cam's finish, fused per image: ReLU, min-max (1e-7), bilinear
//     resize with half-pixel centres, ReLU, min-max.
//
// FLOP/byte: gradcam_weights reads 8 B per (k, p) for 2-8 FLOP; cam_combine reads K*P*(4|8) B
// for 2*K*P FLOP; both bandwidth-bound and ~1% of the backward pass they follow (a 2048x7x7
// layer at batch 64 is 25 MB). cam_finish writes oh*ow floats per image with ~12 FLOP each.
#include "common.cuh"

// ---- device helpers

// SALIENT_CAMW_* and SALIENT_CAMC_* (native/salient.h, one list for both engines)
enum { CAMW_GRADCAM = SALIENT_CAMW_GRADCAM, CAMW_GRADCAMPP = SALIENT_CAMW_GRADCAMPP, CAMW_XGRADCAM = SALIENT_CAMW_XGRADCAM };
enum { CAMC_WEIGHTED = SALIENT_CAMC_WEIGHTED, CAMC_LAYERCAM = SALIENT_CAMC_LAYERCAM, CAMC_HIRESCAM = SALIENT_CAMC_HIRESCAM };

// One output pixel of the half-pixel-centre bilinear resize (torch align_corners=False,
// OpenCV INTER_LINEAR); the same float arithmetic as bilinear_plane in cam.cpp.
__device__ __forceinline__ float bilinear_at(const float* src, int ih, int iw, int oh, int ow, int y, int x) {
    const float sh = (float)ih / (float)oh, sw = (float)iw / (float)ow;
    float fy = fmaxf((y + 0.5f) * sh - 0.5f, 0.f);
    int y0 = (int)fy;
    int y1 = y0 + (y0 < ih - 1 ? 1 : 0);
    float ly = fy - y0;
    float fx = fmaxf((x + 0.5f) * sw - 0.5f, 0.f);
    int x0 = (int)fx;
    int x1 = x0 + (x0 < iw - 1 ? 1 : 0);
    float lx = fx - x0;
    return (1.f - ly) * ((1.f - lx) * src[(int64_t)y0 * iw + x0] + lx * src[(int64_t)y0 * iw + x1]) +
           ly * ((1.f - lx) * src[(int64_t)y1 * iw + x0] + lx * src[(int64_t)y1 * iw + x1]);
}

// In place over one map m: (P) by the whole block: relu, m -= min, m /= (1e-7 + max).
__device__ void block_relu_minmax(float* m, int64_t p, float* scratch) {
    float lo = INFINITY;
    for (int64_t i = threadIdx.x; i < p; i += blockDim.x) {
        float v = fmaxf(m[i], 0.f);
        m[i] = v;
        lo = fminf(lo, v);
    }
    lo = block_min(lo, scratch);
    float hi = -INFINITY;
    for (int64_t i = threadIdx.x; i < p; i += blockDim.x) {
        float v = m[i] - lo;
        m[i] = v;
        hi = fmaxf(hi, v);
    }
    hi = block_max(hi, scratch);
    const float d = 1e-7f + hi;
    for (int64_t i = threadIdx.x; i < p; i += blockDim.x) m[i] /= d;
    __syncthreads();
}

// ---- kernels

// w: (N,K) from a, g: (N,K,P); one block per (n,k) plane.
__global__ void gradcam_weights_kernel(int kind, const float* __restrict__ a, const float* __restrict__ g,
                                       float* __restrict__ w, int64_t planes, int64_t p) {
    __shared__ float scratch[32];
    for (int64_t nk = blockIdx.x; nk < planes; nk += gridDim.x) {
        const float* an = a + nk * p;
        const float* gn = g + nk * p;
        float acc = 0.f;
        if (kind == CAMW_GRADCAM) {
            // Grad-CAM: w_k = mean_hw dy/dA_k
            for (int64_t i = threadIdx.x; i < p; i += blockDim.x) acc += gn[i];
            acc = block_sum(acc, scratch) / (float)p;
        } else {
            float s = 0.f;
            for (int64_t i = threadIdx.x; i < p; i += blockDim.x) s += an[i];
            s = block_sum(s, scratch);
            if (kind == CAMW_GRADCAMPP) {
                // eq. 19: alpha = g^2 / (2 g^2 + sum_hw(A) g^3 + eps), w_k = sum_hw relu(g) alpha
                for (int64_t i = threadIdx.x; i < p; i += blockDim.x) {
                    float gi = gn[i];
                    if (gi == 0.f) continue;
                    float g2 = gi * gi, g3 = g2 * gi;
                    float alpha = g2 / (2.f * g2 + s * g3 + 1e-6f);
                    acc += fmaxf(gi, 0.f) * alpha;
                }
            } else {
                // XGrad-CAM: w_k = sum_hw g * A / (sum_hw A + 1e-7)
                const float denom = s + 1e-7f;
                for (int64_t i = threadIdx.x; i < p; i += blockDim.x) acc += gn[i] * an[i] / denom;
            }
            acc = block_sum(acc, scratch);
        }
        if (threadIdx.x == 0) w[nk] = acc;
    }
}

// cam: (N,P) = sum_k f_k * a_k; thread per (n, p), coalesced along p.
__global__ void cam_combine_kernel(int mode, const float* __restrict__ a, const float* __restrict__ wg,
                                   float* __restrict__ cam, int k, int64_t p, int64_t total) {
    GRID_STRIDE(np, total) {
        const int64_t in = np / p, ip = np % p;
        float acc = 0.f;
        for (int kk = 0; kk < k; kk++) {
            const int64_t idx = (in * k + kk) * p + ip;
            float f;
            if (mode == CAMC_WEIGHTED) f = wg[in * k + kk];
            else if (mode == CAMC_LAYERCAM) f = fmaxf(wg[idx], 0.f);
            else f = wg[idx];
            acc += f * a[idx];
        }
        cam[np] = acc;
    }
}

// y: (NC,oh,ow) from x: (NC,ih,iw)
__global__ void bilinear_resize_kernel(const float* __restrict__ x, float* __restrict__ y, int ih, int iw, int oh,
                                       int ow, int64_t total) {
    GRID_STRIDE(t, total) {
        const int64_t plane = t / ((int64_t)oh * ow);
        const int rem = (int)(t % ((int64_t)oh * ow));
        y[t] = bilinear_at(x + plane * (int64_t)ih * iw, ih, iw, oh, ow, rem / ow, rem % ow);
    }
}

// y: (NC,oh,ow) from x: (NC,ih,iw), nearest as torch mode='nearest': src = min(floor(dst * in/out), in-1)
__global__ void nearest_resize_kernel(const float* __restrict__ x, float* __restrict__ y, int ih, int iw, int oh,
                                      int ow, int64_t total) {
    const float sh = (float)ih / (float)oh, sw = (float)iw / (float)ow;
    GRID_STRIDE(t, total) {
        const int64_t plane = t / ((int64_t)oh * ow);
        const int rem = (int)(t % ((int64_t)oh * ow));
        const int sy = min((int)floorf((rem / ow) * sh), ih - 1);
        const int sx = min((int)floorf((rem % ow) * sw), iw - 1);
        y[t] = x[plane * (int64_t)ih * iw + (int64_t)sy * iw + sx];
    }
}

// One block per image: out = minmax(relu(resize(minmax(relu(cam))))); cam modified in place.
__global__ void cam_finish_kernel(float* cam, float* out, int n, int h, int w, int oh, int ow) {
    __shared__ float scratch[32];
    for (int i = blockIdx.x; i < n; i += gridDim.x) {
        float* c = cam + (int64_t)i * h * w;
        float* o = out + (int64_t)i * oh * ow;
        block_relu_minmax(c, (int64_t)h * w, scratch);
        const int64_t op = (int64_t)oh * ow;
        for (int64_t t = threadIdx.x; t < op; t += blockDim.x)
            o[t] = bilinear_at(c, h, w, oh, ow, (int)(t / ow), (int)(t % ow));
        __syncthreads();
        block_relu_minmax(o, op, scratch);
    }
}

// ---- launchers

extern "C" int gradcam_weights_cuda(int kind, const float* a, const float* g, float* w, int n, int k, int64_t p) {
    SALIENT_CUDA_CHECK_PTR(a);
    SALIENT_CUDA_CHECK_PTR(g);
    SALIENT_CUDA_CHECK_PTR(w);
    SALIENT_CUDA_CHECK(n > 0 && k > 0 && p > 0, "gradcam_weights_cuda: bad sizes n=%d k=%d p=%lld", n, k, (long long)p);
    SALIENT_CUDA_CHECK(kind >= CAMW_GRADCAM && kind <= CAMW_XGRADCAM, "gradcam_weights_cuda: unknown kind %d", kind);
    const int64_t planes = (int64_t)n * k;
    const int threads = p >= 256 ? 256 : (p >= 128 ? 128 : 64);
    const unsigned grid = (unsigned)(planes < 65535 * 16 ? planes : 65535 * 16);
    gradcam_weights_kernel<<<grid, threads>>>(kind, a, g, w, planes, p);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int cam_combine_cuda(int mode, const float* a, const float* wg, float* cam, int n, int k, int64_t p) {
    SALIENT_CUDA_CHECK_PTR(a);
    SALIENT_CUDA_CHECK_PTR(wg);
    SALIENT_CUDA_CHECK_PTR(cam);
    SALIENT_CUDA_CHECK(n > 0 && k > 0 && p > 0, "cam_combine_cuda: bad sizes n=%d k=%d p=%lld", n, k, (long long)p);
    SALIENT_CUDA_CHECK(mode >= CAMC_WEIGHTED && mode <= CAMC_HIRESCAM, "cam_combine_cuda: unknown mode %d", mode);
    const int64_t total = (int64_t)n * p;
    cam_combine_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(mode, a, wg, cam, k, p, total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int bilinear_resize_cuda(const float* x, float* y, int nc, int ih, int iw, int oh, int ow) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(nc > 0 && ih > 0 && iw > 0 && oh > 0 && ow > 0, "bilinear_resize_cuda: bad sizes");
    const int64_t total = (int64_t)nc * oh * ow;
    bilinear_resize_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, y, ih, iw, oh, ow, total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int nearest_resize_cuda(const float* x, float* y, int nc, int ih, int iw, int oh, int ow) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(nc > 0 && ih > 0 && iw > 0 && oh > 0 && ow > 0, "nearest_resize_cuda: bad sizes");
    const int64_t total = (int64_t)nc * oh * ow;
    nearest_resize_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, y, ih, iw, oh, ow, total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int cam_finish_cuda(float* cam, float* out, int n, int h, int w, int oh, int ow) {
    SALIENT_CUDA_CHECK_PTR(cam);
    SALIENT_CUDA_CHECK_PTR(out);
    SALIENT_CUDA_CHECK(n > 0 && h > 0 && w > 0 && oh > 0 && ow > 0, "cam_finish_cuda: bad sizes");
    const unsigned grid = (unsigned)(n < 65535 ? n : 65535);
    cam_finish_kernel<<<grid, 512>>>(cam, out, n, h, w, oh, ow);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
