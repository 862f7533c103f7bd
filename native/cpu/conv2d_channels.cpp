// One output channel per image of a 2-D conv (conv_channels.h): channel channels[i] of image i, with
// its bias, residual and activation; every other channel of the image written 0. Threads take
// whole images; each output is one chain of fmaf over (ci, r, s), the same chain the CUDA kernel
// runs per thread, so the two engines agree bit for bit, and an image gets the same bits in any
// batch and on any number of threads.
#include <cmath>
#include <cstring>
#include <vector>
#include <omp.h>
#include "common.h"
#include "conv2d.h"
#include "conv2d_epilogue.h"
#include "conv_channels.h"
#include "salient.h"
#include "salient_host.h"

using salient::conv::valid_range;
using salient::host::ConvGeom;

extern "C" int conv2d_forward_channels_cpu(const float* x, const float* w, const float* bias, const float* z,
                                           const float* channels, float* y, int n, int c, int h, int wd, int k,
                                           int r, int s, int stride_h, int stride_w, int pad_top, int pad_left,
                                           int pad_bottom, int pad_right, int dil_h, int dil_w, int groups, int act,
                                           float alpha, float beta) {
    static const char* const fn = "conv2d_forward_channels_cpu";
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(w);
    SALIENT_CHECK_PTR(channels);
    SALIENT_CHECK_PTR(y);
    ConvGeom g{n, c, h, wd, k, r, s, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dil_h, dil_w, groups,
               0, 0, 0, 0};
    if (int rc = salient::host::check_conv_geometry(fn, g)) return rc;
    const int64_t plane = (int64_t)g.oh * g.ow, per = (int64_t)k * plane;
    salient::conv::Epilogue e;  // the activation and overlap checks of the fused convs
    if (int rc = salient::conv::make_epilogue(fn, act, alpha, beta, true, z, y, (int64_t)n * per, x,
                                              (int64_t)n * c * h * wd, e))
        return rc;
    const uintptr_t ya = (uintptr_t)y, ye = ya + sizeof(float) * (uintptr_t)(n * per);
    const uintptr_t xa = (uintptr_t)x, xe = xa + sizeof(float) * (uintptr_t)((int64_t)n * c * h * wd);
    SALIENT_CHECK(xe <= ya || ye <= xa, "%s: the input overlaps the output", fn);
    for (int i = 0; i < n; i++) {
        const float v = channels[i];
        SALIENT_CHECK(v >= 0.f && v < (float)k && v == std::floor(v), "%s: channel %g of image %d is not in 0..%d", fn,
                      (double)v, i, k - 1);
    }
#pragma omp parallel
    {
        std::vector<float> acc((size_t)plane);
#pragma omp for schedule(static)
        for (int i = 0; i < n; i++) {
            const int kk = (int)channels[i], grp = kk / g.kg;
            float* yi = y + (int64_t)i * per;
            std::memset(yi, 0, sizeof(float) * (size_t)per);
            std::fill(acc.begin(), acc.end(), 0.f);
            const float* wk = w + (int64_t)kk * g.cg * r * s;
            for (int ci = 0; ci < g.cg; ci++) {
                const float* xp = x + ((int64_t)i * c + (int64_t)grp * g.cg + ci) * h * wd;
                for (int rr = 0; rr < r; rr++) {
                    int p0, p1;
                    valid_range(rr * dil_h - pad_top, stride_h, h, g.oh, p0, p1);
                    for (int ss = 0; ss < s; ss++) {
                        const float wv = wk[((int64_t)ci * r + rr) * s + ss];
                        const int off = ss * dil_w - pad_left;
                        int q0, q1;
                        valid_range(off, stride_w, wd, g.ow, q0, q1);
                        for (int p = p0; p < p1; p++) {
                            const float* xr = xp + (int64_t)(p * stride_h - pad_top + rr * dil_h) * wd + off;
                            float* ar = acc.data() + (int64_t)p * g.ow;
                            if (stride_w == 1) {
#pragma omp simd
                                for (int q = q0; q < q1; q++) ar[q] = __builtin_fmaf(wv, xr[q], ar[q]);
                            } else {
                                for (int q = q0; q < q1; q++) ar[q] = __builtin_fmaf(wv, xr[(int64_t)q * stride_w], ar[q]);
                            }
                        }
                    }
                }
            }
            float* yk = yi + (int64_t)kk * plane;
            const float* zk = z ? z + (int64_t)i * per + (int64_t)kk * plane : nullptr;
            for (int64_t j = 0; j < plane; j++)
                yk[j] = salient_conv_channels::finish(acc[j], bias, kk, zk ? zk + j : nullptr, act, alpha, beta);
        }
    }
    return SALIENT_OK;
}
