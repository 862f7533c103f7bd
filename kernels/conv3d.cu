// conv3d.cu: 3-D convolution forward and its data gradient (no weight gradient), the CUDA
// twins of native/cpu/conv3d.cpp. Groups, strides, dilations and asymmetric pads on (d,h,w).
//
//   forward:       y[n,k,z,p,q] = act(bias[k] + sum_{c,t,r,s} w[k,c,t,r,s]
//                                 x[n, g*Cg + c, z*sd - pf + t*dd, p*sh - pt + r*dh, q*sw - pl + s*dw])
//   backward_data: dx[n,c,i,j,l] = sum_{k,t,r,s} w[k,c,t,r,s] dy[n, g*Kg + k, (i + pf - t*dd)/sd, ...]
//                  (terms whose quotient is not an exact in-range integer vanish)
//
// Direct kernels, one thread per output (forward) or per input element (backward, a gather,
// so dx is written once, without atomics, deterministically). Weights are read through the
// read-only cache; consecutive threads take consecutive q (or l), so x, y and dy accesses
// coalesce. FLOP/byte: a 3x3x3 64->64 layer does 2*64*27 = 3456 FLOP per output against
// 64*27 weight reads (cached) and 27*64 input reads (mostly L1/L2 hits): compute-bound on
// paper, but without shared-memory tiling it runs at a fraction of FMA peak; the implicit-GEMM
// tiling of conv2d.cu, extended by one reduction axis, is the known next step.
#include "common.cuh"
#include "../native/conv_channels.h"

// ---- device helpers

using salient::host::Vol3Geom;

// fused_act: the conv epilogues' activation, shared with conv2d.cu and the CPU (native/conv_channels.h)
__device__ __forceinline__ float fused_act(float v, int act, float lo, float hi) {
    return salient_conv_channels::activate(v, act, lo, hi);
}

// ---- kernels

// y: (n,k,od,oh,ow); one thread per output
__global__ void conv3d_forward_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                      const float* __restrict__ bias, float* __restrict__ y, Vol3Geom g, int act,
                                      float lo, float hi, int64_t total) {
    GRID_STRIDE(i, total) {
        const int q = (int)(i % g.out[2]), p = (int)((i / g.out[2]) % g.out[1]);
        const int z = (int)((i / ((int64_t)g.out[2] * g.out[1])) % g.out[0]);
        const int64_t nk = i / ((int64_t)g.out[2] * g.out[1] * g.out[0]);
        const int k = (int)(nk % g.k);
        const int64_t n = nk / g.k;
        const int gi = k / g.kg;
        const int64_t ivol = (int64_t)g.in[0] * g.in[1] * g.in[2];
        const int kvol = g.ker[0] * g.ker[1] * g.ker[2];
        float acc = bias ? bias[k] : 0.f;
        for (int c = 0; c < g.cg; c++) {
            const float* xc = x + (n * g.c + (int64_t)gi * g.cg + c) * ivol;
            const float* wc = w + ((int64_t)k * g.cg + c) * kvol;
            for (int t = 0; t < g.ker[0]; t++) {
                const int iz = z * g.stride[0] - g.pad0[0] + t * g.dil[0];
                if (iz < 0 || iz >= g.in[0]) continue;
                for (int r = 0; r < g.ker[1]; r++) {
                    const int ih = p * g.stride[1] - g.pad0[1] + r * g.dil[1];
                    if (ih < 0 || ih >= g.in[1]) continue;
                    const float* xr = xc + ((int64_t)iz * g.in[1] + ih) * g.in[2];
                    const float* wr = wc + (t * g.ker[1] + r) * g.ker[2];
                    for (int s = 0; s < g.ker[2]; s++) {
                        const int iw = q * g.stride[2] - g.pad0[2] + s * g.dil[2];
                        if (iw >= 0 && iw < g.in[2]) acc = fmaf(__ldg(wr + s), xr[iw], acc);
                    }
                }
            }
        }
        y[i] = fused_act(acc, act, lo, hi);
    }
}

// dx: (n,c,d,h,w); one thread per input element, gathering from the outputs whose windows read it
__global__ void conv3d_backward_data_kernel(const float* __restrict__ dy, const float* __restrict__ w,
                                            float* __restrict__ dx, Vol3Geom g, int64_t total) {
    GRID_STRIDE(i, total) {
        const int l = (int)(i % g.in[2]), j = (int)((i / g.in[2]) % g.in[1]);
        const int iz = (int)((i / ((int64_t)g.in[2] * g.in[1])) % g.in[0]);
        const int64_t nc = i / ((int64_t)g.in[2] * g.in[1] * g.in[0]);
        const int c = (int)(nc % g.c);
        const int64_t n = nc / g.c;
        const int gi = c / g.cg, cc = c % g.cg;
        const int64_t ovol = (int64_t)g.out[0] * g.out[1] * g.out[2];
        const int kvol = g.ker[0] * g.ker[1] * g.ker[2];
        float acc = 0.f;
        for (int t = 0; t < g.ker[0]; t++) {
            const int vz = iz + g.pad0[0] - t * g.dil[0];
            if (vz < 0 || vz % g.stride[0] != 0 || vz / g.stride[0] >= g.out[0]) continue;
            const int z = vz / g.stride[0];
            for (int r = 0; r < g.ker[1]; r++) {
                const int vh = j + g.pad0[1] - r * g.dil[1];
                if (vh < 0 || vh % g.stride[1] != 0 || vh / g.stride[1] >= g.out[1]) continue;
                const int p = vh / g.stride[1];
                for (int s = 0; s < g.ker[2]; s++) {
                    const int vw = l + g.pad0[2] - s * g.dil[2];
                    if (vw < 0 || vw % g.stride[2] != 0 || vw / g.stride[2] >= g.out[2]) continue;
                    const int q = vw / g.stride[2];
                    const int64_t o = ((int64_t)z * g.out[1] + p) * g.out[2] + q;
                    const int tap = (t * g.ker[1] + r) * g.ker[2] + s;
                    for (int kk = 0; kk < g.kg; kk++) {
                        const int k = gi * g.kg + kk;
                        acc = fmaf(__ldg(w + ((int64_t)k * g.cg + cc) * kvol + tap), dy[(n * g.k + k) * ovol + o], acc);
                    }
                }
            }
        }
        dx[i] = acc;
    }
}

// ---- launchers

extern "C" int conv3d_forward_cuda(const float* x, const float* w, const float* bias, float* y, const int32_t* geom,
                                   int act, float alpha, float beta) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(w);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(act < 0 || act == SALIENT_ACT_RELU || act == SALIENT_ACT_CLIP,
                       "%s: activation %d cannot be fused (none < 0, Relu %d or Clip %d)", __func__, act,
                       SALIENT_ACT_RELU, SALIENT_ACT_CLIP);
    Vol3Geom g;
    if (int rc = salient::host::unpack_conv3d(__func__, geom, g)) return rc;
    const int64_t total = (int64_t)g.n * g.k * g.out_vol();
    conv3d_forward_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, w, bias, y, g, act, alpha,
                                                                                     beta, total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int conv3d_backward_data_cuda(const float* dy, const float* w, float* dx, const int32_t* geom) {
    SALIENT_CUDA_CHECK_PTR(dy);
    SALIENT_CUDA_CHECK_PTR(w);
    SALIENT_CUDA_CHECK_PTR(dx);
    Vol3Geom g;
    if (int rc = salient::host::unpack_conv3d(__func__, geom, g)) return rc;
    const int64_t total = (int64_t)g.n * g.c * g.in_vol();
    conv3d_backward_data_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(dy, w, dx, g, total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
