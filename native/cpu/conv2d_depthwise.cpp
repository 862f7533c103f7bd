// Depthwise conv2d (groups == c, k = c*m), forward and data gradient.
//
// The simple version states the math: direct loops, parallel over planes, the
// inner loop over output columns contiguous for stride 1 (depthwise_forward_direct,
// depthwise_backward_data_direct). FLOPs: 2 * n * k * oh * ow * r * s; bytes: the
// input and output planes once, so these layers are memory- and overhead-bound, not
// FLOP-bound. The direct loops stay as the fallback (strides above 2, or no scratch).
//
// The tuned paths reduce both directions to one kernel, taps_plane: an output plane
// (oh, ow) computed row by row from T shifted views of a zero-padded scratch plane,
//   y[p, q] = b + sum_t w_t * src_t[p*ld + q],
// with AVX2 vectors of 8 output columns, one FMA per tap in three short chains, the
// taps' weights in registers for 3x3 (two output rows share their input rows when the
// taps are a plain 3x3 window), stores straight into y (a row's last vector may run
// into the next row, which is written after it; only the plane's last vector is
// masked), and the epilogue applied to rows or the plane while they are in L1. No pad
// tests in the loop.
//
// Forward (strides 1 and 2, any dilation): the zero-padded input plane P
// ((pt+h+pb) x (pl+w+pr)) is split into sh*sw phase planes
//   Q[a][b][i][j] = P[i*sh + a][j*sw + b],   each hq x wq (wq >= ceil(wp/sw), widened
// so that the 8-wide copies into it never leave their row), so that tap (r, s) reads
// Q[(r*dh)%sh][(s*dw)%sw] at (p + (r*dh)/sh, q + (s*dw)/sw): unit stride in p and q.
// The scratch is zeroed once per call; each plane then only copies its input rows in
// (the pads only ever receive zeros), and the m output planes of one input channel
// reuse it. Each thread keeps two scratch planes and copies the next input plane in
// before it computes the current one, so the loads never wait on the copy's stores.
//
// Data gradient (every stride, pad and dilation): the transposed conv is a stride-1
// conv of the zero-upsampled dy with the flipped kernel. U (h + (r-1)*dh, w + (s-1)*dw)
// holds dy[p, q] at (p*sh + (r-1)*dh - pt, q*sw + (s-1)*dw - pl) (entries that fall
// outside feed no dx and are dropped), and
//   dx[i, j] = sum_{kk of channel c} sum_{r,s} w[kk][r-1-r', s-1-s'] * U_kk[i + r'*dh, j + s'*dw].
// The m planes of a channel are m*r*s taps of one taps_plane call, so each dx element
// is one fixed sum. For stride 2 three in four taps read zeros; the vector loop
// still beats the scalar scatter loops it replaces (kept as the fallback).
//
// Determinism: every output element is one sum over its taps in a fixed order,
// whatever the batch, the plane's position or the thread that computes it.
#include <immintrin.h>
#include <algorithm>
#include <numeric>
#include <cstring>
#include <vector>
#include <omp.h>
#include "conv2d.h"
#include "conv2d_epilogue.h"
#include "epilogue512.h"
#include "isa.h"
#include "transpose.h"
#include "window_s2.h"
#include "workspace.h"

namespace salient {
namespace conv {

namespace {

// kTail + 8 - n: n leading lanes set (n in [0, 8])
alignas(32) const int32_t kTail[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
inline __m256i lanes(int n) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTail + 8 - n)); }

// Stores acc at y[o .. o+8), o = p*ow + q0: whole when it stays inside the plane (it
// may run into the next row, which is written after it), else its n valid lanes.
inline void store_out(float* y, int64_t o, int64_t total, int n, __m256 acc) {
    if (o + 8 <= total)
        _mm256_storeu_ps(y + o, acc);
    else
        _mm256_maskstore_ps(y + o, lanes(n), acc);
}

// One 8-lane output vector of a 3x3 depthwise conv from its nine taps' inputs u[t] and weights
// wt[t]: three partial sums (taps 0-2 on the bias, 3-5, 6-8), so the FMA chains stay short. Every
// AVX2 3x3 depthwise path (phase planes, flat) sums this way, and taps9_512 likewise.
inline __m256 taps9_256(const __m256* wt, const __m256* u, __m256 bv) {
    __m256 a1 = _mm256_mul_ps(wt[3], u[3]);
    __m256 a2 = _mm256_mul_ps(wt[6], u[6]);
    __m256 acc = _mm256_fmadd_ps(wt[0], u[0], bv);
    a1 = _mm256_fmadd_ps(wt[4], u[4], a1);
    a2 = _mm256_fmadd_ps(wt[7], u[7], a2);
    acc = _mm256_fmadd_ps(wt[1], u[1], acc);
    a1 = _mm256_fmadd_ps(wt[5], u[5], a1);
    a2 = _mm256_fmadd_ps(wt[8], u[8], a2);
    acc = _mm256_fmadd_ps(wt[2], u[2], acc);
    return _mm256_add_ps(acc, _mm256_add_ps(a1, a2));
}

// y (oh, ow) = b + sum_t wt[t] * src[t][p*ld + q], then the epilogue (if e) on each
// finished row (rows of 32 and more) or on the whole plane. Reads up to 7 floats past column ow - 1 of each source row (the
// callers' scratch has them); writes only inside y.
//
// 3x3 (nt == 9) keeps the weights in registers. When the taps are a 3x3 window of one
// plane (src[3*r + s] = src[0] + r*ld + s: stride 1, no dilation), output rows p and
// p+1 share their input rows: 12 loads instead of 18 for 18 FMAs, with the same sum
// per output as the one-row loop. Other tap counts broadcast their weights per vector.
void taps_plane(const float* const* src, const float* wt, int nt, float b, float* y, int oh, int ow, int64_t ld,
                const Epilogue* e) {
    const __m256 bv = _mm256_set1_ps(b);
    const int64_t total = (int64_t)oh * ow;
    if (nt != 9) {
        for (int p = 0; p < oh; p++) {
            const int64_t row = (int64_t)p * ld;
            for (int q0 = 0; q0 < ow; q0 += 8) {
                __m256 acc = bv;
                for (int t = 0; t < nt; t++)
                    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(wt + t), _mm256_loadu_ps(src[t] + row + q0), acc);
                store_out(y, (int64_t)p * ow + q0, total, std::min(8, ow - q0), acc);
            }
            if (e && ow >= 32) apply_epilogue(*e, y + (int64_t)p * ow, ow);
        }
        if (e && ow < 32) apply_epilogue(*e, y, total);
        return;
    }
    const __m256 w0 = _mm256_set1_ps(wt[0]), w1 = _mm256_set1_ps(wt[1]), w2 = _mm256_set1_ps(wt[2]),
                 w3 = _mm256_set1_ps(wt[3]), w4 = _mm256_set1_ps(wt[4]), w5 = _mm256_set1_ps(wt[5]),
                 w6 = _mm256_set1_ps(wt[6]), w7 = _mm256_set1_ps(wt[7]), w8 = _mm256_set1_ps(wt[8]);
    const float *s0 = src[0], *s1 = src[1], *s2 = src[2], *s3 = src[3], *s4 = src[4], *s5 = src[5], *s6 = src[6],
                *s7 = src[7], *s8 = src[8];
    bool window = true;
    for (int t = 0; t < 9; t++) window = window && src[t] == s0 + (t / 3) * ld + t % 3;
    int p = 0;
    if (window) {
        for (; p + 2 <= oh; p += 2) {
            const float* x0 = s0 + (int64_t)p * ld;
            const float *x1 = x0 + ld, *x2 = x1 + ld, *x3 = x2 + ld;
            float* y0 = y + (int64_t)p * ow;
            __m256 first1 = bv;  // row p+1's first vector, stored after row p's last (which may run into it)
            for (int q0 = 0; q0 < ow; q0 += 8) {
                // same partial sums as taps9_256: (bias + row r), (row r+1), (row r+2)
                __m256 u0 = _mm256_loadu_ps(x1 + q0), u1 = _mm256_loadu_ps(x1 + q0 + 1), u2 = _mm256_loadu_ps(x1 + q0 + 2);
                __m256 a1 = _mm256_mul_ps(w3, u0), c0 = _mm256_fmadd_ps(w0, u0, bv);
                a1 = _mm256_fmadd_ps(w4, u1, a1);
                c0 = _mm256_fmadd_ps(w1, u1, c0);
                a1 = _mm256_fmadd_ps(w5, u2, a1);
                c0 = _mm256_fmadd_ps(w2, u2, c0);
                u0 = _mm256_loadu_ps(x2 + q0), u1 = _mm256_loadu_ps(x2 + q0 + 1), u2 = _mm256_loadu_ps(x2 + q0 + 2);
                __m256 a2 = _mm256_mul_ps(w6, u0), c1 = _mm256_mul_ps(w3, u0);
                a2 = _mm256_fmadd_ps(w7, u1, a2);
                c1 = _mm256_fmadd_ps(w4, u1, c1);
                a2 = _mm256_fmadd_ps(w8, u2, a2);
                c1 = _mm256_fmadd_ps(w5, u2, c1);
                // row p: taps 0-2 on x0
                u0 = _mm256_loadu_ps(x0 + q0), u1 = _mm256_loadu_ps(x0 + q0 + 1), u2 = _mm256_loadu_ps(x0 + q0 + 2);
                __m256 r0 = _mm256_fmadd_ps(w0, u0, bv);
                r0 = _mm256_fmadd_ps(w1, u1, r0);
                r0 = _mm256_fmadd_ps(w2, u2, r0);
                r0 = _mm256_add_ps(r0, _mm256_add_ps(a1, a2));
                // row p+1: taps 6-8 on x3
                u0 = _mm256_loadu_ps(x3 + q0), u1 = _mm256_loadu_ps(x3 + q0 + 1), u2 = _mm256_loadu_ps(x3 + q0 + 2);
                __m256 d2 = _mm256_mul_ps(w6, u0);
                d2 = _mm256_fmadd_ps(w7, u1, d2);
                d2 = _mm256_fmadd_ps(w8, u2, d2);
                c0 = _mm256_add_ps(c0, _mm256_add_ps(c1, d2));
                store_out(y, (int64_t)p * ow + q0, total, std::min(8, ow - q0), r0);
                if (q0 == 0)
                    first1 = c0;
                else
                    store_out(y, (int64_t)(p + 1) * ow + q0, total, std::min(8, ow - q0), c0);
            }
            store_out(y, (int64_t)(p + 1) * ow, total, std::min(8, ow), first1);
            if (e && ow >= 32) apply_epilogue(*e, y0, 2 * (int64_t)ow);
        }
    }
    const __m256 wv[9] = {w0, w1, w2, w3, w4, w5, w6, w7, w8};
    for (; p < oh; p++) {
        const int64_t row = (int64_t)p * ld;
        for (int q0 = 0; q0 < ow; q0 += 8) {
            const __m256 u[9] = {_mm256_loadu_ps(s0 + row + q0), _mm256_loadu_ps(s1 + row + q0), _mm256_loadu_ps(s2 + row + q0),
                                 _mm256_loadu_ps(s3 + row + q0), _mm256_loadu_ps(s4 + row + q0), _mm256_loadu_ps(s5 + row + q0),
                                 _mm256_loadu_ps(s6 + row + q0), _mm256_loadu_ps(s7 + row + q0), _mm256_loadu_ps(s8 + row + q0)};
            const __m256 acc = taps9_256(wv, u, bv);
            store_out(y, (int64_t)p * ow + q0, total, std::min(8, ow - q0), acc);
        }
        if (e && ow >= 32) apply_epilogue(*e, y + (int64_t)p * ow, ow);
    }
    if (e && ow < 32) apply_epilogue(*e, y, total);  // small planes: one pass, still in L1
}

// dst[0 .. n) = src[0 .. n); also writes zeros to dst[n .. roundup(n, 8)).
inline void copy_row(const float* src, float* dst, int n) {
    int u = 0;
    for (; u + 8 <= n; u += 8) _mm256_storeu_ps(dst + u, _mm256_loadu_ps(src + u));
    if (u < n) _mm256_storeu_ps(dst + u, _mm256_maskload_ps(src + u, lanes(n - u)));
}

// even[u] = src[2u], odd[u] = src[2u + 1] for 2u (2u+1) < n; zeros up to roundup(ceil(n/2), 8).
inline void split_row(const float* src, float* even, float* odd, int n) {
    for (int u = 0; 2 * u < n; u += 8) {
        const int rem = n - 2 * u;
        __m256 a, b;
        if (rem >= 16) {
            a = _mm256_loadu_ps(src + 2 * u);
            b = _mm256_loadu_ps(src + 2 * u + 8);
        } else {
            a = _mm256_maskload_ps(src + 2 * u, lanes(std::min(8, rem)));
            b = rem > 8 ? _mm256_maskload_ps(src + 2 * u + 8, lanes(rem - 8)) : _mm256_setzero_ps();
        }
        // [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 b2 b4 b6]
        const __m256 ev = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
        const __m256 od = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
        _mm256_storeu_ps(even + u, ev);
        _mm256_storeu_ps(odd + u, od);
    }
}

inline int round8(int v) { return (v + 7) & ~7; }

// dst[2u] = src[u], dst[2u + 1] = 0 for u < n; zeros up to dst[2 * roundup(n, 8)).
inline void spread_row(const float* src, float* dst, int n) {
    const __m256 z = _mm256_setzero_ps();
    for (int u = 0; u < n; u += 8) {
        const __m256 a = n - u >= 8 ? _mm256_loadu_ps(src + u) : _mm256_maskload_ps(src + u, lanes(n - u));
        // [a0 0 a1 0 | a4 0 a5 0], [a2 0 a3 0 | a6 0 a7 0] -> [a0 0 a1 0 a2 0 a3 0], [a4 0 .. a7 0]
        const __m256 lo = _mm256_unpacklo_ps(a, z), hi = _mm256_unpackhi_ps(a, z);
        _mm256_storeu_ps(dst + 2 * u, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_storeu_ps(dst + 2 * u + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
}

// Whether the phase-plane forward applies: strides 1 or 2 (any dilation).
bool phase_applies(const ConvGeom& g) { return g.sh >= 1 && g.sh <= 2 && g.sw >= 1 && g.sw <= 2; }

struct Phase {
    int hq, wq;      // phase plane
    int64_t plane;   // floats per phase plane
    int64_t size;    // the sh*sw phase planes and the slack the 8-wide reads run into
};

Phase phase_geom(const ConvGeom& g) {
    Phase f;
    const int hp = g.pt + g.h + g.pb, wp = g.pl + g.w + g.pr;
    f.hq = (hp + g.sh - 1) / g.sh;
    // the row copies write round8(ceil(w/sw)) floats from column ceil(pl/sw) at most
    f.wq = std::max((wp + g.sw - 1) / g.sw, (g.pl + g.sw - 1) / g.sw + round8((g.w + g.sw - 1) / g.sw));
    f.plane = (int64_t)f.hq * f.wq;
    f.size = f.plane * g.sh * g.sw + 16;
    return f;
}

// Copies one input plane's rows into its (zeroed) phase planes q: (sh*sw, hq, wq).
// Writes the same positions for every plane, so the pads stay zero.
void build_phases(const float* xp, float* q, const ConvGeom& g, const Phase& f) {
    for (int ih = 0; ih < g.h; ih++) {
        const int i = ih + g.pt;
        const float* src = xp + (int64_t)ih * g.w;
        const int sh1 = g.sh - 1;  // sh is 1 or 2: i % sh = i & sh1, i / sh = i >> sh1
        float* row = q + (int64_t)(i & sh1) * g.sw * f.plane + (int64_t)(i >> sh1) * f.wq;
        if (g.sw == 1) {
            copy_row(src, row + g.pl, g.w);
        } else {
            // padded column iw + pl goes to phase (iw + pl) % 2, column (iw + pl) / 2
            float* even = row + (g.pl & 1) * f.plane + (g.pl >> 1);
            float* odd = row + ((g.pl + 1) & 1) * f.plane + ((g.pl + 1) >> 1);
            split_row(src, even, odd, g.w);
        }
    }
}

}  // namespace

// Depthwise forward, direct loops: plane (n, kk) reads input channel kk / m only.
// x: (n,c,h,w), w: (k,1,r,s), bias: (k) or NULL, y: (n,k,oh,ow), k = c*m
void depthwise_forward_direct(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g,
                              const Epilogue& e) {
    const int m = g.k / g.c;
    const int64_t planes = (int64_t)g.n * g.k;
#pragma omp parallel for schedule(static) if (planes * g.oh * g.ow * g.r * g.s > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const int kk = (int)(pl % g.k);
        const int64_t nn = pl / g.k;
        const float* xp = x + (nn * g.c + kk / m) * (int64_t)g.h * g.w;
        const float* wk = w + (int64_t)kk * g.r * g.s;
        float* yp = y + pl * (int64_t)g.oh * g.ow;
        const float b = bias ? bias[kk] : 0.f;
        for (int p = 0; p < g.oh; p++) {
            float* yrow = yp + (int64_t)p * g.ow;
            for (int q = 0; q < g.ow; q++) yrow[q] = b;
            for (int r = 0; r < g.r; r++) {
                int ih = p * g.sh - g.pt + r * g.dh;
                if (ih < 0 || ih >= g.h) continue;
                const float* xrow = xp + (int64_t)ih * g.w;
                for (int s = 0; s < g.s; s++) {
                    const float wv = wk[r * g.s + s];
                    int off_w = s * g.dw - g.pl, lo, hi;
                    valid_range(off_w, g.sw, g.w, g.ow, lo, hi);
                    const float* xs = xrow + off_w;
                    if (g.sw == 1) {
#pragma omp simd
                        for (int q = lo; q < hi; q++) yrow[q] += wv * xs[q];
                    } else {
                        const int sw = g.sw;
#pragma omp simd
                        for (int q = lo; q < hi; q++) yrow[q] += wv * xs[(int64_t)q * sw];
                    }
                }
            }
        }
        apply_epilogue(e, yp, (int64_t)g.oh * g.ow);
    }
}

#if SALIENT_HAVE_AVX512
namespace {

// Stride-2 3x3 depthwise convs with AVX-512 (depthwise_lanes_applies): 16 channels of one image
// in the lanes. Each channel block's input is copied once, transposed into a zero-padded
// (hp, wp, 16) scratch by gathers (no phase split: a stride is a step between the scratch's
// pixels), every output of the block is 9 vector taps over 16 channels, and the outputs go back
// to the planes by scatters. Each output's arithmetic is
// taps_plane's: (bias + taps 0-2) + ((taps 3-5) + (taps 6-8)), each a fused chain, so the bits
// are the AVX2 path's.
SALIENT_AVX512_BEGIN
// One 16-lane output vector of a 3x3 depthwise conv from its nine taps' inputs u[t] and weights
// wt[t]: taps_plane's sums, (bias + taps 0-2) + ((taps 3-5) + (taps 6-8)), each a fused chain, so
// every AVX-512 depthwise kernel gives the AVX2 path's bits.
inline __m512 taps9_512(const __m512* wt, const __m512* u, __m512 bv) {
    __m512 a1 = _mm512_mul_ps(wt[3], u[3]);
    __m512 a2 = _mm512_mul_ps(wt[6], u[6]);
    __m512 acc = _mm512_fmadd_ps(wt[0], u[0], bv);
    a1 = _mm512_fmadd_ps(wt[4], u[4], a1);
    a2 = _mm512_fmadd_ps(wt[7], u[7], a2);
    acc = _mm512_fmadd_ps(wt[1], u[1], acc);
    a1 = _mm512_fmadd_ps(wt[5], u[5], a1);
    a2 = _mm512_fmadd_ps(wt[8], u[8], a2);
    acc = _mm512_fmadd_ps(wt[2], u[2], acc);
    return _mm512_add_ps(acc, _mm512_add_ps(a1, a2));
}

void lanes_block(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, const Epilogue& e,
                 int nn, int c0, float* T) {
    const int L = std::min(16, g.c - c0), hw = g.h * g.w, ohw = g.oh * g.ow;
    const int hp = g.h + g.pt + g.pb, wp = g.w + g.pl + g.pr;
    const __mmask16 m = L == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << L) - 1);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 zero = _mm512_setzero_ps();
    auto first = [](int len) { return len >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << len) - 1); };
    // the padded, transposed input: pad rows and columns zero, the rest 16 columns of the 16 planes
    // at a time, transposed in registers
    const float* xb = x + ((int64_t)nn * g.c + c0) * hw;
    for (int i = 0; i < hp; i++) {
        float* row = T + (int64_t)i * wp * 16;
        const int ih = i - g.pt;
        if (ih < 0 || ih >= g.h) {
            for (int j = 0; j < wp; j++) _mm512_store_ps(row + j * 16, zero);
            continue;
        }
        for (int j = 0; j < g.pl; j++) _mm512_store_ps(row + j * 16, zero);
        const float* xr = xb + (int64_t)ih * g.w;
        for (int j = 0; j < g.w; j += 16) {
            const int len = std::min(16, g.w - j);
            __m512 v[16];
            for (int c = 0; c < 16; c++) v[c] = c < L ? _mm512_maskz_loadu_ps(first(len), xr + (int64_t)c * hw + j) : zero;
            transpose16(v);
            for (int t = 0; t < len; t++) _mm512_store_ps(row + (g.pl + j + t) * 16, v[t]);
        }
        for (int j = g.pl + g.w; j < wp; j++) _mm512_store_ps(row + j * 16, zero);
    }
    const __m512i w_at = _mm512_mullo_epi32(lane, _mm512_set1_epi32(9));
    const float* wb = w + (int64_t)c0 * 9;
    __m512 wt[9];
    for (int t = 0; t < 9; t++) wt[t] = _mm512_mask_i32gather_ps(zero, m, w_at, wb + t, 4);
    const __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias + c0) : zero;
    int64_t off[9];
    for (int r = 0; r < 3; r++)
        for (int s2 = 0; s2 < 3; s2++) off[r * 3 + s2] = ((int64_t)r * g.dh * wp + (int64_t)s2 * g.dw) * 16;
    float* yb = y + ((int64_t)nn * g.c + c0) * ohw;
    // 16 outputs of a row at a time (16 channels each), transposed back into the planes' rows
    for (int p = 0; p < g.oh; p++)
        for (int q0 = 0; q0 < g.ow; q0 += 16) {
            const int len = std::min(16, g.ow - q0);
            __m512 o[16];
            for (int j = 0; j < 16; j++) {
                if (j >= len) {
                    o[j] = zero;
                    continue;
                }
                const float* t = T + ((int64_t)p * g.sh * wp + (int64_t)(q0 + j) * g.sw) * 16;
                __m512 u[9];
                #pragma GCC unroll 9
                for (int k = 0; k < 9; k++) u[k] = _mm512_load_ps(t + off[k]);
                o[j] = taps9_512(wt, u, bv);
            }
            transpose16(o);
            for (int c = 0; c < L; c++) _mm512_mask_storeu_ps(yb + (int64_t)c * ohw + (int64_t)p * g.ow + q0, first(len), o[c]);
        }
    apply_epilogue(e, yb, (int64_t)L * ohw);  // the block's planes, contiguous
}
// Stride-2 3x3 depthwise convs on the planes where they lie (AVX-512, depthwise_rows_s2_applies): 16
// outputs of a row at a time, each input row's taps split from two pairs of loads by permutes (the
// even columns and the odd ones from the window's first column, the even ones from its third), the
// columns outside the plane and the rows outside it read as zeros, so each output is taps9_512's sum
// over the zero-padded window: the bits of the channel-lane path and of the AVX2 phase planes (the
// loads and permutes: window_s2.h).
// Output rows [p0, p1) of the plane; input row ih at xp + ih * g.w, read only for the rows the windows
// of those outputs cover (so xp may be the start of a window of the plane's rows, less their offset).
void rows_s2_plane(const float* xp, const float* wk, float bias, float* yp, const ConvGeom& g, const Epilogue& e,
                   int p0, int p1) {
    const __m512 zero = _mm512_setzero_ps(), bv = _mm512_set1_ps(bias);
    __m512 wt[9];
    for (int t = 0; t < 9; t++) wt[t] = _mm512_set1_ps(wk[t]);
    const int ow = g.ow, w = g.w;
    // on planes of 64 columns and more each output row fetches the two new input rows of output row
    // p + 2 (past the plane's end the next plane's first rows, which this thread takes next)
    const int ahead = w >= 64 ? 2 : 0;
    for (int p = p0; p < p1; p++) {
        if (ahead) {
            for (int r = 1; r < 3; r++) {
                const int ih = 2 * (p + ahead) - g.pt + r;
                if (ih < 0) continue;
                const float* row = xp + (int64_t)ih * w;
                for (int j = 0; j < w; j += 16) _mm_prefetch((const char*)(row + j), _MM_HINT_T0);
            }
        }
        for (int q0 = 0; q0 < ow; q0 += 16) {
            const WindowS2 win(2 * (int64_t)q0 - g.pl, w);
            __m512 u[9];
#pragma GCC unroll 3
            for (int r = 0; r < 3; r++) {
                const int ih = 2 * p - g.pt + r;
                if (ih < 0 || ih >= g.h) {
                    u[3 * r] = u[3 * r + 1] = u[3 * r + 2] = zero;
                    continue;
                }
                win.taps(xp + (int64_t)ih * w, u[3 * r], u[3 * r + 1], u[3 * r + 2]);
            }
            const int len = std::min(16, ow - q0);
            _mm512_mask_storeu_ps(yp + (int64_t)p * ow + q0, len >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << len) - 1),
                                  taps9_512(wt, u, bv));
        }
    }
    apply_epilogue(e, yp + (int64_t)p0 * ow, (int64_t)(p1 - p0) * ow);
}
SALIENT_AVX512_END

}  // namespace

// The channel-lane path: AVX-512, one output plane per channel (k == c), a 3x3 window of stride 2.
// Measured at batch 32, 2 threads, against the phase planes, with the block's planes gathered and
// scattered a lane at a time: MobileNetV2's 96-channel 112x112 stride-2 layer 11.3 -> 8.4 ms, 144
// on 56x56 3.9 -> 3.0 ms; with the 16x16 register transposes in their place (same bits), 7.24 ->
// 6.22 ms and 2.37 -> 1.98 ms, at batch 1 184 -> 166 and 74 -> 58 us, and the stride-2 layers onto
// rows of 14 and 7, which kept the phase planes (the gathers cost more than the phase split), now
// gain too: 192 on 28x28 0.92 -> 0.74 ms (batch 32) and 27 -> 22 us (batch 1), 576 on 14x14 1.07 ->
// 0.75 ms and 27 -> 19 us. At stride 1 the flat kernels stay: the lanes won at batch 32 on 56x56 and
// 112x112 planes (5.7 -> 4.1 ms, 4.2 -> 3.6) but lost at batch 1 there (97 -> 122 us, 85 -> 102)
// and at both batches on planes of 28x28 and less.
// The stride-2 rows path takes inputs in the caches (conv2d.h's input_in_caches: up to 16 MiB, just
// written by the layer before) onto rows of 12 outputs and more. MobileNetV2's stride-2 layers, 2 threads (Xeon, AVX-512), against
// the channel lanes, the input rotating over 4 copies: batch 1 96 at 112x112 167-187 -> 136 us, 144 at
// 56x56 65 -> 51-53, 192 at 28x28 20 -> 16.5 (unfetched); batch 8 144 at 56x56 (7 MiB) 584-758 ->
// 464-531. Onto rows of 7 (576 at 14x14) 20 -> 24 us, and from memory (batch 32) 96 at 112x112 7.4-7.6
// -> 8.0-8.2 ms: those keep the lanes.
bool depthwise_rows_s2_applies(const ConvGeom& g) {
    return isa::avx512() && g.k == g.c && g.r == 3 && g.s == 3 && g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1 &&
           g.ow >= 12 && input_in_caches(g);
}

void depthwise_forward_rows_s2(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g,
                               const Epilogue& e) {
    const int64_t planes = (int64_t)g.n * g.c, hw = (int64_t)g.h * g.w, ohw = (int64_t)g.oh * g.ow;
#pragma omp parallel for schedule(static) if (planes * ohw * 9 > 32768)
    for (int64_t i = 0; i < planes; i++) {
        const int c = (int)(i % g.c);
        rows_s2_plane(x + i * hw, w + (int64_t)c * 9, bias ? bias[c] : 0.f, y + i * ohw, g, e, 0, g.oh);
    }
}

bool depthwise_lanes_applies(const ConvGeom& g) {
    return isa::avx512() && g.k == g.c && g.r == 3 && g.s == 3 && g.sh == 2 && g.sw == 2 &&
           (int64_t)(g.h + g.pt + g.pb) * (g.w + g.pl + g.pr) * 16 <= (int64_t(1) << 20);
}

void depthwise_forward_lanes(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g,
                             const Epilogue& e) {
    const int blocks = (g.c + 15) / 16;
    const int64_t items = (int64_t)g.n * blocks, scratch = (int64_t)(g.h + g.pt + g.pb) * (g.w + g.pl + g.pr) * 16;
    bool failed = false;
#pragma omp parallel if (items * g.oh * g.ow * 16 * 9 > 32768)
    {
        float* T = thread_workspace(scratch, 0);
        if (!T) {
#pragma omp atomic write
            failed = true;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++)
            if (T) lanes_block(x, w, bias, y, g, e, (int)(it / blocks), (int)(it % blocks) * 16, T);
    }
    if (failed) depthwise_forward_direct(x, w, bias, y, g, e);
}
#endif

namespace {

// The flat kernels' lane masks, L outputs of the flattened H x W plane to a vector:
// masks[v * 9 + t] holds the lanes of vector v whose 3x3 tap t reads inside the plane, every lane
// of the plane less the border outputs' taps that fall in the padding (O(H + W) to make). M holds
// L bits.
template <typename M, int L>
std::vector<M> flat_masks(int H, int W) {
    const int hw = H * W, nv = (hw + L - 1) / L;
    const M full = (M)((1u << L) - 1), tail = hw % L ? (M)((1u << (hw % L)) - 1) : full;
    std::vector<M> masks((size_t)nv * 9);
    for (int v = 0; v < nv; v++)
        for (int t = 0; t < 9; t++) masks[(size_t)v * 9 + t] = v + 1 == nv ? tail : full;
    auto clear = [&](int o, int t) { masks[(size_t)(o / L) * 9 + t] &= (M)~(1u << (o % L)); };
    for (int q = 0; q < W; q++)
        for (int c = 0; c < 3; c++) clear(q, c), clear((H - 1) * W + q, 6 + c);  // rows above and below
    for (int p = 0; p < H; p++)
        for (int r = 0; r < 3; r++) clear(p * W, 3 * r), clear(p * W + W - 1, 3 * r + 2);  // columns left and right
    return masks;
}

// off[t]: tap t's offset in the flattened plane of width W
inline void flat_offsets(int W, int64_t* off) {
    for (int t = 0; t < 9; t++) off[t] = (int64_t)(t / 3 - 1) * W + (t % 3 - 1);
}

// The data gradient of a stride-1 pad-1 3x3 depthwise conv is the same conv of dy with each filter
// flipped, tap (r, s) on weight (2 - r, 2 - s): these filters.
inline std::vector<float> flipped_filters(const float* w, int64_t k) {
    std::vector<float> flipped((size_t)k * 9);
    for (int64_t kk = 0; kk < k; kk++)
        for (int t = 0; t < 9; t++) flipped[(size_t)kk * 9 + t] = w[kk * 9 + 8 - t];
    return flipped;
}

}  // namespace

#if SALIENT_HAVE_AVX512
namespace {

// Stride-1 3x3 depthwise convs with padding 1, AVX-512 (depthwise_flat_applies), forward and (with
// the filters flipped) data gradient:
// the plane flattened, 16 outputs to a vector, each tap a masked load of the input at the tap's
// offset, the lanes whose tap falls in the padding (or past the plane) reading zero, as from the
// phase path's zero-padded scratch. No copy, no scratch, and no per-row vectors: a 7x7 plane is
// 4 vectors instead of 7 rows of 8 lanes behind a copy. Each output is taps9_512's, so the bits
// are the AVX2 path's; the epilogue is residual_act512's, as apply_epilogue rounds it.
constexpr int kFlatMaxPlane = 112 * 112;
// Each vector fetches the input this many floats on (planes are contiguous, so across planes too)
// and the output's line this many floats on (for writing: isa.h's prefetch_for_write), where the
// hardware prefetchers leave a thread's run of planes to memory. MobileNetV2's layers, 2 threads,
// alternating, input and output out of the caches (as in a network): batch 1 144 at 56x56 183-185 -> 129-130 us, 576 at 14x14 47-48 -> 30-31;
// batch 32 144 at 56x56 5.73-5.77 -> 4.06-4.10 ms, 576 at 14x14 1.24-1.32 -> 0.86-0.91, 32 at
// 112x112 4.83-4.85 -> 3.01-3.02; in cache within noise. (4096 and 1024 ahead, or no output
// fetch: 5-10 % less.)
// The output fetched for writing rather than read (prefetcht0), in MobileNetV2 at batch 1, 2 threads,
// per-op medians of 400 passes: 384 at 14x14 96.8 -> 81.2 us a forward (4 calls), 576 at 14x14
// 96.6 -> 85.4 (3), 32 at 112x112 85.4 -> 76.0, 192 at 28x28 102.5 -> 97.7 (3), 960 at 7x7 62.8 ->
// 60.1 (3), 144 at 56x56 156.0 -> 156.6 (2); at batch 32 the six 18.1 -> 18.0 ms. (Without the output
// fetch at all batch 1 gains as much, but batch 32 loses: 144 at 56x56 6.27 -> 7.21 ms.)
constexpr int64_t kFlatInputAhead = 2048, kFlatOutputAhead = 512;

SALIENT_AVX512_BEGIN
// Vectors [v0, v1) of a plane: each tap's input a masked load through the tap's lane mask (mk), the
// rows above and below from their own base pointers (the offsets in registers, not reloaded). Where
// Inner, the vectors touch neither the first nor the last row: the middle column's taps read whole
// vectors and the others only the column masks (the middle row's taps 3 and 5), so 2 mask loads a
// vector instead of 9, and no offsets reloaded: 11 loads a vector where there were 27, and the load
// ports had been the limit. MobileNetV2's layers at batch 1, 2 threads, alternating (C++ harness):
// 576 at 14x14 with its residual 28.3-28.6 -> 22.4-22.5 us, 192 at 28x28 33.4-33.7 -> 24.8-25.2, 384
// at 14x14 18.1-18.5 -> 14.2-15.1, 144 at 56x56 98-101 -> 85; batch 32, 576 at 14x14 0.80 -> 0.62 ms.
template <bool Inner>
inline void flat_vectors(int v0, int v1, int nv, int W, const float* xp, float* yp, const float* zp,
                         const __mmask16* masks, __mmask16 tail, const __m512* wt, __m512 bv, const Epilogue& e) {
    for (int v = v0; v < v1; v++) {
        const __mmask16* mk = masks + (size_t)v * 9;
        const float* xo = xp + (int64_t)v * 16;
        const float *up = xo - W, *dn = xo + W;
        _mm_prefetch((const char*)(xo + kFlatInputAhead), _MM_HINT_T0);
        prefetch_for_write(yp + (int64_t)v * 16 + kFlatOutputAhead);
        __m512 u[9];
        if (Inner) {
            const __mmask16 l = mk[3], r = mk[5];
            u[0] = _mm512_maskz_loadu_ps(l, up - 1), u[1] = _mm512_loadu_ps(up), u[2] = _mm512_maskz_loadu_ps(r, up + 1);
            u[3] = _mm512_maskz_loadu_ps(l, xo - 1), u[4] = _mm512_loadu_ps(xo), u[5] = _mm512_maskz_loadu_ps(r, xo + 1);
            u[6] = _mm512_maskz_loadu_ps(l, dn - 1), u[7] = _mm512_loadu_ps(dn), u[8] = _mm512_maskz_loadu_ps(r, dn + 1);
        } else {
            u[0] = _mm512_maskz_loadu_ps(mk[0], up - 1), u[1] = _mm512_maskz_loadu_ps(mk[1], up);
            u[2] = _mm512_maskz_loadu_ps(mk[2], up + 1), u[3] = _mm512_maskz_loadu_ps(mk[3], xo - 1);
            u[4] = _mm512_maskz_loadu_ps(mk[4], xo), u[5] = _mm512_maskz_loadu_ps(mk[5], xo + 1);
            u[6] = _mm512_maskz_loadu_ps(mk[6], dn - 1), u[7] = _mm512_maskz_loadu_ps(mk[7], dn);
            u[8] = _mm512_maskz_loadu_ps(mk[8], dn + 1);
        }
        __m512 acc = taps9_512(wt, u, bv);
        const __mmask16 m = !Inner && v + 1 == nv ? tail : (__mmask16)0xFFFF;
        if (e.any()) acc = residual_act512(acc, zp ? zp + (int64_t)v * 16 : nullptr, m, e.kind, e.lo, e.hi);
        _mm512_mask_storeu_ps(yp + (int64_t)v * 16, m, acc);
    }
}

// The outputs of rows [p0, p1) of one plane (p0 * W and, unless p1 is the last row, p1 * W multiples of
// 16), input row ih at xp + ih * W, the residual (if any) at zp: the vectors of those rows, each from its
// taps through the plane's lane masks, so a vector's bits do not depend on the rows asked for.
void flat_rows(const float* xp, const float* wk, float bias, float* yp, const float* zp, const ConvGeom& g,
               const Epilogue& e, const __mmask16* masks, int p0, int p1) {
    const int H = g.h, W = g.w, hw = H * W, nv = (hw + 15) / 16;
    const __mmask16 tail = hw % 16 ? (__mmask16)((1u << (hw % 16)) - 1) : (__mmask16)0xFFFF;
    // the inner vectors [i0, i1): past the first row, before the last (so whole, not the tail)
    const int i0 = std::min(nv, (W + 15) / 16), i1 = std::max(i0, (hw - W) / 16);
    const int v0 = p0 * W / 16, v1 = p1 == H ? nv : p1 * W / 16;
    __m512 wt[9];
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++) wt[t] = _mm512_set1_ps(wk[t]);
    const __m512 bv = _mm512_set1_ps(bias);
    flat_vectors<false>(v0, std::min(v1, i0), nv, W, xp, yp, zp, masks, tail, wt, bv, e);
    flat_vectors<true>(std::max(v0, i0), std::min(v1, i1), nv, W, xp, yp, zp, masks, tail, wt, bv, e);
    flat_vectors<false>(std::max(v0, i1), v1, nv, W, xp, yp, zp, masks, tail, wt, bv, e);
}

// Planes of kGroupMaxPlane positions or fewer that are not whole vectors (7x7: 49 positions, four
// vectors of which the last holds one) run G channels of an image at a time, G = 16 / gcd(h w, 16)
// planes being whole vectors end to end (7x7: 16 planes in 49 vectors; 6x6: 4 in 9): a vector's lanes
// may belong to two planes (or more, on planes under 16 positions), so each tap's weights and the bias
// are per lane, permuted from a vector of the G channels' values by the lanes' planes; the lane masks
// are the flat kernel's, of the G planes' flattened positions, so a tap that leaves its plane reads zero
// as at the plane's edge. Each output's sum is taps9_512's over the same
// values, so the bits are the per-plane kernel's. On planes of fewer than 64 positions (under four
// vectors a plane, where a plane's last vector and its setup weigh most): MobileNetV2's 960 channels at
// 7x7, 2 threads, in one process alternating with the per-plane kernel, batch 8 348-366 against 473-485
// us, batch 1 19.4-20.1 against 21.4-21.7; in the network at batch 32 (sub-batches of 8) 2.61 -> 1.94 ms
// a forward. At 14x14 (13 vectors a plane, 12.25 used) the permutes cost more than the lanes saved:
// 576 channels, batch 8, 357-414 against 266-348 us.
constexpr int64_t kGroupMaxPlane = 63;

// The group vectors' lane masks (flat_masks' rule over G planes end to end: nv * 9 of them) and each
// vector's lanes' planes within the group (nv index vectors)
void group_masks(int H, int W, int G, std::vector<__mmask16>& masks, std::vector<int32_t>& plane_of) {
    const int hw = H * W, nv = G * hw / 16;
    masks.assign((size_t)nv * 9, (__mmask16)0);
    plane_of.assign((size_t)nv * 16, 0);
    for (int o = 0; o < G * hw; o++) {
        const int v = o / 16, l = o % 16, pos = o % hw, p = pos / W, q = pos % W;
        plane_of[(size_t)o] = o / hw;
        for (int t = 0; t < 9; t++) {
            const int pr = p + t / 3 - 1, qc = q + t % 3 - 1;
            if (pr >= 0 && pr < H && qc >= 0 && qc < W) masks[(size_t)v * 9 + t] |= (__mmask16)(1u << l);
        }
    }
}

// The nv vectors of G planes of one image that start at xg (output yg, residual zg or null), their
// channels' weights at wg (G x 9) and biases at bg (or null)
void group_vectors(const float* xg, const float* wg, const float* bg, float* yg, const float* zg, int G, int nv, int W,
                   const __mmask16* masks, const int32_t* plane_of, const Epilogue& e) {
    const __mmask16 gl = (__mmask16)((1u << G) - 1);
    const __m512i at = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(9));
    const __m512 zero = _mm512_setzero_ps();
    __m512 wg16[9];
    for (int t = 0; t < 9; t++) wg16[t] = _mm512_mask_i32gather_ps(zero, gl, at, wg + t, 4);
    const __m512 bg16 = bg ? _mm512_maskz_loadu_ps(gl, bg) : zero;
    int64_t off[9];
    flat_offsets(W, off);
    for (int v = 0; v < nv; v++) {
        const __mmask16* mk = masks + (size_t)v * 9;
        const float* xo = xg + (int64_t)v * 16;
        _mm_prefetch((const char*)(xo + kFlatInputAhead), _MM_HINT_T0);
        prefetch_for_write(yg + (int64_t)v * 16 + kFlatOutputAhead);
        const __m512i ix = _mm512_loadu_si512(plane_of + (size_t)v * 16);
        __m512 u[9], wt[9];
#pragma GCC unroll 9
        for (int t = 0; t < 9; t++) {
            u[t] = _mm512_maskz_loadu_ps(mk[t], xo + off[t]);
            wt[t] = _mm512_permutexvar_ps(ix, wg16[t]);
        }
        __m512 acc = taps9_512(wt, u, _mm512_permutexvar_ps(ix, bg16));
        if (e.any()) acc = residual_act512(acc, zg ? zg + (int64_t)v * 16 : nullptr, (__mmask16)0xFFFF, e.kind, e.lo, e.hi);
        _mm512_storeu_ps(yg + (int64_t)v * 16, acc);
    }
}

void flat_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, const Epilogue& e) {
    const int64_t hw = (int64_t)g.h * g.w, planes = (int64_t)g.n * g.k;
    const std::vector<__mmask16> masks = flat_masks<__mmask16, 16>(g.h, g.w);
    auto plane = [&](int64_t pl) {  // plane (nn, kk) alone; k == c: it reads input plane (nn, kk)
        const int kk = (int)(pl % g.k);
        float* yp = y + pl * hw;
        flat_rows(x + pl * hw, w + (int64_t)kk * 9, bias ? bias[kk] : 0.f, yp, e.z ? e.z + (yp - e.base) : nullptr, g, e,
                  masks.data(), 0, g.h);
    };
    const int G = 16 / std::gcd((int)(hw % 16), 16);
    if (hw % 16 && hw <= kGroupMaxPlane && g.k >= G) {
        // whole groups of G channels, then each image's last k % G planes alone
        std::vector<__mmask16> gmasks;
        std::vector<int32_t> plane_of;
        group_masks(g.h, g.w, G, gmasks, plane_of);
        const int groups = g.k / G, per = groups + g.k % G, nv = (int)(G * hw / 16);
#pragma omp parallel for schedule(static) if (planes * hw * 9 > 32768)
        for (int64_t it = 0; it < (int64_t)g.n * per; it++) {
            const int64_t nn = it / per;
            const int j = (int)(it % per);
            if (j >= groups) {
                plane(nn * g.k + groups * G + (j - groups));
                continue;
            }
            const int64_t pl = nn * g.k + (int64_t)j * G;
            float* yg = y + pl * hw;
            group_vectors(x + pl * hw, w + (int64_t)j * G * 9, bias ? bias + (int64_t)j * G : nullptr, yg,
                          e.z ? e.z + (yg - e.base) : nullptr, G, nv, g.w, gmasks.data(), plane_of.data(), e);
        }
        return;
    }
#pragma omp parallel for schedule(static) if (planes * hw * 9 > 32768)
    for (int64_t pl = 0; pl < planes; pl++) plane(pl);
}
SALIENT_AVX512_END

bool depthwise_flat_applies(const ConvGeom& g) {
    return isa::avx512() && g.k == g.c && g.r == 3 && g.s == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
           g.pt == 1 && g.pb == 1 && g.pl == 1 && g.pr == 1 && (int64_t)g.h * g.w <= kFlatMaxPlane;
}

}  // namespace

bool depthwise_rows_applies(const ConvGeom& g) {
    return depthwise_flat_applies(g) ||
           (isa::avx512() && g.k == g.c && g.r == 3 && g.s == 3 && g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1 &&
            g.ow >= 12);
}

int depthwise_rows_step(const ConvGeom& g) {
    if (g.sh == 2) return 1;
    int step = 1;
    while ((int64_t)step * g.w % 16) step++;
    return step;
}

DepthwiseRows::DepthwiseRows(const ConvGeom& g) : g_(g) {
    static_assert(sizeof(__mmask16) == sizeof(uint16_t), "the lane masks are 16-bit");
    if (g.sh == 1) masks_ = flat_masks<uint16_t, 16>(g.h, g.w);
}

void DepthwiseRows::run(const float* xp, const float* wk, float bias, float* yp, const Epilogue& e, int p0,
                        int p1) const {
    if (p1 <= p0) return;
    if (g_.sh == 2) return rows_s2_plane(xp, wk, bias, yp, g_, e, p0, p1);
    flat_rows(xp, wk, bias, yp, nullptr, g_, e, masks_.data(), p0, p1);
}
#endif

namespace {

// The flat kernel on AVX2 (depthwise_flat256_applies): flat_forward's method with 8 outputs of the
// flattened plane to a vector, each tap a masked load (vmaskmovps, which neither reads nor faults
// on the lanes it leaves out) where the vector's taps reach the padding, a plain load elsewhere.
// Each output is taps9_256's, the phase path's sum, so the bits are the same; the epilogue runs
// on the finished plane, as apply_epilogue rounds it there.

// kLaneBits.m[b]: lane j set where bit j of b is
struct LaneBits {
    alignas(32) int32_t m[256][8];
    LaneBits() {
        for (int b = 0; b < 256; b++)
            for (int j = 0; j < 8; j++) m[b][j] = (b >> j) & 1 ? -1 : 0;
    }
};
const LaneBits kLaneBits;

// Planes up to 8x8 only. Batch 32, 2 threads, against the phase planes: 960 channels at 7x7
// 2.1-2.2 -> 1.4-1.5 ms (batch 1: 0.08-0.11 -> 0.07-0.09 ms); at 14x14 (576 channels) 2.8 -> 3.3
// ms and at 28x28 (192) 2.4 -> 4.5 ms, where the phase path's two rows sharing their loads (6 a
// vector instead of 9, no masks) win.
constexpr int kFlat256MaxPlane = 8 * 8;

void flat_forward256(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, const Epilogue& e) {
    const int H = g.h, W = g.w, hw = H * W, nv = (hw + 7) / 8;
    const uint8_t tail = hw % 8 ? (uint8_t)((1u << (hw % 8)) - 1) : (uint8_t)0xFF;
    const std::vector<uint8_t> masks = flat_masks<uint8_t, 8>(H, W);
    int64_t off[9];
    flat_offsets(W, off);
    const __m256i last = _mm256_load_si256(reinterpret_cast<const __m256i*>(kLaneBits.m[tail]));
    const int64_t planes = (int64_t)g.n * g.k;
#pragma omp parallel for schedule(static) if (planes * hw * 9 > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const int kk = (int)(pl % g.k);
        const float* xp = x + pl * hw;  // k == c: plane (nn, kk) reads input plane (nn, kk)
        float* yp = y + pl * hw;
        __m256 wt[9];
        #pragma GCC unroll 9
        for (int t = 0; t < 9; t++) wt[t] = _mm256_set1_ps(w[(int64_t)kk * 9 + t]);
        const __m256 bv = _mm256_set1_ps(bias ? bias[kk] : 0.f);
        for (int v = 0; v < nv; v++) {
            const uint8_t* mk = masks.data() + (size_t)v * 9;
            const float* xo = xp + (int64_t)v * 8;
            __m256 u[9];
            #pragma GCC unroll 9
            for (int t = 0; t < 9; t++)
                u[t] = mk[t] == 0xFF ? _mm256_loadu_ps(xo + off[t])
                                     : _mm256_maskload_ps(xo + off[t], _mm256_load_si256(
                                                                           reinterpret_cast<const __m256i*>(kLaneBits.m[mk[t]])));
            const __m256 acc = taps9_256(wt, u, bv);
            if (v + 1 < nv || tail == 0xFF) _mm256_storeu_ps(yp + (int64_t)v * 8, acc);
            else _mm256_maskstore_ps(yp + (int64_t)v * 8, last, acc);
        }
        apply_epilogue(e, yp, hw);  // the plane, still in L1
    }
}

bool depthwise_flat256_applies(const ConvGeom& g) {
    return !isa::avx512() && g.k == g.c && g.r == 3 && g.s == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
           g.pt == 1 && g.pb == 1 && g.pl == 1 && g.pr == 1 && (int64_t)g.h * g.w <= kFlat256MaxPlane;
}

// Stride-1 3x3 depthwise convs with padding 1 on AVX2, planes past the flat kernel's
// (depthwise_rows256_applies): taps_plane's two-row loop read straight from the input plane, with
// no phase copy. A tap's 8 columns that reach past the row (the padding, or the next row) are a
// masked load (vmaskmovps, which neither reads nor faults on the lanes it leaves out), so they read
// zero, as from the phase path's zero-padded scratch; a row above or below the plane is a zero
// vector. Every output is taps_plane's sum of the same values, so the bits are the phase path's.
// Measured on Zen 3, one thread, batch 1, with ReLU6, against the phase planes (whose row copies
// took a third of the time at 14x14): MobileNetV2's 576 channels at 14x14 0.104 -> 0.090 ms, 384 at
// 14x14 0.070 -> 0.060, 192 at 28x28 0.105 -> 0.097, 144 at 56x56 0.28 -> 0.24, 32 at 112x112 0.22
// -> 0.20.

// One vector of output rows p (r0) and p+1 (c0) from input rows p-1 .. p+2, each given at the
// vector's first column less one: taps_plane's window sums. Top: row p-1 is padding; Bottom: row
// p+2 is. Masked: the loads of tap column s take the lanes mk[s] (all of them where full[s]).
template <bool Top, bool Bottom, bool Masked>
inline void rows_pair(const float* x0, const float* x1, const float* x2, const float* x3, const __m256i* mk,
                      const uint8_t* full, const __m256* wv, __m256 bv, __m256& r0, __m256& c0) {
    const auto in = [&](const float* a, int sft) {
        if (Masked && !full[sft]) return _mm256_maskload_ps(a + sft, mk[sft]);
        return _mm256_loadu_ps(a + sft);
    };
    const __m256 zero = _mm256_setzero_ps();
    __m256 u0 = in(x1, 0), u1 = in(x1, 1), u2 = in(x1, 2);
    __m256 a1 = _mm256_mul_ps(wv[3], u0);
    c0 = _mm256_fmadd_ps(wv[0], u0, bv);
    a1 = _mm256_fmadd_ps(wv[4], u1, a1);
    c0 = _mm256_fmadd_ps(wv[1], u1, c0);
    a1 = _mm256_fmadd_ps(wv[5], u2, a1);
    c0 = _mm256_fmadd_ps(wv[2], u2, c0);
    u0 = in(x2, 0), u1 = in(x2, 1), u2 = in(x2, 2);
    __m256 a2 = _mm256_mul_ps(wv[6], u0), c1 = _mm256_mul_ps(wv[3], u0);
    a2 = _mm256_fmadd_ps(wv[7], u1, a2);
    c1 = _mm256_fmadd_ps(wv[4], u1, c1);
    a2 = _mm256_fmadd_ps(wv[8], u2, a2);
    c1 = _mm256_fmadd_ps(wv[5], u2, c1);
    if (Top) u0 = u1 = u2 = zero;
    else u0 = in(x0, 0), u1 = in(x0, 1), u2 = in(x0, 2);
    r0 = _mm256_fmadd_ps(wv[0], u0, bv);
    r0 = _mm256_fmadd_ps(wv[1], u1, r0);
    r0 = _mm256_fmadd_ps(wv[2], u2, r0);
    r0 = _mm256_add_ps(r0, _mm256_add_ps(a1, a2));
    if (Bottom) u0 = u1 = u2 = zero;
    else u0 = in(x3, 0), u1 = in(x3, 1), u2 = in(x3, 2);
    __m256 d2 = _mm256_mul_ps(wv[6], u0);
    d2 = _mm256_fmadd_ps(wv[7], u1, d2);
    d2 = _mm256_fmadd_ps(wv[8], u2, d2);
    c0 = _mm256_add_ps(c0, _mm256_add_ps(c1, d2));
}

// Output rows p and p+1 of a plane (W columns, nvr vectors a row; masks and full per vector and
// tap column, edge[j]: vector j has a masked tap column), stored as taps_plane stores them.
template <bool Top, bool Bottom>
inline void rows_pair_row(const float* xp, float* yp, int p, int W, int nvr, int64_t total, const __m256i* masks,
                          const uint8_t* full, const uint8_t* edge, const __m256* wv, __m256 bv) {
    const float* x1 = xp + (int64_t)p * W - 1;
    const float *x0 = x1 - W, *x2 = x1 + W, *x3 = x2 + W;  // x0 (Top) and x3 (Bottom) are not read
    __m256 first1 = bv;  // row p+1's first vector, stored after row p's last (which may run into it)
    for (int j = 0; j < nvr; j++) {
        const int q0 = 8 * j;
        __m256 r0, c0;
        if (edge[j])
            rows_pair<Top, Bottom, true>(x0 + q0, x1 + q0, x2 + q0, x3 + q0, masks + 3 * j, full + 3 * j, wv, bv, r0, c0);
        else
            rows_pair<Top, Bottom, false>(x0 + q0, x1 + q0, x2 + q0, x3 + q0, nullptr, nullptr, wv, bv, r0, c0);
        store_out(yp, (int64_t)p * W + q0, total, std::min(8, W - q0), r0);
        if (j == 0)
            first1 = c0;
        else
            store_out(yp, (int64_t)(p + 1) * W + q0, total, std::min(8, W - q0), c0);
    }
    store_out(yp, (int64_t)(p + 1) * W, total, std::min(8, W), first1);
}

void rows_forward256(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, const Epilogue& e) {
    const int H = g.h, W = g.w, nvr = (W + 7) / 8;
    const int64_t total = (int64_t)H * W;
    // vector j of a row, tap column s (columns 8j + s - 1 ..): the lanes inside the row, whether
    // all are, and whether any of the vector's three tap columns is short
    std::vector<__m256i> masks((size_t)nvr * 3);
    std::vector<uint8_t> full((size_t)nvr * 3), edge(nvr, 0);
    for (int j = 0; j < nvr; j++)
        for (int sft = 0; sft < 3; sft++) {
            unsigned bits = 0;
            for (int l = 0; l < 8; l++) {
                const int col = 8 * j + l + sft - 1;
                if (col >= 0 && col < W) bits |= 1u << l;
            }
            masks[(size_t)j * 3 + sft] = _mm256_load_si256(reinterpret_cast<const __m256i*>(kLaneBits.m[bits]));
            full[(size_t)j * 3 + sft] = bits == 0xFF;
            if (bits != 0xFF) edge[j] = 1;
        }
    const int64_t planes = (int64_t)g.n * g.k;
    const bool row_ep = e.any() && W >= 32;  // the epilogue on finished rows, else on the plane (in L1)
#pragma omp parallel for schedule(static) if (planes * total * 9 > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const int kk = (int)(pl % g.k);
        const float* xp = x + pl * total;  // k == c: plane (nn, kk) reads input plane (nn, kk)
        float* yp = y + pl * total;
        __m256 wv[9];
        #pragma GCC unroll 9
        for (int t = 0; t < 9; t++) wv[t] = _mm256_set1_ps(w[(int64_t)kk * 9 + t]);
        const __m256 bv = _mm256_set1_ps(bias ? bias[kk] : 0.f);
        const __m256i* mk = masks.data();
        const uint8_t *fl = full.data(), *ed = edge.data();
        int p = 0;
        for (; p + 2 <= H; p += 2) {
            const bool top = p == 0, bottom = p + 2 == H;
            if (top && bottom) rows_pair_row<true, true>(xp, yp, p, W, nvr, total, mk, fl, ed, wv, bv);
            else if (top) rows_pair_row<true, false>(xp, yp, p, W, nvr, total, mk, fl, ed, wv, bv);
            else if (bottom) rows_pair_row<false, true>(xp, yp, p, W, nvr, total, mk, fl, ed, wv, bv);
            else rows_pair_row<false, false>(xp, yp, p, W, nvr, total, mk, fl, ed, wv, bv);
            if (row_ep) apply_epilogue(e, yp + (int64_t)p * W, 2 * (int64_t)W);
        }
        if (p < H) {  // the last row of an odd plane: taps_plane's one-row loop
            const float* x1 = xp + (int64_t)p * W - 1;
            const float* x0 = x1 - W;
            const __m256 zero = _mm256_setzero_ps();
            for (int j = 0; j < nvr; j++) {
                const int q0 = 8 * j;
                const auto in = [&](const float* a, int sft) {
                    const size_t i = (size_t)j * 3 + sft;
                    return fl[i] ? _mm256_loadu_ps(a + q0 + sft) : _mm256_maskload_ps(a + q0 + sft, mk[i]);
                };
                const __m256 u[9] = {p > 0 ? in(x0, 0) : zero, p > 0 ? in(x0, 1) : zero, p > 0 ? in(x0, 2) : zero,
                                     in(x1, 0), in(x1, 1), in(x1, 2), zero, zero, zero};
                store_out(yp, (int64_t)p * W + q0, total, std::min(8, W - q0), taps9_256(wv, u, bv));
            }
            if (row_ep) apply_epilogue(e, yp + (int64_t)p * W, W);
        }
        if (e.any() && !row_ep) apply_epilogue(e, yp, total);
    }
}

bool depthwise_rows256_applies(const ConvGeom& g) {
    return !isa::avx512() && g.k == g.c && g.r == 3 && g.s == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
           g.pt == 1 && g.pb == 1 && g.pl == 1 && g.pr == 1 && (int64_t)g.h * g.w > kFlat256MaxPlane;
}

}  // namespace

// Depthwise forward: the phase-plane path where it applies, else the direct loops.
// x: (n,c,h,w), w: (k,1,r,s), bias: (k) or NULL, y: (n,k,oh,ow), k = c*m
void depthwise_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g) {
    depthwise_forward(x, w, bias, y, g, Epilogue{});
}

// The same with an epilogue applied to each output plane.
void depthwise_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g,
                       const Epilogue& e) {
#if SALIENT_HAVE_AVX512
    if (depthwise_rows_s2_applies(g)) return depthwise_forward_rows_s2(x, w, bias, y, g, e);
    if (depthwise_lanes_applies(g)) return depthwise_forward_lanes(x, w, bias, y, g, e);
    if (depthwise_flat_applies(g)) return flat_forward(x, w, bias, y, g, e);
#endif
    if (depthwise_flat256_applies(g)) return flat_forward256(x, w, bias, y, g, e);
    if (depthwise_rows256_applies(g)) return rows_forward256(x, w, bias, y, g, e);
    if (!phase_applies(g)) return depthwise_forward_direct(x, w, bias, y, g, e);
    const Phase f = phase_geom(g);
    const int m = g.k / g.c, rs = g.r * g.s;
    const int64_t planes = (int64_t)g.n * g.k;
    // the taps' offsets in the phase planes
    std::vector<int64_t> off(rs);
    for (int r = 0; r < g.r; r++)
        for (int s = 0; s < g.s; s++) {
            const int rr = r * g.dh, ss = s * g.dw;
            off[r * g.s + s] = (int64_t)((rr % g.sh) * g.sw + ss % g.sw) * f.plane + (int64_t)(rr / g.sh) * f.wq + ss / g.sw;
        }
    bool failed = false;
#pragma omp parallel if (planes * g.oh * g.ow * rs > 32768)
    {
        // two scratch planes: the next input plane is copied in before the current one is
        // computed, so the conv's loads never wait on the copy's stores (store forwarding)
        float* q = thread_workspace(2 * f.size, 0);
        std::vector<const float*> src(q ? 2 * rs : 0);
        if (!q) {
#pragma omp atomic write
            failed = true;
        } else {
            std::memset(q, 0, sizeof(float) * (size_t)(2 * f.size));
            for (int t = 0; t < rs; t++) src[t] = q + off[t], src[rs + t] = q + f.size + off[t];
        }
        // this thread's planes [p0, p1), walked with (nn, kk) counters (no divisions per plane)
        const int nth = omp_get_num_threads(), tid = omp_get_thread_num();
        const int64_t p0 = planes * tid / nth, p1 = planes * (tid + 1) / nth;
        int64_t nn = p0 / g.k;
        int kk = (int)(p0 % g.k);
        int64_t held[2] = {-1, -1};  // the input plane each scratch holds
        int cur = 0;
        for (int64_t pl = p0; q && pl < p1; pl++) {
            const int64_t in = nn * g.c + kk / m;
            if (held[cur] != in) {
                cur ^= 1;
                if (held[cur] != in) {  // only the thread's first plane: nothing was copied ahead
                    build_phases(x + in * (int64_t)g.h * g.w, q + cur * f.size, g, f);
                    held[cur] = in;
                }
            }
            // the input plane of pl + 1, into the other scratch
            const int64_t next = kk + 1 == g.k ? (nn + 1) * g.c : nn * g.c + (kk + 1) / m;
            if (pl + 1 < p1 && next != in) {
                build_phases(x + next * (int64_t)g.h * g.w, q + (cur ^ 1) * f.size, g, f);
                held[cur ^ 1] = next;
            }
            float* yp = y + pl * (int64_t)g.oh * g.ow;
            taps_plane(src.data() + cur * rs, w + (int64_t)kk * rs, rs, bias ? bias[kk] : 0.f, yp, g.oh, g.ow, f.wq,
                       &e);
            if (++kk == g.k) {
                kk = 0;
                nn++;
            }
        }
    }
    // a thread without scratch memory left its planes: redo them all the simple way
    if (failed) depthwise_forward_direct(x, w, bias, y, g, e);
}

namespace {

// Depthwise data gradient, direct loops: input plane (n, cc) gathers from output planes cc*m .. cc*m+m-1.
// dy: (n,k,oh,ow), w: (k,1,r,s), dx: (n,c,h,w)
void depthwise_backward_data_direct(const float* dy, const float* w, float* dx, const ConvGeom& g) {
    const int m = g.k / g.c;
    const int64_t planes = (int64_t)g.n * g.c;
#pragma omp parallel for schedule(static) if (planes * g.oh * g.ow * g.r * g.s * m > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const int cc = (int)(pl % g.c);
        const int64_t nn = pl / g.c;
        float* xp = dx + pl * (int64_t)g.h * g.w;
        std::memset(xp, 0, sizeof(float) * (size_t)g.h * g.w);
        for (int j = 0; j < m; j++) {
            const int kk = cc * m + j;
            const float* wk = w + (int64_t)kk * g.r * g.s;
            const float* yp = dy + (nn * g.k + kk) * (int64_t)g.oh * g.ow;
            for (int p = 0; p < g.oh; p++) {
                const float* yrow = yp + (int64_t)p * g.ow;
                for (int r = 0; r < g.r; r++) {
                    int ih = p * g.sh - g.pt + r * g.dh;
                    if (ih < 0 || ih >= g.h) continue;
                    float* xrow = xp + (int64_t)ih * g.w;
                    for (int s = 0; s < g.s; s++) {
                        const float wv = wk[r * g.s + s];
                        int off_w = s * g.dw - g.pl, lo, hi;
                        valid_range(off_w, g.sw, g.w, g.ow, lo, hi);
                        float* xs = xrow + off_w;
                        if (g.sw == 1) {
#pragma omp simd
                            for (int q = lo; q < hi; q++) xs[q] += wv * yrow[q];
                        } else {
                            const int sw = g.sw;
                            for (int q = lo; q < hi; q++) xs[(int64_t)q * sw] += wv * yrow[q];
                        }
                    }
                }
            }
        }
    }
}

// The zero-upsampled dy plane U of depthwise_backward_data: geometry and fill.
struct Upsampled {
    int hu, wu, pu, qu;  // U's rows and columns; where dy[0, 0] lands (may be negative)
    int64_t ld, plane;   // row stride (16 floats of slack for the copies and reads), floats per plane
};

Upsampled upsampled_geom(const ConvGeom& g) {
    Upsampled u;
    u.hu = g.h + (g.r - 1) * g.dh;
    u.wu = g.w + (g.s - 1) * g.dw;
    u.pu = (g.r - 1) * g.dh - g.pt;
    u.qu = (g.s - 1) * g.dw - g.pl;
    u.ld = u.wu + 16;
    u.plane = (int64_t)u.hu * u.ld;
    return u;
}

// Writes dy plane yp (oh, ow) into its (zeroed) U plane; the same positions for every plane.
void build_upsampled(const float* yp, float* up, const ConvGeom& g, const Upsampled& u) {
    int lo, hi;  // dy columns that land inside U: 0 <= q*sw + qu < wu
    valid_range(u.qu, g.sw, u.wu, g.ow, lo, hi);
    if (hi <= lo) return;
    for (int p = 0; p < g.oh; p++) {
        const int i = p * g.sh + u.pu;
        if (i < 0 || i >= u.hu) continue;
        const float* src = yp + (int64_t)p * g.ow;
        float* row = up + (int64_t)i * u.ld + u.qu;
        if (g.sw == 1)
            copy_row(src + lo, row + lo, hi - lo);  // zeros run at most 7 floats on, into the slack
        else if (g.sw == 2)
            spread_row(src + lo, row + 2 * lo, hi - lo);  // zeros at most 15 floats on, into the slack
        else
            for (int q = lo; q < hi; q++) row[(int64_t)q * g.sw] = src[q];
    }
}

}  // namespace

// Depthwise data gradient: input plane (n, cc) from the m output planes cc*m .. cc*m+m-1.
// dy: (n,k,oh,ow), w: (k,1,r,s), dx: (n,c,h,w)
void depthwise_backward_data(const float* dy, const float* w, float* dx, const ConvGeom& g) {
#if SALIENT_HAVE_AVX512
    if (depthwise_flat_applies(g)) {
        // one filter per channel, stride 1, padding 1: dx is the same conv of dy with the filters
        // flipped, tap (r, s) on weight (2 - r, 2 - s) as below, so the flat kernel gives its bits
        flat_forward(dy, flipped_filters(w, g.k).data(), nullptr, dx, g, Epilogue{});
        return;
    }
#endif
    if (depthwise_flat256_applies(g)) {  // as above, on the AVX2 flat kernel
        flat_forward256(dy, flipped_filters(w, g.k).data(), nullptr, dx, g, Epilogue{});
        return;
    }
    if (depthwise_rows256_applies(g)) {  // as above, on the AVX2 two-row kernel
        rows_forward256(dy, flipped_filters(w, g.k).data(), nullptr, dx, g, Epilogue{});
        return;
    }
    const Upsampled u = upsampled_geom(g);
    const int m = g.k / g.c, rs = g.r * g.s, nt = m * rs;
    const int64_t planes = (int64_t)g.n * g.c, scratch = u.plane * m + 16;
    // tap (j, r', s') of channel cc: output plane cc*m + j, flipped weight (r-1-r', s-1-s')
    std::vector<int64_t> off(nt);
    std::vector<int> widx(nt);
    for (int j = 0; j < m; j++)
        for (int r = 0; r < g.r; r++)
            for (int s = 0; s < g.s; s++) {
                const int t = (j * g.r + r) * g.s + s;
                off[t] = j * u.plane + (int64_t)r * g.dh * u.ld + (int64_t)s * g.dw;
                widx[t] = j * rs + (g.r - 1 - r) * g.s + (g.s - 1 - s);
            }
    bool failed = false;
#pragma omp parallel if (planes * g.oh * g.ow * nt > 32768)
    {
        // two scratch sets, the next plane's dy copied in before the current one is computed
        float* q = thread_workspace(2 * scratch, 0);
        std::vector<const float*> src(q ? 2 * nt : 0);
        std::vector<float> wt(q ? nt : 0);
        if (!q) {
#pragma omp atomic write
            failed = true;
        } else {
            std::memset(q, 0, sizeof(float) * (size_t)(2 * scratch));
            for (int t = 0; t < nt; t++) src[t] = q + off[t], src[nt + t] = q + scratch + off[t];
        }
        // dy plane (n, cc*m + j) = pl*m + j, as k = c*m
        auto build = [&](int64_t pl, float* set) {
            for (int j = 0; j < m; j++) build_upsampled(dy + (pl * m + j) * (int64_t)g.oh * g.ow, set + j * u.plane, g, u);
        };
        const int nth = omp_get_num_threads(), tid = omp_get_thread_num();
        const int64_t p0 = planes * tid / nth, p1 = planes * (tid + 1) / nth;
        int cc = (int)(p0 % g.c), cur = 0;
        if (q && p0 < p1) build(p0, q);
        for (int64_t pl = p0; q && pl < p1; pl++) {
            if (pl + 1 < p1) build(pl + 1, q + (cur ^ 1) * scratch);
            const float* wk = w + (int64_t)cc * m * rs;
            for (int t = 0; t < nt; t++) wt[t] = wk[widx[t]];
            taps_plane(src.data() + cur * nt, wt.data(), nt, 0.f, dx + pl * (int64_t)g.h * g.w, g.h, g.w, u.ld,
                       nullptr);
            cur ^= 1;
            if (++cc == g.c) cc = 0;
        }
    }
    if (failed) depthwise_backward_data_direct(dy, w, dx, g);
}

}  // namespace conv
}  // namespace salient
