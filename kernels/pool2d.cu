// pool2d.cu: 2-D max and average pooling, forward and data gradient, the CUDA twin of
// native/cpu/pool2d.cpp (global pooling is the window covering the whole plane).
//   max: y[n,c,p,q] = max_{r,s} x[n,c, p*sh - pt + r*dh, q*sw - pl + s*dw]  (pads are -inf)
//        PyTorch's tie rule: a position replaces the running max when `v > max || isnan(v)`,
//        scanning row-major, so the FIRST maximum wins and receives the gradient.
//   avg: y = sum / cnt, cnt counting positions inside the input (count_include_pad = 0) or
//        inside the padded input (= 1, ONNX; a ceil-mode window's overhang never counts).
//
// FLOP/byte: kh*kw compares or adds per output against 4 B written and ~4*kh*kw/(sh*sw) B
// read (cached), i.e. memory-bound. The backward kernels are gathers, one thread per input
// element visiting the (at most kh*kw) windows that contain it, so dx is written once,
// without atomics, and the result is deterministic. Max backward recomputes each window's
// argmax instead of storing indices (kh*kw extra cached reads per visited window).
#include "common.cuh"

// ---- device helpers

struct PoolGeom {
    int n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, oh, ow;
};

// Index in the (h,w) plane of the first maximum of window (p,q), or -1 if the window holds
// no input position; *best gets the max (or -inf).
__device__ __forceinline__ int window_argmax(const float* __restrict__ xp, const PoolGeom& g, int p, int q,
                                             float* best_out) {
    float best = -INFINITY;
    int idx = -1;
    for (int r = 0; r < g.kh; r++) {
        const int ih = p * g.sh - g.pt + r * g.dh;
        if (ih < 0 || ih >= g.h) continue;
        for (int s = 0; s < g.kw; s++) {
            const int iw = q * g.sw - g.pl + s * g.dw;
            if (iw < 0 || iw >= g.w) continue;
            const float v = xp[ih * g.w + iw];
            if (idx < 0 || v > best || isnan(v)) {
                best = v;
                idx = ih * g.w + iw;
            }
        }
    }
    *best_out = best;
    return idx;
}

__device__ __forceinline__ int count_in(int start, int k, int d, int lo, int hi) {
    int cnt = 0;
    for (int t = 0; t < k; t++) {
        const int i = start + t * d;
        cnt += (i >= lo && i < hi);
    }
    return cnt;
}

__device__ __forceinline__ int avg_divisor(const PoolGeom& g, int p, int q, int include_pad) {
    const int h0 = p * g.sh - g.pt, w0 = q * g.sw - g.pl;
    if (include_pad)
        return count_in(h0, g.kh, g.dh, -g.pt, g.h + g.pb) * count_in(w0, g.kw, g.dw, -g.pl, g.w + g.pr);
    return count_in(h0, g.kh, g.dh, 0, g.h) * count_in(w0, g.kw, g.dw, 0, g.w);
}

// ---- kernels

// y: (n,c,oh,ow); one thread per output
__global__ void maxpool2d_forward_kernel(const float* __restrict__ x, float* __restrict__ y, PoolGeom g, int64_t total) {
    GRID_STRIDE(t, total) {
        const int q = (int)(t % g.ow), p = (int)((t / g.ow) % g.oh);
        const int64_t plane = t / ((int64_t)g.oh * g.ow);
        float best;
        window_argmax(x + plane * (int64_t)g.h * g.w, g, p, q, &best);
        y[t] = best;
    }
}

// dx: (n,c,h,w); one thread per input element, gathering dy from the windows whose first
// maximum is this element. Window (p,q) contains (ih,iw) iff ih = p*sh - pt + r*dh for some
// r (and likewise for iw), and distinct r give distinct p, so (r,s) enumerates them once.
__global__ void maxpool2d_backward_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                          float* __restrict__ dx, PoolGeom g, int64_t total) {
    GRID_STRIDE(t, total) {
        const int iw = (int)(t % g.w), ih = (int)((t / g.w) % g.h);
        const int64_t plane = t / ((int64_t)g.h * g.w);
        const float* xp = x + plane * (int64_t)g.h * g.w;
        const float* dyp = dy + plane * (int64_t)g.oh * g.ow;
        const int me = ih * g.w + iw;
        float acc = 0.f;
        for (int r = 0; r < g.kh; r++) {
            const int ph = ih + g.pt - r * g.dh;
            if (ph < 0 || ph % g.sh != 0) continue;
            const int p = ph / g.sh;
            if (p >= g.oh) continue;
            for (int s = 0; s < g.kw; s++) {
                const int qw = iw + g.pl - s * g.dw;
                if (qw < 0 || qw % g.sw != 0) continue;
                const int q = qw / g.sw;
                if (q >= g.ow) continue;
                float best;
                if (window_argmax(xp, g, p, q, &best) == me) acc += dyp[(int64_t)p * g.ow + q];
            }
        }
        dx[t] = acc;
    }
}

__global__ void avgpool2d_forward_kernel(const float* __restrict__ x, float* __restrict__ y, PoolGeom g,
                                         int include_pad, int64_t total) {
    GRID_STRIDE(t, total) {
        const int q = (int)(t % g.ow), p = (int)((t / g.ow) % g.oh);
        const int64_t plane = t / ((int64_t)g.oh * g.ow);
        const float* xp = x + plane * (int64_t)g.h * g.w;
        float sum = 0.f;
        for (int r = 0; r < g.kh; r++) {
            const int ih = p * g.sh - g.pt + r * g.dh;
            if (ih < 0 || ih >= g.h) continue;
            for (int s = 0; s < g.kw; s++) {
                const int iw = q * g.sw - g.pl + s * g.dw;
                if (iw >= 0 && iw < g.w) sum += xp[ih * g.w + iw];
            }
        }
        const int cnt = avg_divisor(g, p, q, include_pad);
        y[t] = cnt > 0 ? sum / (float)cnt : 0.f;
    }
}

// Global average pooling: one warp per plane, shuffle reduction (the common GAP before the head).
__global__ void global_avgpool_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t planes,
                                              int hw) {
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (warp >= planes) return;
    const float* xp = x + warp * hw;
    float s = 0.f;
    for (int i = lane; i < hw; i += 32) s += xp[i];
    s = warp_sum(s);
    if (lane == 0) y[warp] = s / (float)hw;
}

__global__ void avgpool2d_backward_kernel(const float* __restrict__ dy, float* __restrict__ dx, PoolGeom g,
                                          int include_pad, int64_t total) {
    GRID_STRIDE(t, total) {
        const int iw = (int)(t % g.w), ih = (int)((t / g.w) % g.h);
        const int64_t plane = t / ((int64_t)g.h * g.w);
        const float* dyp = dy + plane * (int64_t)g.oh * g.ow;
        float acc = 0.f;
        for (int r = 0; r < g.kh; r++) {
            const int ph = ih + g.pt - r * g.dh;
            if (ph < 0 || ph % g.sh != 0) continue;
            const int p = ph / g.sh;
            if (p >= g.oh) continue;
            for (int s = 0; s < g.kw; s++) {
                const int qw = iw + g.pl - s * g.dw;
                if (qw < 0 || qw % g.sw != 0) continue;
                const int q = qw / g.sw;
                if (q >= g.ow) continue;
                const int cnt = avg_divisor(g, p, q, include_pad);
                if (cnt > 0) acc += dyp[(int64_t)p * g.ow + q] / (float)cnt;
            }
        }
        dx[t] = acc;
    }
}

// ---- launchers

static int check_pool(const char* fn, const PoolGeom& g) {
    SALIENT_CUDA_CHECK(g.n > 0 && g.c > 0 && g.h > 0 && g.w > 0 && g.kh > 0 && g.kw > 0 && g.oh > 0 && g.ow > 0,
                       "%s: non-positive size (n=%d c=%d h=%d w=%d kernel=%dx%d out=%dx%d)", fn, g.n, g.c, g.h, g.w,
                       g.kh, g.kw, g.oh, g.ow);
    SALIENT_CUDA_CHECK(g.sh > 0 && g.sw > 0 && g.dh > 0 && g.dw > 0, "%s: strides and dilations must be positive", fn);
    SALIENT_CUDA_CHECK(g.pt >= 0 && g.pl >= 0 && g.pb >= 0 && g.pr >= 0, "%s: negative pad", fn);
    SALIENT_CUDA_CHECK((int64_t)(g.oh - 1) * g.sh <= (int64_t)g.h + g.pt + g.pb + (int64_t)g.dh * (g.kh - 1) &&
                           (int64_t)(g.ow - 1) * g.sw <= (int64_t)g.w + g.pl + g.pr + (int64_t)g.dw * (g.kw - 1),
                       "%s: output %dx%d does not fit the padded %dx%d input", fn, g.oh, g.ow, g.h, g.w);
    SALIENT_CUDA_CHECK((int64_t)g.h * g.w < (int64_t)1 << 31, "%s: plane of %dx%d too large", fn, g.h, g.w);
    return SALIENT_OK;
}

#define POOL_GEOM PoolGeom g{n, c, h, wd, kh, kw, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dil_h, dil_w, oh, ow}

extern "C" int maxpool2d_forward_cuda(const float* x, float* y, int n, int c, int h, int wd, int kh, int kw,
                                      int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                      int pad_right, int dil_h, int dil_w, int oh, int ow) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(y);
    POOL_GEOM;
    if (int rc = check_pool(__func__, g)) return rc;
    const int64_t total = (int64_t)n * c * oh * ow;
    maxpool2d_forward_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, y, g, total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int maxpool2d_backward_cuda(const float* x, const float* dy, float* dx, int n, int c, int h, int wd, int kh,
                                       int kw, int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                       int pad_right, int dil_h, int dil_w, int oh, int ow) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(dy);
    SALIENT_CUDA_CHECK_PTR(dx);
    POOL_GEOM;
    if (int rc = check_pool(__func__, g)) return rc;
    const int64_t total = (int64_t)n * c * h * wd;
    maxpool2d_backward_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, dy, dx, g, total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int avgpool2d_forward_cuda(const float* x, float* y, int n, int c, int h, int wd, int kh, int kw,
                                      int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                      int pad_right, int dil_h, int dil_w, int oh, int ow, int count_include_pad) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(y);
    POOL_GEOM;
    if (int rc = check_pool(__func__, g)) return rc;
    const int64_t planes = (int64_t)n * c;
    const bool global = kh == h && kw == wd && oh == 1 && ow == 1 && pad_top == 0 && pad_left == 0 &&
                        pad_bottom == 0 && pad_right == 0 && dil_h == 1 && dil_w == 1;
    if (global) {
        global_avgpool_forward_kernel<<<(unsigned)salient_cuda::ceil_div(planes * 32, salient_cuda::kThreads),
                                        salient_cuda::kThreads>>>(x, y, planes, h * wd);
    } else {
        const int64_t total = planes * oh * ow;
        avgpool2d_forward_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, y, g, count_include_pad,
                                                                                           total);
    }
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int avgpool2d_backward_cuda(const float* dy, float* dx, int n, int c, int h, int wd, int kh, int kw,
                                       int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                       int pad_right, int dil_h, int dil_w, int oh, int ow, int count_include_pad) {
    SALIENT_CUDA_CHECK_PTR(dy);
    SALIENT_CUDA_CHECK_PTR(dx);
    POOL_GEOM;
    if (int rc = check_pool(__func__, g)) return rc;
    const int64_t total = (int64_t)n * c * h * wd;
    avgpool2d_backward_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(dy, dx, g, count_include_pad,
                                                                                        total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
