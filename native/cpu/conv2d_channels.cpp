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
#include "isa.h"
#include "salient.h"
#include "salient_host.h"
#if SALIENT_HAVE_AVX512
#include <immintrin.h>
#endif

using salient::conv::valid_range;
using salient::host::ConvGeom;

namespace {

// The chains of one image's channel below (acc: oh rows of ow floats, from 0), the loops' order.
void channel_chains(const float* xg, const float* wk, const ConvGeom& g, float* acc) {
    const int r = g.r, s = g.s, h = g.h, wd = g.w;
    for (int ci = 0; ci < g.cg; ci++) {
        const float* xp = xg + (int64_t)ci * h * wd;
        for (int rr = 0; rr < r; rr++) {
            int p0, p1;
            valid_range(rr * g.dh - g.pt, g.sh, h, g.oh, p0, p1);
            for (int ss = 0; ss < s; ss++) {
                const float wv = wk[((int64_t)ci * r + rr) * s + ss];
                const int off = ss * g.dw - g.pl;
                int q0, q1;
                valid_range(off, g.sw, wd, g.ow, q0, q1);
                for (int p = p0; p < p1; p++) {
                    const float* xr = xp + (int64_t)(p * g.sh - g.pt + rr * g.dh) * wd + off;
                    float* ar = acc + (int64_t)p * g.ow;
                    if (g.sw == 1) {
#pragma omp simd
                        for (int q = q0; q < q1; q++) ar[q] = __builtin_fmaf(wv, xr[q], ar[q]);
                    } else {
                        for (int q = q0; q < q1; q++) ar[q] = __builtin_fmaf(wv, xr[(int64_t)q * g.sw], ar[q]);
                    }
                }
            }
        }
    }
}

#if SALIENT_HAVE_AVX512
SALIENT_AVX512_BEGIN
// channel_chains for stride-1 rows of at most 16 outputs (a deep layer's small plane), 8 output rows
// at a time in registers: each tap one masked FMA per row, the lanes it does not reach left as they
// are, so every output gets the same chain as above.
void channel_chains512(const float* xg, const float* wk, const ConvGeom& g, float* acc) {
    const int r = g.r, s = g.s, h = g.h, wd = g.w;
    for (int pb = 0; pb < g.oh; pb += 8) {
        __m512 a[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) a[i] = _mm512_setzero_ps();
        for (int ci = 0; ci < g.cg; ci++) {
            const float* xp = xg + (int64_t)ci * h * wd;
            for (int rr = 0; rr < r; rr++) {
                int p0, p1;
                valid_range(rr * g.dh - g.pt, 1, h, g.oh, p0, p1);
                p0 = std::max(p0, pb) - pb;
                p1 = std::min(p1, pb + 8) - pb;
                if (p1 <= p0) continue;
                const float* xrow = xp + (int64_t)(pb - g.pt + rr * g.dh) * wd;
                for (int ss = 0; ss < s; ss++) {
                    const __m512 wv = _mm512_set1_ps(wk[((int64_t)ci * r + rr) * s + ss]);
                    const int off = ss * g.dw - g.pl;
                    int q0, q1;
                    valid_range(off, 1, wd, g.ow, q0, q1);
                    if (q1 <= q0) continue;
                    const __mmask16 m = (__mmask16)(((1u << (q1 - q0)) - 1u) << q0);
#pragma GCC unroll 8
                    for (int i = 0; i < 8; i++)
                        if (i >= p0 && i < p1)
                            a[i] = _mm512_mask3_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, xrow + (int64_t)i * wd + off), a[i], m);
                }
            }
        }
        const __mmask16 row = (__mmask16)((1u << g.ow) - 1u);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            if (pb + i < g.oh) _mm512_mask_storeu_ps(acc + (int64_t)(pb + i) * g.ow, row, a[i]);
    }
}
SALIENT_AVX512_END
#endif

}  // namespace

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
            const float* xg = x + ((int64_t)i * c + (int64_t)grp * g.cg) * h * wd;
#if SALIENT_HAVE_AVX512
            if (salient::isa::avx512() && stride_w == 1 && stride_h == 1 && g.ow <= 16) channel_chains512(xg, wk, g, acc.data());
            else
#endif
                channel_chains(xg, wk, g, acc.data());
            float* yk = yi + (int64_t)kk * plane;
            const float* zk = z ? z + (int64_t)i * per + (int64_t)kk * plane : nullptr;
            for (int64_t j = 0; j < plane; j++)
                yk[j] = salient_conv_channels::finish(acc[j], bias, kk, zk ? zk + j : nullptr, act, alpha, beta);
        }
    }
    return SALIENT_OK;
}
