// 2-D convolution, forward and data gradient, on the CPU.
//
//   y[n,k,p,q] = bias[k] + sum_{c in group(k), r, s} w[k,c,r,s] * x[n,c, p*sh - pt + r*dh, q*sw - pl + s*dw]
//   dx = conv2d^T(dy): the adjoint of the map x -> y (bias excluded).
//
// Dense groups run as im2col + OpenBLAS sgemm per (image, group)
// (Chellapilla et al., "High Performance Convolutional Neural Networks for
// Document Processing", 2006); 1x1 / stride 1 / no pad needs no im2col since
// x itself is the column matrix; a work item of whole output rows builds its column matrix straight
// into the GEMM's packed panels (im2col_pack). The data gradient is sgemm (W^T dy) + col2im.
// Threads: OpenMP workers each take whole images (or, with fewer images than
// threads, blocks of output rows, or of output channels on small planes) and
// run single-threaded sgemm on them, so there is one thread pool (blas.h).
// Depthwise (groups == c) runs direct loops (conv2d_depthwise.cpp); 3x3 stride-1
// dense convs with enough tiles per image run Winograd F(2x2, 3x3) (conv2d_winograd.cpp).
//
// Determinism: how the work is split depends on the batch size and the thread
// count, but no output's arithmetic does. The GEMM is canonical (blas.h: every
// element one chain of FMAs over k from 0, then its bias added), col2im adds in a
// fixed order per image, and Winograd is chosen by one image's geometry alone,
// so an image gets the same bits alone, in any batch, on any number of threads.
//
// FLOPs: 2 * n * k * oh * ow * (c/groups) * r * s for either pass.
#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <new>
#include <vector>
#include <omp.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include "blas.h"
#include "common.h"
#include "conv2d.h"
#include "conv2d_epilogue.h"
#include "conv3d.h"
#include "epilogue512.h"
#include "filter_cache.h"
#include "isa.h"
#include "workspace.h"

namespace {

using namespace salient::conv;

// Output rows [p0, p1) of the column matrix (im2col):
// col[(c*R + r)*S + s, (p - p0)*OW + q] = x[c, p*sh - pt + r*dh, q*sw - pl + s*dw]  (0 outside)
// x: (cg, h, w), col: (cg*r*s, (p1-p0)*ow) with leading dimension ld >= (p1-p0)*ow
void im2col_rows(const float* x, float* col, int64_t ld, int cg, const ConvGeom& g, int p0, int p1) {
    const int rows = cg * g.r * g.s;
    for (int row = 0; row < rows; row++) {
        int s = row % g.s, r = (row / g.s) % g.r, c = row / (g.s * g.r);
        float* dst = col + row * ld;
        const float* src = x + (int64_t)c * g.h * g.w;
        int off_w = s * g.dw - g.pl, lo, hi;
        valid_range(off_w, g.sw, g.w, g.ow, lo, hi);
        for (int p = p0; p < p1; p++) {
            float* d = dst + (int64_t)(p - p0) * g.ow;
            int ih = p * g.sh - g.pt + r * g.dh;
            if (ih < 0 || ih >= g.h) {
                std::memset(d, 0, sizeof(float) * g.ow);
                continue;
            }
            const float* srow = src + (int64_t)ih * g.w + off_w;
            for (int q = 0; q < lo; q++) d[q] = 0.f;
            if (g.sw == 1) {
                std::memcpy(d + lo, srow + lo, sizeof(float) * (hi - lo));
            } else {
                const int sw = g.sw;
                for (int q = lo; q < hi; q++) d[q] = srow[(int64_t)q * sw];
            }
            for (int q = hi; q < g.ow; q++) d[q] = 0.f;
        }
    }
}

// The column matrix of output rows from p0 (im2col_rows' col) packed straight into the GEMM's
// panels (salient::BPacker), so that it is written once, into L2, instead of built whole and then
// copied: rows [k0, k0+kc) (taps c, r, s) and columns [j0, j0+nc) (output positions from p0's first).
struct Im2colPack {
    const float* x;  // (cg, h, w): one image's group
    const ConvGeom* g;
    int p0;
};

// src[0], src[2], ... src[2 (len - 1)] into d (stride-2 taps), 8 at a time by an even-lane shuffle
// of 16 loaded; src[2 len - 1], which the last 8 would load, only where `odd_tail` says it may be read
inline void gather2(const float* src, float* d, int len, bool odd_tail) {
    int i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    for (; i + 8 < len || (odd_tail && i + 8 == len); i += 8) {
        const __m256 lo = _mm256_loadu_ps(src + 2 * i), hi = _mm256_loadu_ps(src + 2 * i + 8);
        // even lanes of lo and hi, per 128-bit half, then the halves in order
        const __m256 e = _mm256_shuffle_ps(lo, hi, 0x88);
        _mm256_storeu_ps(d + i, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
    }
#endif
    for (; i < len; i++) d[i] = src[2 * i];
}

void im2col_pack(const void* vctx, int k0, int kc, int j0, int nc, float* dst) {
    const Im2colPack& t = *(const Im2colPack*)vctx;
    const ConvGeom& g = *t.g;
    const int64_t panel = (int64_t)kc * 16;
    for (int kk = 0; kk < kc; kk++) {
        const int row = k0 + kk, s = row % g.s, r = (row / g.s) % g.r, c = row / (g.s * g.r);
        const float* src = t.x + (int64_t)c * g.h * g.w;
        const int off_w = s * g.dw - g.pl;
        int lo, hi;
        valid_range(off_w, g.sw, g.w, g.ow, lo, hi);
        float* drow = dst + (int64_t)kk * 16;
        for (int j = j0; j < j0 + nc;) {  // one output row's run of columns at a time
            const int oh = t.p0 + j / g.ow, q0 = j % g.ow, run = std::min(g.ow - q0, j0 + nc - j);
            const int ih = oh * g.sh - g.pt + r * g.dh;
            const float* srow = ih >= 0 && ih < g.h ? src + (int64_t)ih * g.w + off_w : nullptr;
            for (int e = 0; e < run;) {  // the run's pieces within one panel
                const int jj = j - j0 + e, lane = jj & 15, len = std::min(16 - lane, run - e), q = q0 + e;
                float* d = drow + (jj >> 4) * panel + lane;
                if (!srow) {
                    for (int i = 0; i < len; i++) d[i] = 0.f;
                } else if (q >= lo && q + len <= hi) {
                    if (g.sw == 1) std::memcpy(d, srow + q, sizeof(float) * len);
                    else if (g.sw == 2) gather2(srow + 2 * q, d, len, off_w + 2 * (q + len) <= g.w);
                    else
                        for (int i = 0; i < len; i++) d[i] = srow[(int64_t)(q + i) * g.sw];
                } else {
                    for (int i = 0; i < len; i++) d[i] = q + i >= lo && q + i < hi ? srow[(int64_t)(q + i) * g.sw] : 0.f;
                }
                e += len;
            }
            j += run;
        }
        for (int jj = nc; jj < (nc + 15) / 16 * 16; jj++) drow[(jj >> 4) * panel + (jj & 15)] = 0.f;
    }
}

// drow[2q + off0] += src0[q] and drow[2q + off0 + 1] += src1[q] for q in [lo, hi), 8 q (16 floats)
// at a time, src0 and src1 interleaved: two taps of stride 2 (col2im_channels).
void col2im_pair_s2(const float* src0, const float* src1, float* drow, int off0, int lo, int hi) {
    int q = lo;
    for (; q + 8 <= hi; q += 8) {
        float* d = drow + 2 * (int64_t)q + off0;
        const __m256 a = _mm256_loadu_ps(src0 + q), b = _mm256_loadu_ps(src1 + q);
        const __m256 l = _mm256_unpacklo_ps(a, b), h = _mm256_unpackhi_ps(a, b);  // a0 b0 a1 b1 | a4 b4 a5 b5, ...
        _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), _mm256_permute2f128_ps(l, h, 0x20)));
        _mm256_storeu_ps(d + 8, _mm256_add_ps(_mm256_loadu_ps(d + 8), _mm256_permute2f128_ps(l, h, 0x31)));
    }
    for (; q < hi; q++) {
        drow[2 * (int64_t)q + off0] += src0[q];
        drow[2 * (int64_t)q + off0 + 1] += src1[q];
    }
}

// x[c, ...] += the column rows of channels [c0, c1) (the adjoint of im2col); x zeroed by the caller.
// col: (cg*r*s, oh*ow) with leading dimension ld >= oh*ow, x: (cg, h, w)
// Stride 2, dilation 1: taps s and s + 1 of a row write the even and the odd columns of the same
// span, so they are added together, their values interleaved (col2im_pair_s2). An input element
// gets at most one value of each pair, so every element still receives its values in (r, s) order,
// from 0: the same sums as one tap at a time.
void col2im_channels(const float* col, int64_t ld, float* x, const ConvGeom& g, int c0, int c1) {
    const int64_t ohw = ld;
    const bool pairs = g.sw == 2 && g.dw == 1;
    for (int c = c0; c < c1; c++) {
        float* dst = x + (int64_t)c * g.h * g.w;
        for (int r = 0; r < g.r; r++) {
            for (int s = 0; s < g.s; s++) {
                const float* src = col + ((int64_t)(c * g.r + r) * g.s + s) * ohw;
                int off_w = s * g.dw - g.pl, lo, hi;
                valid_range(off_w, g.sw, g.w, g.ow, lo, hi);
                if (pairs && s + 1 < g.s) {
                    // taps s and s + 1 together over the columns both reach, each alone over the rest
                    const float* src1 = src + ohw;
                    int lo1, hi1;
                    valid_range(off_w + 1, g.sw, g.w, g.ow, lo1, hi1);
                    const int a = std::max(lo, lo1), b = std::max(a, std::min(hi, hi1));
                    for (int p = 0; p < g.oh; p++) {
                        const int ih = p * g.sh - g.pt + r * g.dh;
                        if (ih < 0 || ih >= g.h) continue;
                        float* drow = dst + (int64_t)ih * g.w;
                        const float* s0 = src + (int64_t)p * g.ow;
                        const float* s1 = src1 + (int64_t)p * g.ow;
                        for (int q = lo; q < std::min(hi, a); q++) drow[2 * (int64_t)q + off_w] += s0[q];
                        for (int q = std::max(lo, b); q < hi; q++) drow[2 * (int64_t)q + off_w] += s0[q];
                        for (int q = lo1; q < std::min(hi1, a); q++) drow[2 * (int64_t)q + off_w + 1] += s1[q];
                        for (int q = std::max(lo1, b); q < hi1; q++) drow[2 * (int64_t)q + off_w + 1] += s1[q];
                        col2im_pair_s2(s0, s1, drow, off_w, a, b);
                    }
                    s++;
                    continue;
                }
                for (int p = 0; p < g.oh; p++) {
                    int ih = p * g.sh - g.pt + r * g.dh;
                    if (ih < 0 || ih >= g.h) continue;
                    float* drow = dst + (int64_t)ih * g.w + off_w;
                    const float* srow = src + (int64_t)p * g.ow;
                    if (g.sw == 1) {
#pragma omp simd
                        for (int q = lo; q < hi; q++) drow[q] += srow[q];
                    } else {
                        const int sw = g.sw;
                        for (int q = lo; q < hi; q++) drow[(int64_t)q * sw] += srow[q];
                    }
                }
            }
        }
    }
}



// y[kk, j] = y[kk, j] + bias[kk] for kk < rows, j < len (rows ld apart): every path adds the bias
// after the GEMM's chain (which starts from 0), as the CUDA kernel does, so that the two engines'
// im2col convs round alike.
void add_bias(float* y, int64_t ld, const float* bias, int rows, int64_t len) {
    for (int kk = 0; kk < rows; kk++) {
        float* d = y + kk * ld;
        const float bv = bias[kk];
#pragma omp simd
        for (int64_t j = 0; j < len; j++) d[j] = d[j] + bv;
    }
}

// The bias and the conv epilogue e of the output block at y (rows ld apart), for the GEMM that writes it.
// Convs whose whole output exceeds this stream it past the caches (GemmEpilogue::stream): it
// could not stay there for the next layer anyway (L3 is 32 MiB on the machines measured).
constexpr int64_t kStreamBytes = int64_t(32) << 20;
// A pointwise conv whose input is in the caches (conv2d.h's input_in_caches) may have the GEMM read it
// where it lies (GemmEpilogue::b_cached). MobileNetV2's 144 -> 24 at 56x56, 2 threads (Xeon, AVX-512),
// the input rotating over two copies: read where it lies 1.28x the packed path's speed at batch 2 to 8
// (up to 14 MiB an input), 0.94x at batch 16 (29 MiB)

salient::GemmEpilogue gemm_epilogue(const Epilogue& e, const float* bias, const float* y, int64_t ld, const ConvGeom& g) {
    salient::GemmEpilogue ge;
    ge.stream = (int64_t)g.n * g.k * g.oh * g.ow * (int64_t)sizeof(float) > kStreamBytes;
    ge.b_cached = is_pointwise(g) && input_in_caches(g);
    ge.b_near = is_pointwise(g) && input_near(g);
    ge.bias = bias;
    ge.z = e.z ? e.z + (y - e.base) : nullptr;
    ge.ldz = ld;
    ge.act = e.kind;
    ge.lo = e.lo;
    ge.hi = e.hi;
    return ge;
}

// y (rows x len, rows ld apart) = w (rows x crs) times b (crs x len, rows ldb apart), then the bias
// and e: in the GEMM kernel's stores where it can (AVX-512), else in passes over y after it.
void gemm_with_epilogue(int rows, int len, int crs, const float* w, const float* b, int64_t ldb, float* y, int64_t ld,
                        const float* bias, const Epilogue& e, const ConvGeom& g) {
    if (salient::sgemm_canonical_ep(false, false, rows, len, crs, w, crs, b, (int)ldb, y, (int)ld,
                                    gemm_epilogue(e, bias, y, ld, g)))
        return;
    if (bias) add_bias(y, ld, bias, rows, len);
    apply_epilogue(e, y, rows, len, ld);
}

// Output rows per im2col block of a work item: about kColBlock GEMM columns, so that the column
// matrix (crs x columns) and its packed copy stay in L2 instead of streaming the whole image's
// column matrix (7 MiB for a 224x224 stem) through memory twice. The GEMM's chains do not depend
// on how the columns are split, so the bits are the same.
constexpr int kColBlock = 1024;

int col_block_rows(const ConvGeom& g) { return std::max(1, kColBlock / std::max(1, g.ow)); }

// Columns per block of a pointwise conv's output rows: about kPointwiseBlock floats of output
// (kg rows), in multiples of 32 (two of the GEMM's 16-column panels), at least 64.
constexpr int64_t kPointwiseBlock = int64_t(1) << 16;

int64_t pointwise_block_cols(int kg) { return std::max<int64_t>(64, kPointwiseBlock / std::max(1, kg) / 32 * 32); }

// The packer of a pointwise conv's input block b (channel rows ldb apart, channels from c0) that applies
// the conv's prologue (conv2d_epilogue.h) as it packs: pack_b's panels of 16 columns, zeros past nc.
struct PrePack {
    const float* b;
    int64_t ldb;
    const Prologue* pre;
    int c0;
};

void pre_pack(const void* vctx, int k0, int kc, int j0, int nc, float* dst) {
    const PrePack& t = *(const PrePack*)vctx;
    const Prologue& pre = *t.pre;
    const int full = nc / 16;
    const int64_t panel = (int64_t)kc * 16;
    for (int kk = 0; kk < kc; kk++) {
        const int64_t c = t.c0 + k0 + kk;
        const float* s = t.b + (int64_t)(k0 + kk) * t.ldb + j0;
        float* d = dst + (int64_t)kk * 16;
        int p = 0;
#if defined(__AVX2__) && defined(__FMA__)
        if (kk + 4 < kc)  // the rows ahead, as pack_b fetches them
            for (int j = 0; j < nc; j += 16) _mm_prefetch((const char*)(s + 4 * t.ldb + j), _MM_HINT_T0);
        const __m256 a = _mm256_set1_ps(pre.scale[c]), b = _mm256_set1_ps(pre.shift ? pre.shift[c] : 0.f);
        for (; p < full; p++) {  // as apply_prologue rounds it
            const float* sp = s + p * 16;
            float* dp = d + p * panel;
            _mm256_storeu_ps(dp, salient::act256(_mm256_fmadd_ps(_mm256_loadu_ps(sp), a, b), pre.kind, pre.lo, pre.hi));
            _mm256_storeu_ps(dp + 8, salient::act256(_mm256_fmadd_ps(_mm256_loadu_ps(sp + 8), a, b), pre.kind, pre.lo, pre.hi));
        }
#endif
        for (; p < full; p++) apply_prologue(pre, c, s + p * 16, d + p * panel, 16);
        if (full * 16 < nc) {
            float* dp = d + full * panel;
            const int w = nc - full * 16;
            apply_prologue(pre, c, s + full * 16, dp, w);
            for (int j = w; j < 16; j++) dp[j] = 0.f;
        }
    }
}

// y (rows x len, rows ld apart) = w (rows x crs) times b (crs rows ldb apart: a column matrix, or a
// pointwise conv's input block whose first channel is c0), then the bias and e; with e's prologue
// (pointwise convs only) applied to b as it is packed. False, with nothing written, when the GEMM
// has no memory for its packs.
bool pointwise_gemm(int rows, int len, int crs, const float* w, const float* b, int64_t ldb, float* y, int64_t ld,
                    const float* bias, const Epilogue& e, const ConvGeom& g, int c0) {
    if (!e.pre) {
        gemm_with_epilogue(rows, len, crs, w, b, ldb, y, ld, bias, e, g);
        return true;
    }
    const PrePack ctx{b, ldb, e.pre, c0};
    return salient::sgemm_canonical_packer(rows, len, crs, w, crs, {pre_pack, &ctx}, y, (int)ld,
                                           gemm_epilogue(e, bias, y, ld, g));
}

// One work item of the dense forward: output rows [p0, p1) of image nn, all groups. False when
// out of memory (a pointwise conv with a prologue: its GEMM's packs).
// x: (n,c,h,w), w: (k,cg,r,s), bias: (k) or NULL, y: (n,k,oh,ow); col: per-thread scratch
bool dense_forward_rows(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, int nn,
                        int p0, int p1, float* col, const Epilogue& e) {
    const int cg = g.c / g.groups, kg = g.k / g.groups, crs = cg * g.r * g.s;
    const int ohw = g.oh * g.ow, len = (p1 - p0) * g.ow;
    const bool pointwise = is_pointwise(g);
    // the column matrix packed straight into the GEMM's panels, all rows at once, for kernels wider
    // than 1x1. Measured on Zen 3 (AVX2), alternating pairs against im2col then packing: ResNet's
    // 7x7 stride-2 stem 1.09-1.10x (batch 1 and 32), MobileNetV2's 3x3 stride-2 stem 1.04x, a 3x3
    // stride-2 conv of 64 channels at 56x56 1.05x; a strided 1x1 (ResNet-50's downsampling) 0.96x,
    // which keeps the column matrix.
    if (!pointwise && g.r * g.s > 1) {
        // (false: no memory for the GEMM's packs; the column matrix below then writes every group again)
        bool done = true;
        for (int gi = 0; gi < g.groups && done; gi++) {
            const Im2colPack ctx{x + ((int64_t)nn * g.c + (int64_t)gi * cg) * g.h * g.w, &g, p0};
            float* yb = y + ((int64_t)nn * g.k + (int64_t)gi * kg) * ohw + (int64_t)p0 * g.ow;
            const float* bg = bias ? bias + gi * kg : nullptr;
            done = salient::sgemm_canonical_packer(kg, len, crs, w + (int64_t)gi * kg * crs, crs, {im2col_pack, &ctx}, yb,
                                                   ohw, gemm_epilogue(e, bg, yb, ohw, g));
        }
        if (done) return true;
    }
    if (!pointwise && p1 - p0 > col_block_rows(g)) {
        for (int pa = p0; pa < p1; pa += col_block_rows(g))
            dense_forward_rows(x, w, bias, y, g, nn, pa, std::min(p1, pa + col_block_rows(g)), col, e);
        return true;
    }
    for (int gi = 0; gi < g.groups; gi++) {
        const float* xg = x + ((int64_t)nn * g.c + (int64_t)gi * cg) * g.h * g.w;  // (cg,h,w)
        const float* wg = w + (int64_t)gi * kg * crs;                              // (kg,crs)
        float* yb = y + ((int64_t)nn * g.k + (int64_t)gi * kg) * ohw + (int64_t)p0 * g.ow;  // (kg, len), ld ohw
        const float* bg = bias ? bias + gi * kg : nullptr;
        if (pointwise) {
            // x itself is the column matrix (crs, ohw), in blocks of columns whose output stays in L2
            // while the epilogue passes over it (a pointwise conv has a small k: its output is the
            // bulk of its memory traffic)
            const int64_t block = pointwise_block_cols(kg);
            for (int64_t j0 = 0; j0 < len; j0 += block)
                if (!pointwise_gemm(kg, (int)std::min<int64_t>(block, len - j0), crs, wg, xg + (int64_t)p0 * g.ow + j0,
                                    ohw, yb + j0, ohw, bg, e, g, gi * cg))
                    return false;
            continue;
        }
        im2col_rows(xg, col, len, cg, g, p0, p1);  // (crs, len)
        gemm_with_epilogue(kg, len, crs, wg, col, len, yb, ohw, bg, e, g);
    }
    return true;
}

// One work item over images [n0, n1) whose output planes are small: their column
// matrices sit side by side in col (crs, nb*ohw) so one GEMM with nb*ohw columns
// replaces nb skinny ones, then tmp (kg, nb*ohw) is scattered into y.
// x: (n,c,h,w), w: (k,cg,r,s), bias: (k) or NULL, y: (n,k,oh,ow)
void dense_forward_images(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, int n0,
                          int n1, float* col, float* tmp, const Epilogue& e) {
    const int cg = g.c / g.groups, kg = g.k / g.groups, crs = cg * g.r * g.s;
    const int ohw = g.oh * g.ow, nb = n1 - n0;
    const int64_t ld = (int64_t)nb * ohw;
    const bool pointwise = is_pointwise(g);
    for (int gi = 0; gi < g.groups; gi++) {
        for (int b = 0; b < nb; b++) {
            const float* xg = x + ((int64_t)(n0 + b) * g.c + (int64_t)gi * cg) * g.h * g.w;  // (cg,h,w)
            if (pointwise && e.pre) {
                for (int cc = 0; cc < cg; cc++)
                    apply_prologue(*e.pre, gi * cg + cc, xg + (int64_t)cc * ohw, col + cc * ld + (int64_t)b * ohw, ohw);
            } else if (pointwise) {
                for (int cc = 0; cc < cg; cc++)
                    std::memcpy(col + cc * ld + (int64_t)b * ohw, xg + (int64_t)cc * ohw, sizeof(float) * ohw);
            } else {
                im2col_rows(xg, col + (int64_t)b * ohw, ld, cg, g, 0, g.oh);
            }
        }
        const float* wg = w + (int64_t)gi * kg * crs;  // (kg,crs)
        // without a residual (laid out as y, not as tmp) the bias and activation may go into the
        // GEMM's stores; else, or where the GEMM cannot, they are applied to each image's rows below
        bool in_gemm = false;
        if (!e.z) {
            salient::GemmEpilogue ge;
            ge.bias = bias ? bias + gi * kg : nullptr, ge.act = e.kind, ge.lo = e.lo, ge.hi = e.hi;
            in_gemm = salient::sgemm_canonical_ep(false, false, kg, (int)ld, crs, wg, crs, col, (int)ld, tmp, (int)ld, ge);
        } else {
            salient::sgemm_serial(false, false, kg, (int)ld, crs, 1.f, wg, crs, col, (int)ld, 0.f, tmp, (int)ld);
        }
        for (int b = 0; b < nb; b++) {
            float* yb = y + ((int64_t)(n0 + b) * g.k + (int64_t)gi * kg) * ohw;  // (kg,ohw)
            for (int kk = 0; kk < kg; kk++) {
                float* d = yb + (int64_t)kk * ohw;
                std::memcpy(d, tmp + kk * ld + (int64_t)b * ohw, sizeof(float) * ohw);
                if (in_gemm) continue;
                if (bias) add_bias(d, ohw, bias + gi * kg + kk, 1, ohw);
                apply_epilogue(e, d, ohw);
            }
        }
    }
}

// The data-gradient twin of dense_forward_images: dy of images [n0, n1) side by
// side in tmp (kg, nb*ohw), one GEMM col = W_g^T tmp, then col2im per image.
// dy: (n,k,oh,ow), w: (k,cg,r,s), dx: (n,c,h,w)
void dense_backward_images(const float* dy, const float* w, float* dx, const ConvGeom& g, int n0, int n1,
                           float* col, float* tmp) {
    const int cg = g.c / g.groups, kg = g.k / g.groups, crs = cg * g.r * g.s;
    const int ohw = g.oh * g.ow, nb = n1 - n0;
    const int64_t ld = (int64_t)nb * ohw;
    const bool pointwise = is_pointwise(g);
    for (int gi = 0; gi < g.groups; gi++) {
        for (int b = 0; b < nb; b++) {
            const float* dyb = dy + ((int64_t)(n0 + b) * g.k + (int64_t)gi * kg) * ohw;  // (kg,ohw)
            for (int kk = 0; kk < kg; kk++)
                std::memcpy(tmp + kk * ld + (int64_t)b * ohw, dyb + (int64_t)kk * ohw, sizeof(float) * ohw);
        }
        const float* wg = w + (int64_t)gi * kg * crs;  // (kg,crs)
        salient::sgemm_serial(true, false, crs, (int)ld, kg, 1.f, wg, crs, tmp, (int)ld, 0.f, col, (int)ld);
        for (int b = 0; b < nb; b++) {
            float* dxg = dx + ((int64_t)(n0 + b) * g.c + (int64_t)gi * cg) * g.h * g.w;  // (cg,h,w)
            if (pointwise) {
                for (int cc = 0; cc < cg; cc++)
                    std::memcpy(dxg + (int64_t)cc * ohw, col + cc * ld + (int64_t)b * ohw, sizeof(float) * ohw);
            } else {
                std::memset(dxg, 0, sizeof(float) * (size_t)cg * g.h * g.w);
                col2im_channels(col + (int64_t)b * ohw, ld, dxg, g, 0, cg);
            }
        }
    }
}

// Images per batched work item: enough for ~kBatchCols GEMM columns, while
// leaving every thread at least one item.
constexpr int kBatchCols = 384;

int images_per_item(const ConvGeom& g, int nt) {
    const int ohw = g.oh * g.ow;
    if (ohw >= kBatchCols / 2 || g.n < 2 * nt) return 1;
    return std::max(1, std::min((kBatchCols + ohw - 1) / ohw, g.n / nt));
}

// Splits n images x oh output rows into work items: whole images when there are
// at least as many images as threads, otherwise row blocks of each image.
struct Split {
    int chunks;  // row blocks per image
    int rows;    // output rows per block
};

Split split_rows(const ConvGeom& g, int nt) {
    int chunks = g.n >= nt ? 1 : std::min(g.oh, (nt + g.n - 1) / g.n);
    return {chunks, (g.oh + chunks - 1) / chunks};
}

// Fewer images than threads on small planes (a single image's late stages):
// splitting output rows would give every thread a few GEMM columns and a
// private copy of the whole filter to pack. Instead the threads build one
// shared column matrix per (image, group), each its share of the channels,
// then each multiplies its block of output channels by it.
constexpr int kChannelSplitCols = 256;

bool splits_channels(const ConvGeom& g, int nt) {
    return nt > 1 && g.n < nt && (int64_t)g.oh * g.ow <= kChannelSplitCols && g.k / g.groups >= 16 * nt;
}

int forward_channel_blocks(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, int nt,
                           const Epilogue& e) {
    const int cg = g.c / g.groups, kg = g.k / g.groups, rs = g.r * g.s, crs = cg * rs, ohw = g.oh * g.ow;
    const bool pointwise = is_pointwise(g);
    float* col = pointwise ? nullptr : salient::thread_workspace((int64_t)crs * ohw, 2);
    if (!pointwise && !col) return salient::fail(SALIENT_ENOMEM, "conv2d_forward_cpu: out of memory for the im2col workspace");
    int err = 0;
    for (int nn = 0; nn < g.n && !err; nn++)
        for (int gi = 0; gi < g.groups; gi++) {
            const float* xg = x + ((int64_t)nn * g.c + (int64_t)gi * cg) * g.h * g.w;  // (cg,h,w)
            const float* wg = w + (int64_t)gi * kg * crs;                              // (kg,crs)
            float* yg = y + ((int64_t)nn * g.k + (int64_t)gi * kg) * ohw;             // (kg,ohw)
            const float* cols = pointwise ? xg : col;
#pragma omp parallel num_threads(nt)
            {
                const int t = omp_get_thread_num(), T = omp_get_num_threads();
                if (!pointwise) {
                    const int c0 = (int)((int64_t)cg * t / T), c1 = (int)((int64_t)cg * (t + 1) / T);
                    if (c1 > c0)
                        im2col_rows(xg + (int64_t)c0 * g.h * g.w, col + (int64_t)c0 * rs * ohw, ohw, c1 - c0, g, 0, g.oh);
#pragma omp barrier
                }
                // channel blocks in multiples of 8 rows (the GEMM kernel's tile)
                const int blocks = (kg + 7) / 8;
                const int k0 = std::min(kg, 8 * (int)((int64_t)blocks * t / T));
                const int k1 = std::min(kg, 8 * (int)((int64_t)blocks * (t + 1) / T));
                // (only a pointwise conv has a prologue: the packer reads cols as its input)
                if (k1 > k0 && !pointwise_gemm(k1 - k0, ohw, crs, wg + (int64_t)k0 * crs, cols, ohw, yg + (int64_t)k0 * ohw,
                                               ohw, bias ? bias + gi * kg + k0 : nullptr, e, g, gi * cg)) {
#pragma omp atomic write
                    err = 1;
                }
            }
        }
    if (err) return salient::fail(SALIENT_ENOMEM, "conv2d_forward_cpu: out of memory for the GEMM's packs");
    return SALIENT_OK;
}

// Convs onto small planes with the output channels on the vector lanes (blas.h's sgemm_lanes): the
// weights packed once into 32-channel panels (kept in the filter cache) and read front to back, the
// column matrix (x itself for a pointwise conv) read where it lies, nothing packed per call. The same
// chains as the blocked GEMM, so the same bits. Measured (Xeon, 2 threads, weights
// cold as in a network): ResNet-50's 1x1 convs at batch 1, 256 -> 1024 at 14x14 624 -> 380-400 us,
// 2048 -> 512 at 7x7 633 -> 460-520, 512 -> 2048 at 7x7 667 -> 500-520. Onto larger planes it loses
// (256 -> 64 at 56x56, batch 1: 464 -> 565 us) but for one panel of at most 32 output channels up to
// 32x32 at batch 1 (MobileNetV2's 192 -> 32 at 28x28: 60 -> 44 us in cache, 53-60 cold; below).
constexpr int kLanesMaxCols = 256;  // output positions per image
constexpr int kLanesMinK = 128;     // taps per output (c r s)
constexpr int kLanesImages = 2;     // images an item at most, each slice of the weights used by both
constexpr bool kLanesIsa = SALIENT_HAVE_AVX512 != 0;  // (built for AVX2 at least: the kernels of either ISA)

bool lanes_applies(const ConvGeom& g, const Epilogue& e, int nt) {
    const int64_t ohw = (int64_t)g.oh * g.ow;
    // AVX2 (its kernel: 16 of the panel's lanes at a time, 6 columns) only with fewer images than
    // threads: with AVX2 forced on the Xeon, batch 1, weights cold, 256 -> 1024 at 14x14 585 -> 508 us,
    // 2048 -> 512 at 7x7 688 -> 513, 3x3 stride-2 512 at 14x14 1726 -> 1298; at batch 32 512 -> 2048 at
    // 7x7 15.7 -> 17.6 ms (the blocked GEMM's bits are the same, so the path may follow the batch).
    // Convs of at most 32 output channels onto planes up to 32x32 only with fewer images than threads:
    // at batch 32, input cold as in a network, the blocked GEMM ran MobileNetV2's 192 -> 32 at 28x28 in
    // 2.05-2.15 ms, the lanes in 3.1-3.3 (2.26 fetching B ahead; in cache they win, 1.19 against 1.6)
    return kLanesIsa && (salient::isa::avx512() || g.n < nt) && g.groups == 1 &&
           (ohw <= kLanesMaxCols || (g.k <= 32 && ohw <= 4 * kLanesMaxCols && g.n < nt)) &&
           (int64_t)g.c * g.r * g.s >= kLanesMinK;
}

// Channels [c0, c1) of image xn's column matrix for forward_lanes: im2col's rows, or where the conv is
// pointwise with a prologue, its input with the prologue applied (what the blocked GEMM's packer applies)
void lanes_columns_of(const float* xn, float* col, const ConvGeom& g, const Epilogue& e, int c0, int c1) {
    const int ohw = g.oh * g.ow;
    if (e.pre) {
        for (int cc = c0; cc < c1; cc++) apply_prologue(*e.pre, cc, xn + (int64_t)cc * ohw, col + (int64_t)cc * ohw, ohw);
        return;
    }
    if (c1 > c0) im2col_rows(xn + (int64_t)c0 * g.h * g.w, col + (int64_t)c0 * g.r * g.s * ohw, ohw, c1 - c0, g, 0, g.oh);
}

int forward_lanes(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, int nt,
                  const Epilogue& e) {
    const int k = g.k, crs = g.c * g.r * g.s, ohw = g.oh * g.ow;
    const bool pointwise = is_pointwise(g) && !e.pre;  // x itself is the column matrix
    const auto A = salient::cached_filters(w, (int64_t)k * crs, {salient::kFilterLanes, k, crs, 0, false},
                                           (size_t)salient::lanes_packed_floats(k, crs) * sizeof(float),
                                           [&](float* d) { salient::lanes_pack(w, crs, k, crs, d); });
    if (!A) return salient::fail(SALIENT_ENOMEM, "conv2d_forward_cpu: out of memory for the packed weights");
    const int panels = (k + salient::kLanes - 1) / salient::kLanes;
    // items of nb whole images; with fewer images than threads, each image's panels in nt blocks, or
    // where there are few panels, each panel's positions in nt blocks (of whole column blocks)
    const int nb = g.n >= nt ? std::max(1, std::min(kLanesImages, g.n / nt)) : 1;
    const bool few = g.n < nt && panels < 4 * nt;
    const int pchunks = g.n >= nt ? 1 : few ? panels : nt, jchunks = few ? nt : 1;
    const int R = salient::lanes_columns(ohw), colblocks = (ohw + R - 1) / R;
    const int per = pchunks * jchunks;
    // item `it` of images [n0, n0 + images) whose column matrices lie at b, bimg floats apart
    const auto product = [&](int n0, int images, int it, const float* b, int64_t bimg) {
        const int pc = it / jchunks, jc = it % jchunks;
        const int i0 = (int)((int64_t)panels * pc / pchunks) * salient::kLanes;
        const int i1 = (int)((int64_t)panels * (pc + 1) / pchunks) * salient::kLanes;
        const int j0 = std::min(ohw, (int)((int64_t)colblocks * jc / jchunks) * R);
        const int j1 = std::min(ohw, (int)((int64_t)colblocks * (jc + 1) / jchunks) * R);
        if (i0 >= i1 || j0 >= j1) return true;
        float* yn = y + (int64_t)n0 * k * ohw;
        salient::GemmEpilogue ge;
        ge.bias = bias, ge.act = e.kind, ge.lo = e.lo, ge.hi = e.hi;
        if (e.z) ge.z = e.z + (yn - e.base), ge.ldz = ohw;
        return salient::sgemm_lanes(A.get(), k, crs, i0, i1, b, ohw, j0, j1, yn, ohw, ge, images, bimg, (int64_t)k * ohw);
    };
    int err = 0;
    if (g.n < nt) {
        // one image at a time; its column matrix shared, each thread building its share of the channels
        float* col = pointwise ? nullptr : salient::thread_workspace((int64_t)crs * ohw, 2);
        if (!pointwise && !col) return salient::fail(SALIENT_ENOMEM, "conv2d_forward_cpu: out of memory for the im2col workspace");
        for (int nn = 0; nn < g.n && !err; nn++) {
            const float* xn = x + (int64_t)nn * g.c * g.h * g.w;
#pragma omp parallel num_threads(nt)
            {
                const int t = omp_get_thread_num(), T = omp_get_num_threads();
                if (!pointwise) {
                    lanes_columns_of(xn, col, g, e, (int)((int64_t)g.c * t / T), (int)((int64_t)g.c * (t + 1) / T));
#pragma omp barrier
                }
                for (int it = t; it < per; it += T)
                    if (!product(nn, 1, it, pointwise ? xn : col, 0)) {
#pragma omp atomic write
                        err = 1;
                    }
            }
        }
    } else {
        const int64_t groups = (g.n + nb - 1) / nb;
#pragma omp parallel num_threads(nt)
        {
            float* col = pointwise ? nullptr : salient::thread_workspace((int64_t)nb * crs * ohw, 0);
            if (!pointwise && !col) {
#pragma omp atomic write
                err = 1;
            }
#pragma omp for schedule(dynamic, 1)
            for (int64_t gi = 0; gi < groups; gi++) {
                if (!pointwise && !col) continue;
                const int n0 = (int)gi * nb, images = std::min(nb, g.n - n0);
                const float* xn = x + (int64_t)n0 * g.c * g.h * g.w;
                if (!pointwise)
                    for (int b = 0; b < images; b++)
                        lanes_columns_of(xn + (int64_t)b * g.c * g.h * g.w, col + (int64_t)b * crs * ohw, g, e, 0, g.c);
                if (!product(n0, images, 0, pointwise ? xn : col, pointwise ? (int64_t)g.c * g.h * g.w : (int64_t)crs * ohw)) {
#pragma omp atomic write
                    err = 1;
                }
            }
        }
    }
    if (err) return salient::fail(SALIENT_ENOMEM, "conv2d_forward_cpu: out of memory for the column matrix or the partial sums");
    return SALIENT_OK;
}

// A pointwise conv as one product over the positions of the whole batch (blas.h's sgemm_batch,
// AVX-512), the weights packed once (kept in the filter cache). Threads (nt) take runs of whole
// 64-position blocks, or, with fewer than four blocks a thread, runs of the filters.
int batch_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, int nt,
                  const Epilogue& e) {
    const int k = g.k, c = g.c, hw = g.oh * g.ow;
    const int64_t N = (int64_t)g.n * hw;
    const auto A = salient::cached_filters(w, (int64_t)k * c, {salient::kFilterBatch, k, c, 0, false},
                                           (size_t)salient::batch_packed_floats(k, c) * sizeof(float),
                                           [&](float* d) { salient::batch_pack(w, k, c, d); });
    if (!A) return salient::fail(SALIENT_ENOMEM, "conv2d_forward_cpu: out of memory for the packed weights");
    const bool stream = N * k * (int64_t)sizeof(float) > kStreamBytes;
    const salient::BatchPlanes B{x, c, hw, N}, C{y, k, hw, N};
    const int64_t blocks = (N + 63) / 64;
    const bool by_cols = blocks >= 4 * nt;
    int err = 0;
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), nth = omp_get_num_threads();
        int i0 = 0, i1 = k;
        int64_t q0 = 0, q1 = N;
        if (by_cols) {
            q0 = blocks * t / nth * 64;
            q1 = std::min(blocks * (t + 1) / nth * 64, N);
        } else {
            const int rb = (k + 5) / 6;
            i0 = std::min(k, rb * t / nth * 6);
            i1 = std::min(k, rb * (t + 1) / nth * 6);
        }
        if (i0 < i1 && q0 < q1 &&
            !salient::sgemm_batch(c, A.get(), B, C, e.z, bias, e.kind, e.lo, e.hi, stream, i0, i1, q0, q1)) {
#pragma omp atomic write
            err = 1;
        }
    }
    if (err) return salient::fail(SALIENT_ENOMEM, "conv2d_forward_cpu: out of memory for the GEMM's packs");
    return SALIENT_OK;
}

// Pointwise convs onto 128 filters or more, on planes of 17x17 to 32x32 at any batch and of 4x4 to 16x16
// from 16 images on, take the product over the whole batch (batch_forward): no column tails at 14x14 and
// 7x7 (196 and 49 positions an image: a 64-column block over one image's last 4 or 1 columns), and the
// blocked kernel where the lanes kernel ran. Measured in ResNet-50 (Xeon, 2 threads, per-op medians,
// the old path against this one): batch 32, 256 -> 1024 at 14x14 with its residual and Relu 11.3 ->
// 10.2 ms a call, 1024 -> 256 12.1 -> 11.4, 512 -> 2048 at 7x7 8.5 -> 7.8; the 14x14 and 7x7 pointwise
// convs together 255-256 -> 225-233 ms a forward, the 28x28 ones 145-146 -> 140-141 (two alternating
// runs); batch 1, 128 -> 512 at 28x28 350 -> 316 us a call. MobileNetV2 at batch 32 (its expansions onto
// 192 to 960 channels): 119.6-121.9 -> 115.5-118.6 ms a forward. At batch 1 to 8
// on 14x14 and 7x7 the lanes path stays faster with the weights cold, as in a network (2048 -> 512 at
// 7x7, batch 1: 449 -> 580 us with the weights read where they lie, 457 -> 680 packed); on 56x56 planes
// the product over the batch measured 0.93-1.06x and onto fewer filters (the projections onto 24 to 96
// channels) 0.80-1.11x, so those keep their paths.
// From 4 images on, the convs from at most kBatchFewChannels channels take it too on 14x14 and 7x7: at
// a few taps an output the lanes path's register transposes and stores of 7 columns weigh more than its
// products. Zen 4, 2 threads, batch 8, in one process alternating with the lanes path (the same bits),
// output rotating over 8 copies / in cache: MobileNetV2's expansions 96 -> 576 at 14x14 1.35 -> 1.13 /
// 0.94 -> 0.88 ms, 64 -> 384 0.59 -> 0.49 / 0.46 -> 0.44, 160 -> 960 at 7x7 0.64 -> 0.59 / 0.58 -> 0.57;
// ResNet-50's 256 -> 1024 at 14x14 5.03 -> 4.51; batch 4, 96 -> 576 0.68 -> 0.54, 160 -> 960 0.35 -> 0.32;
// MobileNetV2 at batch 32 (sub-batches of 8), those three per forward 14.3 -> 13.1, 9.0 -> 8.7 and
// 9.2 -> 8.4 ms. From more channels the lanes path stays ahead (320 -> 1280 at 7x7 1.51 against 1.55
// ms, 576 -> 160 0.33 against 0.39, 960 -> 320 1.13 against 1.21), and at batch 1 the two are even
// (96 -> 576 376 against 384 us).
constexpr int kBatchMinK = 128;
constexpr int64_t kBatchMaxHw = 1024, kBatchSmallHw = 256;
constexpr int kBatchSmallImages = 16, kBatchFewImages = 4, kBatchFewChannels = 256;
bool batch_applies(const ConvGeom& g, const Epilogue& e) {
    const int64_t hw = (int64_t)g.oh * g.ow;
    return salient::isa::avx512() && is_pointwise(g) && g.groups == 1 && !e.pre && !e.mask && g.k >= kBatchMinK &&
           hw >= 16 && hw <= kBatchMaxHw &&
           (hw > kBatchSmallHw || g.n >= kBatchSmallImages || (g.n >= kBatchFewImages && g.c <= kBatchFewChannels));
}

// The forward of every path, with the epilogue e applied by each work item to the outputs it wrote.
// x: (n,c,h,w), w: (k,cg,r,s), bias: (k) or NULL, y: (n,k,oh,ow); g checked
int forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, const Epilogue& e) {
    const int n = g.n, c = g.c, k = g.k, r = g.r, s = g.s, groups = g.groups;
    static const char* const fn = "conv2d_forward_cpu";
    if (groups == c && groups > 1) {
        depthwise_forward(x, w, bias, y, g, e);
        return SALIENT_OK;
    }
    const int cg = c / groups, crs = cg * r * s;
    const double flops = 2.0 * n * k * (double)g.oh * g.ow * crs;
    const int nt = flops < 2e6 ? 1 : omp_get_max_threads();
    if (winograd_applies(g, nt)) return winograd_forward(x, w, bias, y, g, nt, e);
    if (batch_applies(g, e)) return batch_forward(x, w, bias, y, g, nt, e);
    if (lanes_applies(g, e, nt)) return forward_lanes(x, w, bias, y, g, nt, e);
    // a 3x3 stride-2 stem from a few channels: its outputs on the lanes (conv2d_stem.cpp). MobileNetV2's
    // (3 -> 32 from 224x224), batch 8, 2 threads, alternating with the direct kernel below, the same bits:
    // input in cache 1.11-1.15 against 1.32-1.44 ms, input and output out of it 1.35-1.37 against
    // 1.51-1.58; batch 1 146 against 193 us; in the network at batch 32 8.60 -> 7.63 ms a forward
    if (stem_applies(g, e)) return stem_forward(x, w, bias, y, g, nt, e);
    {
        salient::host::Vol3Geom v;
        v.n = n, v.c = c, v.k = k, v.groups = groups, v.cg = g.cg, v.kg = g.kg;
        const int in[3] = {1, g.h, g.w}, ker[3] = {1, r, s}, st[3] = {1, g.sh, g.sw}, p0[3] = {0, g.pt, g.pl},
                  p1[3] = {0, g.pb, g.pr}, dil[3] = {1, g.dh, g.dw}, out[3] = {1, g.oh, g.ow};
        for (int a = 0; a < 3; a++)
            v.in[a] = in[a], v.ker[a] = ker[a], v.stride[a] = st[a], v.pad0[a] = p0[a], v.pad1[a] = p1[a],
            v.dil[a] = dil[a], v.out[a] = out[a];
        if (salient::conv3::direct2d_applies(v, nt)) return salient::conv3::direct2d_forward(x, w, bias, y, v, nt, e);
        if (!e.pre && salient::conv3::stem2d_applies(v)) return salient::conv3::implicit_forward(x, w, bias, y, v, nt, e);
    }
    const int nb = images_per_item(g, nt);
    if (nb > 1) {
        const int kg = k / groups;
        const int64_t cols = (int64_t)nb * g.oh * g.ow, items = (n + nb - 1) / nb;
        int err = 0;
#pragma omp parallel num_threads(nt)
        {
            float* col = salient::thread_workspace((int64_t)crs * cols, 0);
            float* tmp = salient::thread_workspace((int64_t)kg * cols, 1);
            if (!col || !tmp) {
#pragma omp atomic write
                err = 1;
            }
#pragma omp for schedule(dynamic, 1)
            for (int64_t it = 0; it < items; it++) {
                if (!col || !tmp) continue;
                const int n0 = (int)(it * nb), n1 = std::min(n, n0 + nb);
                dense_forward_images(x, w, bias, y, g, n0, n1, col, tmp, e);
            }
        }
        if (err) return salient::fail(SALIENT_ENOMEM, "%s: out of memory for the im2col workspace", fn);
        return SALIENT_OK;
    }
    if (splits_channels(g, nt)) return forward_channel_blocks(x, w, bias, y, g, nt, e);
    const Split sp = split_rows(g, nt);
    const int64_t items = (int64_t)n * sp.chunks;
    const int64_t col_size = is_pointwise(g) ? 1 : (int64_t)crs * std::min(sp.rows, col_block_rows(g)) * g.ow;
    int err = 0;
#pragma omp parallel num_threads(nt)
    {
        float* col = salient::thread_workspace(col_size);
        if (!col) {
#pragma omp atomic write
            err = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            if (!col) continue;
            const int nn = (int)(it / sp.chunks), p0 = (int)(it % sp.chunks) * sp.rows;
            const int p1 = std::min(g.oh, p0 + sp.rows);
            if (p0 < p1 && !dense_forward_rows(x, w, bias, y, g, nn, p0, p1, col, e)) {
#pragma omp atomic write
                err = 1;
            }
        }
    }
    if (err) return salient::fail(SALIENT_ENOMEM, "%s: out of memory for the im2col workspace or the GEMM's packs", fn);
    return SALIENT_OK;
}

}  // namespace

extern "C" int conv2d_forward_cpu(const float* x, const float* w, const float* bias, float* y,
                                  int n, int c, int h, int wd, int k, int r, int s,
                                  int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                  int pad_right, int dil_h, int dil_w, int groups) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(w);
    SALIENT_CHECK_PTR(y);
    ConvGeom g{n, c, h, wd, k, r, s, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right,
               dil_h, dil_w, groups, 0, 0, 0, 0};
    if (int rc = check_conv(__func__, g)) return rc;
    return forward(x, w, bias, y, g, Epilogue{});
}

namespace {

// The fused forwards: y = act(conv2d(x, w) + bias [+ z]), arguments checked before any memory is touched.
int forward_fused(const char* fn, const float* x, const float* w, const float* bias, const float* z, float* y,
                  ConvGeom g, int act, float alpha, float beta) {
    if (int rc = check_conv(fn, g)) return rc;
    Epilogue e;
    if (int rc = make_epilogue(fn, act, alpha, beta, z != nullptr, z, y, (int64_t)g.n * g.k * g.oh * g.ow, x,
                               (int64_t)g.n * g.c * g.h * g.w, e))
        return rc;
    return forward(x, w, bias, y, g, e);
}

}  // namespace

extern "C" int conv2d_forward_act_cpu(const float* x, const float* w, const float* bias, float* y,
                                      int n, int c, int h, int wd, int k, int r, int s,
                                      int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                      int pad_right, int dil_h, int dil_w, int groups, int act, float alpha,
                                      float beta) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(w);
    SALIENT_CHECK_PTR(y);
    return forward_fused(__func__, x, w, bias, nullptr, y,
                         ConvGeom{n, c, h, wd, k, r, s, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right,
                                  dil_h, dil_w, groups, 0, 0, 0, 0},
                         act, alpha, beta);
}

extern "C" int conv2d_forward_sum_cpu(const float* x, const float* w, const float* bias, const float* z, float* y,
                                      int n, int c, int h, int wd, int k, int r, int s,
                                      int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                      int pad_right, int dil_h, int dil_w, int groups, int act, float alpha,
                                      float beta) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(w);
    SALIENT_CHECK_PTR(z);
    SALIENT_CHECK_PTR(y);
    return forward_fused(__func__, x, w, bias, z, y,
                         ConvGeom{n, c, h, wd, k, r, s, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right,
                                  dil_h, dil_w, groups, 0, 0, 0, 0},
                         act, alpha, beta);
}

extern "C" int conv2d_forward_pre_cpu(const float* x, const float* scale, const float* shift, int pre_act,
                                      float pre_alpha, float pre_beta, const float* w, const float* bias, float* y,
                                      int n, int c, int h, int wd, int k, int act, float alpha, float beta) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(scale);
    SALIENT_CHECK_PTR(w);
    SALIENT_CHECK_PTR(y);
    static const char* const fn = "conv2d_forward_pre_cpu";
    SALIENT_CHECK(pre_act < 0 || pre_act == SALIENT_ACT_RELU || pre_act == SALIENT_ACT_CLIP,
                  "%s: the input's activation %d cannot be fused (none < 0, Relu %d or Clip %d)", fn, pre_act,
                  SALIENT_ACT_RELU, SALIENT_ACT_CLIP);
    ConvGeom g = pointwise_geom(n, c, h, wd, k);
    if (int rc = check_conv(fn, g)) return rc;
    // y is written while x is still being read
    const uintptr_t xa = (uintptr_t)x, xe = xa + sizeof(float) * (uintptr_t)((int64_t)n * c * h * wd);
    const uintptr_t ya = (uintptr_t)y, ye = ya + sizeof(float) * (uintptr_t)((int64_t)n * k * h * wd);
    SALIENT_CHECK(xe <= ya || ye <= xa, "%s: the input overlaps the output", fn);
    Epilogue e;
    if (int rc = make_epilogue(fn, act, alpha, beta, true, nullptr, y, 0, x, 0, e)) return rc;
    Prologue pre;
    pre.scale = scale, pre.shift = shift, pre.kind = pre_act < 0 ? -1 : pre_act, pre.lo = pre_alpha, pre.hi = pre_beta;
    e.pre = &pre;
    return forward(x, w, bias, y, g, e);
}

namespace {

// The pairs of a 1x1 conv and a 3x3 depthwise conv (either first) that run in bands of the depthwise
// conv's output rows. The pointwise-depthwise pair's bands: output rows of the depthwise conv a band,
// so that the band's expanded input rows ((rows - 1) * stride + 3 of them, k planes) take about
// kPairBandBytes (they stay in L2 between the product that writes them and the depthwise conv that
// reads them); the depthwise-pointwise pair's, so that its band's output rows of every channel do.
// Zen 4, 2 threads, batch 8, inputs rotating out of the caches, bands of 1 to 28 rows: 16 -> 96 at
// 112x112 stride 2 best at 2-4 rows, 24 -> 144 at 56x56 at 10-14 (stride 1) and 6-10 (stride 2).
constexpr int64_t kPairBandBytes = int64_t(448) << 10;
// The pairs run in bands on planes of at least this many positions: at 28x28 and below the bands' short
// products lost (32 -> 192 at 28x28 0.95-0.98x, 160 -> 960 at 7x7 0.85x; 64 -> 384 and 96 -> 576 at
// 14x14 1.01-1.04x; MobileNetV2 at batch 32 with the 28x28 pairs in bands too: within noise).
constexpr int64_t kPairMinPlane = 56 * 56;
// ... and where the tensor between the two convs is over kPairMinBytes, far from staying in the cores'
// L2 caches: at batch 1 on 56x56 (1.7 MiB) the bands lost, 0.94-0.98x, at batch 3 (5.2 MiB) they won,
// 1.22-1.25x; at batch 1 on 112x112 (4.6 MiB) they were even alone and 0.96x in the network
// (MobileNetV2 at batch 1, 10 alternating rounds of 30 passes: 4.82 against 4.64 ms).
constexpr int64_t kPairMinBytes = int64_t(6) << 20;

// The depthwise geometry of a pair: c channels, 3x3, stride 1 or 2, pads 1
ConvGeom pair_depthwise(int n, int c, int h, int wd, int stride) {
    return ConvGeom{n, c, h, wd, c, 3, 3, stride, stride, 1, 1, 1, 1, 1, 1, c, 0, 0, 0, 0};
}

// Whether a pair around the depthwise conv d (unchecked) runs in bands: the planes of the depthwise
// conv's larger side (its input's or its output's: plane positions) of kPairMinPlane or more, the tensor
// between the two convs (mid floats) over kPairMinBytes, the band kernels (AVX-512)
bool pair_in_bands(ConvGeom d, int64_t plane, int64_t mid) {
#if SALIENT_HAVE_AVX512
    if (salient::host::check_conv_geometry("pair_in_bands", d)) {
        salient::clear_error();
        return false;
    }
    return plane >= kPairMinPlane && mid * (int64_t)sizeof(float) > kPairMinBytes && depthwise_rows_applies(d);
#else
    (void)d, (void)plane, (void)mid;
    return false;
#endif
}

// A pair's checks past its geometries: y may not overlap x (written while x is read), and its two
// activations (none < 0, Relu or Clip)
int pair_checks(const char* fn, const float* x, int64_t nx, float* y, int64_t ny, int act1, float lo1, float hi1,
                int act2, float lo2, float hi2, Epilogue& e1, Epilogue& e2) {
    const uintptr_t xa = (uintptr_t)x, xe = xa + sizeof(float) * (uintptr_t)nx;
    const uintptr_t ya = (uintptr_t)y, ye = ya + sizeof(float) * (uintptr_t)ny;
    SALIENT_CHECK(xe <= ya || ye <= xa, "%s: the input overlaps the output", fn);
    if (int rc = make_epilogue(fn, act1, lo1, hi1, true, nullptr, y, 0, x, 0, e1)) return rc;
    return make_epilogue(fn, act2, lo2, hi2, true, nullptr, y, 0, x, 0, e2);
}

// A pair as its two convs, through a temporary of the tensor between them (mid floats)
int pair_composed(const char* fn, const float* x, const float* w1, const float* b1, const ConvGeom& g1, const Epilogue& e1,
                  const float* w2, const float* b2, const ConvGeom& g2, Epilogue e2, float* y, int64_t mid) {
    // (left uninitialised: the first conv writes all of it)
    const std::unique_ptr<float[]> t(new (std::nothrow) float[(size_t)mid]);
    if (!t) return salient::fail(SALIENT_ENOMEM, "%s: out of memory for the tensor between the two convs", fn);
    if (int rc = forward(x, w1, b1, t.get(), g1, e1)) return rc;
    e2.base = y;
    return forward(t.get(), w2, b2, y, g2, e2);
}

// The threads' shares of a pair's output rows, the n images' oh rows end to end: thread t takes rows
// [start(t), start(t + 1)), each start at a multiple of step within its image, so that the shares differ
// by less than step rows (bands of whole images split over the threads left one with a band more: 24 ->
// 144 at 56x56, batch 1, 5 bands of 12 rows, 24 against 32), in bands of at most `band` rows.
struct PairRows {
    int64_t all;
    int oh, step, band, nt;
    PairRows(int n, int oh_, int step_, int band_, double flops)
        : all((int64_t)n * oh_), oh(oh_), step(step_), band(band_),
          nt(flops < 2e6 ? 1 : (int)std::min<int64_t>(omp_get_max_threads(), std::max<int64_t>(1, all / step_))) {}
    int64_t start(int t) const {
        const int64_t f = all * t / nt, nn = f / oh;
        return nn * oh + (f % oh) / step * step;
    }
    // f(nn, p0, p1) for thread t's bands in order
    template <class F>
    void bands(int t, F f) const {
        const int64_t end = start(t + 1);
        for (int64_t at = start(t); at < end;) {
            const int nn = (int)(at / oh), p0 = (int)(at % oh);
            const int p1 = (int)std::min<int64_t>({(int64_t)oh, (int64_t)p0 + band, end - (int64_t)nn * oh});
            at = (int64_t)nn * oh + p1;
            f(nn, p0, p1);
        }
    }
};

}  // namespace

// Whether conv2d_pointwise_depthwise_cpu runs the pair in bands here (else as its two convs)
extern "C" int conv2d_pointwise_depthwise_applies_cpu(int n, int c, int h, int wd, int k, int stride) {
    if (n <= 0 || c <= 0 || h <= 0 || wd <= 0 || k <= 0 || (stride != 1 && stride != 2)) return 0;
    return pair_in_bands(pair_depthwise(n, k, h, wd, stride), (int64_t)h * wd, (int64_t)n * k * h * wd) ? 1 : 0;
}

// y = act2(depthwise3x3(act1(pointwise(x, w1) + b1), w2) + b2): a 1x1 conv of c -> k channels (its
// output read by nothing else) and the 3x3 depthwise conv of those k channels at stride 1 or 2, pads 1,
// that reads it (MobileNetV2's expansion and depthwise layers). Where the depthwise conv runs a band of
// rows at a time (conv2d_pointwise_depthwise_applies_cpu), each thread runs its share of the images'
// output rows (PairRows) a band at a time: the expansion's rows that the band's windows read, into a
// per-thread scratch of k planes of those rows (the rows it shares with the thread's previous band moved
// up, not made again), then the band's outputs from it, while it is in L2. The expanded tensor (n x k x
// h x w, the network's largest) is never written to memory. Each expanded value is the pointwise conv's
// chain and each output the depthwise conv's, so the bits are those of the two convs run one after the
// other (which is what runs where the bands do not apply, through a temporary of the expanded tensor).
extern "C" int conv2d_pointwise_depthwise_cpu(const float* x, const float* w1, const float* b1, int act1, float lo1,
                                              float hi1, const float* w2, const float* b2, float* y, int n, int c,
                                              int h, int wd, int k, int stride, int act2, float lo2, float hi2) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(w1);
    SALIENT_CHECK_PTR(w2);
    SALIENT_CHECK_PTR(y);
    static const char* const fn = "conv2d_pointwise_depthwise_cpu";
    SALIENT_CHECK(stride == 1 || stride == 2, "%s: the depthwise stride must be 1 or 2, got %d", fn, stride);
    ConvGeom p = pointwise_geom(n, c, h, wd, k);
    if (int rc = check_conv(fn, p)) return rc;
    ConvGeom d = pair_depthwise(n, k, h, wd, stride);
    if (int rc = check_conv(fn, d)) return rc;
    Epilogue e1, e2;
    const int64_t hw = (int64_t)h * wd, ohw = (int64_t)d.oh * d.ow;
    if (int rc = pair_checks(fn, x, (int64_t)n * c * hw, y, (int64_t)n * k * ohw, act1, lo1, hi1, act2, lo2, hi2, e1, e2))
        return rc;
    if (!conv2d_pointwise_depthwise_applies_cpu(n, c, h, wd, k, stride))
        return pair_composed(fn, x, w1, b1, p, e1, w2, b2, d, e2, y, (int64_t)n * k * hw);
#if SALIENT_HAVE_AVX512
    const DepthwiseRows rows(d);
    const int step = depthwise_rows_step(d);
    const int64_t rows_in = kPairBandBytes / ((int64_t)k * wd * (int64_t)sizeof(float));
    const int band = (int)std::max<int64_t>(step, std::min<int64_t>(d.oh, std::max<int64_t>(1, (rows_in - 3) / stride + 1)) / step * step);
    const int cap = (band - 1) * stride + 3;  // expanded rows a band reads, at most
    const PairRows shares(n, d.oh, step, band, 2.0 * n * k * (double)hw * (c + 9));
    salient::GemmEpilogue ge;
    ge.bias = b1, ge.act = e1.kind, ge.lo = e1.lo, ge.hi = e1.hi;
    ge.b_cached = input_in_caches(p), ge.b_near = input_near(p);
    int err = 0;
#pragma omp parallel num_threads(shares.nt)
    {
        float* scr = salient::thread_workspace((int64_t)k * cap * wd, 2);
        if (!scr) {
#pragma omp atomic write
            err = 1;
        }
        const int64_t ld = (int64_t)cap * wd;
        int64_t held = -1;  // the image whose expanded rows [held_lo, held_hi) scr holds
        int held_lo = 0, held_hi = 0;
        if (scr) shares.bands(omp_get_thread_num(), [&](int nn, int p0, int p1) {
            const int lo = std::max(0, p0 * stride - 1), hi = std::min(h, (p1 - 1) * stride + 2);
            int from = lo;
            if (held == nn && held_lo <= lo && held_hi > lo) {  // the rows the previous band made too
                from = std::min(held_hi, hi);
                if (lo > held_lo)
                    for (int kk = 0; kk < k; kk++)
                        std::memmove(scr + kk * ld, scr + kk * ld + (int64_t)(lo - held_lo) * wd,
                                     sizeof(float) * (size_t)(from - lo) * wd);
            }
            if (from < hi) {
                const float* b = x + (int64_t)nn * c * hw + (int64_t)from * wd;
                float* out = scr + (int64_t)(from - lo) * wd;
                const int len = (hi - from) * wd;
                if (!salient::sgemm_canonical_ep(false, false, k, len, c, w1, c, b, (int)hw, out, (int)ld, ge)) {
                    if (b1) add_bias(out, ld, b1, k, len);
                    apply_epilogue(e1, out, k, len, ld);
                }
            }
            held = nn, held_lo = lo, held_hi = hi;
            for (int kk = 0; kk < k; kk++)
                rows.run(scr + kk * ld - (int64_t)lo * wd, w2 + (int64_t)kk * 9, b2 ? b2[kk] : 0.f,
                         y + ((int64_t)nn * k + kk) * ohw, e2, p0, p1);
        });
    }
    if (err) return salient::fail(SALIENT_ENOMEM, "%s: out of memory for the expanded rows", fn);
#endif
    return SALIENT_OK;
}

// Whether conv2d_depthwise_pointwise_cpu runs the pair in bands here (else as its two convs)
extern "C" int conv2d_depthwise_pointwise_applies_cpu(int n, int c, int h, int wd, int stride, int k) {
    if (n <= 0 || c <= 0 || h <= 0 || wd <= 0 || k <= 0 || (stride != 1 && stride != 2)) return 0;
    const int64_t out_plane = (int64_t)((h - 1) / stride + 1) * ((wd - 1) / stride + 1);  // 3x3, pads 1
    return pair_in_bands(pair_depthwise(n, c, h, wd, stride), out_plane, n * out_plane * c) ? 1 : 0;
}

// y = act2(pointwise(act1(depthwise3x3(x, w1) + b1), w2) + b2): a 3x3 depthwise conv of c channels at
// stride 1 or 2, pads 1 (its output read by nothing else) and the 1x1 conv onto k channels that reads
// it (MobileNetV2's first block). Where conv2d_depthwise_pointwise_applies_cpu says so, each thread runs
// its share of the images' output rows (PairRows) a band at a time: the band's depthwise outputs of every
// channel into a per-thread scratch, then the product of the band's columns from it while it is in L2.
// Each value is the two convs' own chain, so the bits are theirs (which run where the bands do not apply,
// through a temporary of the depthwise conv's output).
extern "C" int conv2d_depthwise_pointwise_cpu(const float* x, const float* w1, const float* b1, int act1, float lo1,
                                              float hi1, const float* w2, const float* b2, float* y, int n, int c,
                                              int h, int wd, int stride, int k, int act2, float lo2, float hi2) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(w1);
    SALIENT_CHECK_PTR(w2);
    SALIENT_CHECK_PTR(y);
    static const char* const fn = "conv2d_depthwise_pointwise_cpu";
    SALIENT_CHECK(stride == 1 || stride == 2, "%s: the depthwise stride must be 1 or 2, got %d", fn, stride);
    ConvGeom d = pair_depthwise(n, c, h, wd, stride);
    if (int rc = check_conv(fn, d)) return rc;
    ConvGeom p = pointwise_geom(n, c, d.oh, d.ow, k);
    if (int rc = check_conv(fn, p)) return rc;
    Epilogue e1, e2;
    const int64_t hw = (int64_t)h * wd, ohw = (int64_t)d.oh * d.ow;
    if (int rc = pair_checks(fn, x, (int64_t)n * c * hw, y, (int64_t)n * k * ohw, act1, lo1, hi1, act2, lo2, hi2, e1, e2))
        return rc;
    if (!conv2d_depthwise_pointwise_applies_cpu(n, c, h, wd, stride, k))
        return pair_composed(fn, x, w1, b1, d, e1, w2, b2, p, e2, y, (int64_t)n * c * ohw);
#if SALIENT_HAVE_AVX512
    const DepthwiseRows rows(d);
    const int step = depthwise_rows_step(d);
    const int band = (int)std::max<int64_t>(
        step, std::min<int64_t>(d.oh, kPairBandBytes / ((int64_t)c * d.ow * (int64_t)sizeof(float))) / step * step);
    const int64_t ld = (int64_t)band * d.ow;
    const PairRows shares(n, d.oh, step, band, 2.0 * n * (double)ohw * c * (k + 9));
    salient::GemmEpilogue ge;
    ge.bias = b2, ge.act = e2.kind, ge.lo = e2.lo, ge.hi = e2.hi;
    ge.b_cached = true, ge.b_near = true;  // the band's columns were just written, in L2
    int err = 0;
#pragma omp parallel num_threads(shares.nt)
    {
        float* scr = salient::thread_workspace((int64_t)c * ld, 2);
        if (!scr) {
#pragma omp atomic write
            err = 1;
        }
        if (scr) shares.bands(omp_get_thread_num(), [&](int nn, int p0, int p1) {
            for (int cc = 0; cc < c; cc++)
                rows.run(x + ((int64_t)nn * c + cc) * hw, w1 + (int64_t)cc * 9, b1 ? b1[cc] : 0.f,
                         scr + cc * ld - (int64_t)p0 * d.ow, e1, p0, p1);
            float* out = y + (int64_t)nn * k * ohw + (int64_t)p0 * d.ow;
            const int len = (p1 - p0) * d.ow;
            if (!salient::sgemm_canonical_ep(false, false, k, len, c, w2, c, scr, (int)ld, out, (int)ohw, ge)) {
                if (b2) add_bias(out, ohw, b2, k, len);
                apply_epilogue(e2, out, k, len, ohw);
            }
        });
    }
    if (err) return salient::fail(SALIENT_ENOMEM, "%s: out of memory for the depthwise rows", fn);
#endif
    return SALIENT_OK;
}

namespace {
// The epilogue of a data gradient dx through a Relu (mask, or null: none) with the gradient's other
// contributions (sum, or null).
Epilogue relu_epilogue(float* dx, const float* mask, const float* sum) {
    Epilogue e;
    e.mask = mask;
    e.z = mask ? sum : nullptr;
    e.base = dx;
    return e;
}

// The data gradient's paths for the n images of g (dy, dx, mask and sum at their first image), the
// epilogue (mask, sum) applied to each part of dx as it is written.
int backward_data_paths(const float* dy, const float* w, float* dx, const float* mask, const float* sum,
                        const ConvGeom& g);

// Channels of an image's dy that hold anything but zeros, counted up to limit + 1 (NaN counts).
int nonzero_channels(const float* dyn, int k, int64_t ohw, int limit, int32_t* list) {
    int cnt = 0;
    for (int kk = 0; kk < k && cnt <= limit; kk++) {
        const float* p = dyn + (int64_t)kk * ohw;
        bool any = false;
        for (int64_t i = 0; i < ohw && !any; i++) any = p[i] != 0.f;
        if (any) list[cnt++] = kk;
    }
    return cnt;
}

// One image's dx from the few channels of dy that are not all zeros (list, cnt): each such plane
// through its filter into every input channel, a filter tap at a time along output rows (dx
// overwritten), then the epilogue. For a gradient seeded at one channel (feature visualisation's
// objectives): 1 of 256 channels, where the dense product would multiply 255 planes of zeros.
void sparse_backward_image(const float* dyn, const float* w, float* dxn, const ConvGeom& g, const int32_t* list, int cnt,
                           const Epilogue& e) {
    const int64_t hw = (int64_t)g.h * g.w, ohw = (int64_t)g.oh * g.ow, rs = (int64_t)g.r * g.s;
    std::memset(dxn, 0, sizeof(float) * (size_t)(g.c * hw));
    for (int t = 0; t < cnt; t++) {
        const int kk = list[t];
        const float* dyp = dyn + (int64_t)kk * ohw;
        for (int cc = 0; cc < g.c; cc++) {
            const float* wc = w + ((int64_t)kk * g.c + cc) * rs;  // (r, s)
            float* dxc = dxn + (int64_t)cc * hw;
            for (int rr = 0; rr < g.r; rr++)
                for (int ss = 0; ss < g.s; ss++) {
                    const float wv = wc[rr * g.s + ss];
                    const int off = ss * g.dw - g.pl;  // ix = q * sw + off
                    // output columns whose ix lies inside the row
                    if (off > g.w - 1) continue;
                    const int q0 = off >= 0 ? 0 : (-off + g.sw - 1) / g.sw;
                    const int q1 = std::min(g.ow, (g.w - 1 - off) / g.sw + 1);
                    if (q1 <= q0) continue;
                    for (int p = 0; p < g.oh; p++) {
                        const int iy = p * g.sh - g.pt + rr * g.dh;
                        if (iy < 0 || iy >= g.h) continue;
                        float* row = dxc + (int64_t)iy * g.w + off;
                        const float* dr = dyp + (int64_t)p * g.ow;
                        if (g.sw == 1) {
#pragma omp simd
                            for (int q = q0; q < q1; q++) row[q] += wv * dr[q];
                        } else {
                            for (int q = q0; q < q1; q++) row[(int64_t)q * g.sw] += wv * dr[q];
                        }
                    }
                }
        }
    }
    if (e.mask) apply_epilogue(e, dxn, g.c * hw);
}
}  // namespace

// dx = conv2d^T(dy, w), then with a mask (the Relu whose output is the conv's input: mask (n,c,h,w))
// dx = 0 where mask <= 0, else dx + sum with a sum (n,c,h,w) (the gradient's other contributions),
// applied to each part of dx right after it is written, while it is in cache.
//
// An image whose dy is zero but in at most k/64 channels (a gradient seeded at a channel) takes
// the sparse scatter instead of the product; the choice is the image's own, so an image gets the
// same bits in any batch (runs of such images and of the others go their ways). Non-finite weights
// of an all-zero channel then do not turn its zeros into NaN, as the product would.
// (Feature visualisation, ResNet-18 layer3 objectives at 140^2, batch 64: the first conv of the
// backward, 256 -> 256 at 9x9, 15.5 -> 4.6 ms.)
extern "C" int conv2d_backward_data_relu_cpu(const float* dy, const float* w, float* dx, const float* mask,
                                             const float* sum, int n, int c, int h, int wd, int k, int r, int s,
                                             int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                             int pad_right, int dil_h, int dil_w, int groups) {
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(w);
    SALIENT_CHECK_PTR(dx);
    ConvGeom g{n, c, h, wd, k, r, s, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right,
               dil_h, dil_w, groups, 0, 0, 0, 0};
    if (int rc = check_conv(__func__, g)) return rc;
    SALIENT_CHECK(mask || !sum, "%s: a sum needs a mask", __func__);
    const int64_t count = (int64_t)n * c * h * wd;
    const uintptr_t xa = (uintptr_t)dx, xe = xa + sizeof(float) * (uintptr_t)count;
    for (const float* o : {mask, sum}) {
        if (!o) continue;
        const uintptr_t oa = (uintptr_t)o, oe = oa + sizeof(float) * (uintptr_t)count;
        SALIENT_CHECK(oe <= xa || xe <= oa, "%s: the %s overlaps the gradient", __func__, o == mask ? "mask" : "sum");
    }
    if (groups != 1 || k < 64) return backward_data_paths(dy, w, dx, mask, sum, g);
    const int limit = k / 64;
    const int64_t ohw = (int64_t)g.oh * g.ow, in_img = (int64_t)c * h * wd, out_img = (int64_t)k * ohw;
    std::vector<int32_t> list((size_t)n * (limit + 1));
    std::vector<int> cnt((size_t)n);
#pragma omp parallel for schedule(static) if ((int64_t)n * (limit + 1) * ohw > 65536)
    for (int nn = 0; nn < n; nn++) cnt[nn] = nonzero_channels(dy + nn * out_img, k, ohw, limit, list.data() + nn * (limit + 1));
    bool any = false;
    for (int nn = 0; nn < n; nn++) any |= cnt[nn] <= limit;
    if (!any) return backward_data_paths(dy, w, dx, mask, sum, g);
    for (int n0 = 0; n0 < n;) {
        const bool sparse = cnt[n0] <= limit;
        int n1 = n0;
        while (n1 < n && (cnt[n1] <= limit) == sparse) n1++;
        if (sparse) {
#pragma omp parallel for schedule(dynamic, 1) if ((n1 - n0) * in_img > 65536)
            for (int nn = n0; nn < n1; nn++)
                sparse_backward_image(dy + nn * out_img, w, dx + nn * in_img, g, list.data() + nn * (limit + 1), cnt[nn],
                                      relu_epilogue(dx, mask, sum));
        } else {
            ConvGeom part = g;
            part.n = n1 - n0;
            if (int rc = backward_data_paths(dy + n0 * out_img, w, dx + n0 * in_img, mask ? mask + n0 * in_img : nullptr,
                                             sum ? sum + n0 * in_img : nullptr, part))
                return rc;
        }
        n0 = n1;
    }
    return SALIENT_OK;
}

namespace {
int backward_data_paths(const float* dy, const float* w, float* dx, const float* mask, const float* sum,
                        const ConvGeom& g) {
    const int n = g.n, c = g.c, h = g.h, wd = g.w, k = g.k, r = g.r, s = g.s, groups = g.groups;
    const Epilogue e = relu_epilogue(dx, mask, sum);
    // the mask over dx[from, from + count), or nothing without one
    auto masked = [&](int64_t from, int64_t count) {
        if (mask) apply_epilogue(e, dx + from, count);
    };

    // dy: (n,k,oh,ow), w: (k,cg,r,s), dx: (n,c,h,w)
    if (groups == c && groups > 1) {
        depthwise_backward_data(dy, w, dx, g);
        masked(0, (int64_t)n * c * h * wd);
        return SALIENT_OK;
    }
    const int cg = c / groups, kg = k / groups;
    const int crs = cg * r * s, ohw = g.oh * g.ow;
    const bool pointwise = is_pointwise(g);
    const double flops = 2.0 * n * k * (double)ohw * crs;
    const int nt = flops < 2e6 ? 1 : omp_get_max_threads();
    if (winograd_applies(g, nt)) return winograd_backward_data(dy, w, dx, g, nt, e);
    int err = 0;
    const int nb = images_per_item(g, nt);
    if (nb > 1) {
        const int64_t cols = (int64_t)nb * ohw, items = (n + nb - 1) / nb;
#pragma omp parallel num_threads(nt)
        {
            float* col = salient::thread_workspace((int64_t)crs * cols, 0);
            float* tmp = salient::thread_workspace((int64_t)kg * cols, 1);
            if (!col || !tmp) {
#pragma omp atomic write
                err = 1;
            }
#pragma omp for schedule(dynamic, 1)
            for (int64_t it = 0; it < items; it++) {
                if (!col || !tmp) continue;
                const int n0 = (int)(it * nb), n1 = std::min(n, n0 + nb);
                dense_backward_images(dy, w, dx, g, n0, n1, col, tmp);
                masked((int64_t)n0 * c * h * wd, (int64_t)(n1 - n0) * c * h * wd);
            }
        }
    } else if (pointwise && (int64_t)n * groups < nt) {
        // few pointwise products: split each one's columns over the threads
        for (int nn = 0; nn < n; nn++)
            for (int gi = 0; gi < groups; gi++)
                salient::sgemm_parallel(true, false, crs, ohw, kg, 1.f, w + (int64_t)gi * kg * crs, crs,
                                        dy + ((int64_t)nn * k + (int64_t)gi * kg) * ohw, ohw, 0.f,
                                        dx + ((int64_t)nn * c + (int64_t)gi * cg) * h * wd, ohw);
        masked(0, (int64_t)n * c * h * wd);
    } else if (n >= nt || pointwise) {
        // whole (image, group) items per thread: col = W_g^T dy_g, then col2im into dx_g
        // (pointwise: dx_g = W_g^T dy_g directly, split by images x groups only)
        const int64_t items = (int64_t)n * groups;
#pragma omp parallel num_threads(nt)
        {
            float* col = pointwise ? nullptr : salient::thread_workspace((int64_t)crs * ohw);
            if (!pointwise && !col) {
#pragma omp atomic write
                err = 1;
            }
#pragma omp for schedule(dynamic, 1)
            for (int64_t it = 0; it < items; it++) {
                if (!pointwise && !col) continue;
                const int nn = (int)(it / groups), gi = (int)(it % groups);
                const float* dyg = dy + ((int64_t)nn * k + (int64_t)gi * kg) * ohw;  // (kg,ohw)
                const float* wg = w + (int64_t)gi * kg * crs;                        // (kg,crs)
                float* dxg = dx + ((int64_t)nn * c + (int64_t)gi * cg) * h * wd;     // (cg,h,w)
                if (pointwise) {
                    salient::sgemm_serial(true, false, crs, ohw, kg, 1.f, wg, crs, dyg, ohw, 0.f, dxg, ohw);
                } else {
                    salient::sgemm_serial(true, false, crs, ohw, kg, 1.f, wg, crs, dyg, ohw, 0.f, col, ohw);
                    std::memset(dxg, 0, sizeof(float) * (size_t)cg * h * wd);
                    col2im_channels(col, ohw, dxg, g, 0, cg);
                }
                masked(dxg - dx, (int64_t)cg * h * wd);
            }
        }
    } else {
        // fewer images than threads: a shared col per (image, group), GEMM split by columns,
        // then col2im split by channels
        float* col = salient::thread_workspace((int64_t)crs * ohw, 1);
        if (!col) return SALIENT_ENOMEM;
        for (int nn = 0; nn < n; nn++) {
            for (int gi = 0; gi < groups; gi++) {
                const float* dyg = dy + ((int64_t)nn * k + (int64_t)gi * kg) * ohw;
                const float* wg = w + (int64_t)gi * kg * crs;
                float* dxg = dx + ((int64_t)nn * c + (int64_t)gi * cg) * h * wd;
                salient::sgemm_parallel(true, false, crs, ohw, kg, 1.f, wg, crs, dyg, ohw, 0.f, col, ohw);
#pragma omp parallel num_threads(nt)
                {
                    const int t = omp_get_thread_num(), T = omp_get_num_threads();
                    const int c0 = (int)((int64_t)cg * t / T), c1 = (int)((int64_t)cg * (t + 1) / T);
                    std::memset(dxg + (int64_t)c0 * h * wd, 0, sizeof(float) * (size_t)(c1 - c0) * h * wd);
                    col2im_channels(col, ohw, dxg, g, c0, c1);
                    masked(dxg - dx + (int64_t)c0 * h * wd, (int64_t)(c1 - c0) * h * wd);
                }
            }
        }
    }
    if (err) return salient::fail(SALIENT_ENOMEM, "%s: out of memory for the col2im workspace", "conv2d_backward_data_cpu");
    return SALIENT_OK;
}
}  // namespace

extern "C" int conv2d_backward_data_cpu(const float* dy, const float* w, float* dx,
                                        int n, int c, int h, int wd, int k, int r, int s,
                                        int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                        int pad_right, int dil_h, int dil_w, int groups) {
    return conv2d_backward_data_relu_cpu(dy, w, dx, nullptr, nullptr, n, c, h, wd, k, r, s, stride_h, stride_w, pad_top, pad_left,
                                         pad_bottom, pad_right, dil_h, dil_w, groups);
}
