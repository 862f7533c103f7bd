// A network's stem on AVX-512: a 3x3 conv at stride 2 from a few input channels (an image's 3)
// onto 16k output channels, the outputs of a row on the lanes (stem_applies).
//
// The direct kernel (conv3d_implicit.cpp's direct512) puts the output channels on the lanes and
// broadcasts each input value: at 27 taps an output its tile's sums are few against the register
// transposes that turn them into the planes' rows, the masked stores of 14 outputs that straddle
// lines, and its padded copy of the input (MobileNetV2's stem: 106-115 GFLOP/s). Here 16 outputs of
// a row are the lanes: per input channel and window row, two pairs of masked loads give the row's
// inputs at the three window columns (the even and the odd columns split by two-source permutes,
// as the stride-2 depthwise rows do; columns outside the plane, and rows outside it, read as
// zeros), and each of the three vectors meets 16 output channels' weights, broadcast from a
// tap-major copy of the filters that stays in L1. 16 sums in registers; each finished vector is one
// row segment of one channel's plane, stored whole (a row of 112 outputs is 7 of them, on lines of
// their own).
//
// Each output is direct512's chain: from zero, one fused multiply-add per tap in the order (input
// channel, window row, window column), the zeros of the pads included, then the bias added (0 when
// there is none) and the epilogue; so the bits are those of the direct kernel and of every path
// that shares its chain (Direct2dTest).
#include <algorithm>
#include <omp.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include "conv2d.h"
#include "conv2d_epilogue.h"
#include "epilogue512.h"
#include "isa.h"
#include "window_s2.h"

namespace salient {
namespace conv {

namespace {
// input channels a stem may have (its filters' tap-major copy lives on the stack: kStemMaxC * 9 taps
// of at most kStemMaxK channels)
constexpr int kStemMaxC = 4;
constexpr int kStemMaxK = 128;
// output rows a work item takes (an image's rows in blocks, so that two threads share even a batch of 1)
constexpr int kStemRows = 4;
}  // namespace

bool stem_applies(const ConvGeom& g, const Epilogue& e) {
#if SALIENT_HAVE_AVX512
    return isa::avx512() && g.groups == 1 && g.r == 3 && g.s == 3 && g.sh == 2 && g.sw == 2 && g.dh == 1 &&
           g.dw == 1 && g.c <= kStemMaxC && g.k % 16 == 0 && g.k <= kStemMaxK && g.ow >= 16 && !e.pre && !e.mask;
#else
    (void)g, (void)e;
    return false;
#endif
}

#if SALIENT_HAVE_AVX512
namespace {
SALIENT_AVX512_BEGIN

// Output rows [p0, p1) of image xn (c planes of h x w), channels [16 b, 16 b + 16) for each b: into
// yn (k planes of oh x ow). W: the filters in blocks of 16 output channels, tap-major within a block,
// W[(o / 16 * taps + t) * 16 + o % 16] for tap t = (ci * 3 + r) * 3 + s.
void stem_rows(const float* xn, const float* W, const float* bias, float* yn, const ConvGeom& g, const Epilogue& e,
               int p0, int p1) {
    const __m512 zero = _mm512_setzero_ps();
    const int w = g.w, k = g.k;
    const int64_t hw = (int64_t)g.h * w, ohw = (int64_t)g.oh * g.ow;
    for (int p = p0; p < p1; p++)
        for (int q0 = 0; q0 < g.ow; q0 += 16) {
            const WindowS2 win(2 * (int64_t)q0 - g.pl, w);
            const int len = std::min(16, g.ow - q0);
            const __mmask16 m = len >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << len) - 1);
            for (int b = 0; b < k; b += 16) {
                // the lines this block stores, fetched for writing while its products run (in a network
                // the output is out of the caches)
                for (int j = 0; j < 16; j++) prefetch_for_write(yn + (int64_t)(b + j) * ohw + (int64_t)p * g.ow + q0);
                __m512 acc[16];
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++) acc[j] = zero;
                for (int ci = 0; ci < g.c; ci++)
                    for (int r = 0; r < 3; r++) {
                        const int ih = 2 * p - g.pt + r;
                        __m512 u0 = zero, u1 = zero, u2 = zero;
                        if (ih >= 0 && ih < g.h) {
                            const float* row = xn + ci * hw + (int64_t)ih * w;
                            // the lines of the same segment two rows on, which the next output row reads
                            // (a row of outputs ahead: the window's rows are separate streams that step
                            // 128 bytes a segment, too slow for the hardware's prefetchers to run ahead)
                            if (b == 0 && ih + 2 < g.h) {
                                const float* nx = row + 2 * (int64_t)w + win.c0;
                                _mm_prefetch((const char*)nx, _MM_HINT_T0);
                                _mm_prefetch((const char*)(nx + 16), _MM_HINT_T0);
                                _mm_prefetch((const char*)(nx + 34), _MM_HINT_T0);
                            }
                            win.taps(row, u0, u1, u2);
                        }
                        const float* wt = W + ((int64_t)b * g.c * 9 + (ci * 3 + r) * 3 * 16);
#pragma GCC unroll 16
                        for (int j = 0; j < 16; j++) acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(wt[j]), u0, acc[j]);
#pragma GCC unroll 16
                        for (int j = 0; j < 16; j++) acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(wt[16 + j]), u1, acc[j]);
#pragma GCC unroll 16
                        for (int j = 0; j < 16; j++) acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(wt[32 + j]), u2, acc[j]);
                    }
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++) {
                    float* yr = yn + (int64_t)(b + j) * ohw + (int64_t)p * g.ow + q0;
                    const float* zr = e.z ? e.z + (yr - e.base) : nullptr;
                    const __m512 v = _mm512_add_ps(acc[j], _mm512_set1_ps(bias ? bias[b + j] : 0.f));
                    _mm512_mask_storeu_ps(yr, m, residual_act512(v, zr, m, e.kind, e.lo, e.hi));
                }
            }
        }
}
SALIENT_AVX512_END
}  // namespace
#endif

int stem_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, int nt,
                 const Epilogue& e) {
#if SALIENT_HAVE_AVX512
    alignas(64) float W[kStemMaxC * 9 * kStemMaxK];
    const int taps = g.c * 9;
    for (int o = 0; o < g.k; o++)
        for (int t = 0; t < taps; t++) W[((int64_t)o / 16 * taps + t) * 16 + o % 16] = w[(int64_t)o * taps + t];
    const int blocks = (g.oh + kStemRows - 1) / kStemRows;
    const int64_t items = (int64_t)g.n * blocks;
#pragma omp parallel for schedule(dynamic, 1) num_threads((int)std::max<int64_t>(1, std::min<int64_t>(nt, items)))
    for (int64_t it = 0; it < items; it++) {
        const int64_t nn = it / blocks;
        const int p0 = (int)(it % blocks) * kStemRows, p1 = std::min(g.oh, p0 + kStemRows);
        stem_rows(x + nn * g.c * (int64_t)g.h * g.w, W, bias, y + nn * g.k * (int64_t)g.oh * g.ow, g, e, p0, p1);
    }
    return SALIENT_OK;
#else
    (void)x, (void)w, (void)bias, (void)y, (void)g, (void)nt, (void)e;
    return fail(SALIENT_EINVAL, "conv2d_forward_cpu: the stem kernel needs AVX-512");
#endif
}

}  // namespace conv
}  // namespace salient
