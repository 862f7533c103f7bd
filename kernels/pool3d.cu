// pool3d.cu: 3-D max and average pooling, forward and data gradient, the CUDA twin of
// native/cpu/pool3d.cpp. The window arithmetic (scan order and NaN rule of max, the divisor
// of average with and without count_include_pad) is ../native/pool3d_window.h, compiled here
// as __host__ __device__ and shared with the CPU engine.
//
// FLOP/byte: kd*kh*kw compares or adds per output against 4 B written and
// ~4*kd*kh*kw/(sd*sh*sw) B read (cached): memory-bound. The backward kernels are gathers, one
// thread per input element visiting the (at most kd*kh*kw) windows that contain it, so dx is
// written once, without atomics, deterministically; max recomputes each window's argmax
// instead of storing indices.
#include "common.cuh"
#include "pool3d_window.h"

// ---- device helpers

using salient::host::Vol3Geom;
namespace v3 = salient::vol3;

// ---- kernels

// y: (n,c,od,oh,ow); one thread per output; avg < 0: max, else include_pad
__global__ void pool3d_forward_kernel(const float* __restrict__ x, float* __restrict__ y, Vol3Geom g, int avg,
                                      int64_t total) {
    GRID_STRIDE(i, total) {
        const int q = (int)(i % g.out[2]), p = (int)((i / g.out[2]) % g.out[1]);
        const int z = (int)((i / ((int64_t)g.out[2] * g.out[1])) % g.out[0]);
        const int64_t plane = i / ((int64_t)g.out[2] * g.out[1] * g.out[0]);
        const float* xv = x + plane * ((int64_t)g.in[0] * g.in[1] * g.in[2]);
        float v;
        if (avg < 0) {
            v3::window_argmax(xv, g, z, p, q, &v);
        } else {
            const int cnt = v3::avg_divisor(g, z, p, q, avg);
            v = cnt > 0 ? v3::window_sum(xv, g, z, p, q) / (float)cnt : 0.f;
        }
        y[i] = v;
    }
}

// dx: (n,c,d,h,w); one thread per input element, gathering dy from the windows that contain it
// (window o contains i iff i = o*stride - pad0 + j*dil for a tap j; distinct taps give distinct o)
__global__ void pool3d_backward_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                       float* __restrict__ dx, Vol3Geom g, int avg, int64_t total) {
    GRID_STRIDE(i, total) {
        const int l = (int)(i % g.in[2]), j = (int)((i / g.in[2]) % g.in[1]);
        const int iz = (int)((i / ((int64_t)g.in[2] * g.in[1])) % g.in[0]);
        const int64_t ivol = (int64_t)g.in[0] * g.in[1] * g.in[2];
        const int64_t plane = i / ivol, me = i % ivol;
        const float* dyv = dy + plane * ((int64_t)g.out[0] * g.out[1] * g.out[2]);
        float acc = 0.f;
        for (int t = 0; t < g.ker[0]; t++) {
            const int z = v3::window_of(g, 0, iz, t);
            if (z < 0) continue;
            for (int r = 0; r < g.ker[1]; r++) {
                const int p = v3::window_of(g, 1, j, r);
                if (p < 0) continue;
                for (int s = 0; s < g.ker[2]; s++) {
                    const int q = v3::window_of(g, 2, l, s);
                    if (q < 0) continue;
                    const float d = dyv[((int64_t)z * g.out[1] + p) * g.out[2] + q];
                    if (avg < 0) {
                        float best;
                        if (v3::window_argmax(x + plane * ivol, g, z, p, q, &best) == me) acc += d;
                    } else {
                        const int cnt = v3::avg_divisor(g, z, p, q, avg);
                        if (cnt > 0) acc += d / (float)cnt;
                    }
                }
            }
        }
        dx[i] = acc;
    }
}

// ---- launchers

static int pool3d_launch(const char* fn, const float* x, const float* dy, float* out, const int32_t* geom, int avg,
                         bool backward) {
    Vol3Geom g;
    if (int rc = salient::host::unpack_pool3d(fn, geom, g)) return rc;
    if (backward) {
        const int64_t total = (int64_t)g.n * g.c * g.in_vol();
        pool3d_backward_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, dy, out, g, avg, total);
    } else {
        const int64_t total = (int64_t)g.n * g.c * g.out_vol();
        pool3d_forward_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, out, g, avg, total);
    }
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int maxpool3d_forward_cuda(const float* x, float* y, const int32_t* geom) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(y);
    return pool3d_launch(__func__, x, nullptr, y, geom, -1, false);
}

extern "C" int maxpool3d_backward_cuda(const float* x, const float* dy, float* dx, const int32_t* geom) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(dy);
    SALIENT_CUDA_CHECK_PTR(dx);
    return pool3d_launch(__func__, x, dy, dx, geom, -1, true);
}

extern "C" int avgpool3d_forward_cuda(const float* x, float* y, const int32_t* geom, int count_include_pad) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(y);
    return pool3d_launch(__func__, x, nullptr, y, geom, count_include_pad ? 1 : 0, false);
}

extern "C" int avgpool3d_backward_cuda(const float* dy, float* dx, const int32_t* geom, int count_include_pad) {
    SALIENT_CUDA_CHECK_PTR(dy);
    SALIENT_CUDA_CHECK_PTR(dx);
    return pool3d_launch(__func__, nullptr, dy, dx, geom, count_include_pad ? 1 : 0, true);
}
