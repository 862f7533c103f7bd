// 3-D convolution forward as an implicit GEMM over a padded, phase-split copy of the input:
// the convs that conv3d_winograd.cpp does not take (strided in-plane, other kernels) and that
// have a window (pointwise convs stay on vol2col + sgemm).
//
//   xp[c, iz + pf, ih + pt, phase, u] = x[c, iz, ih, u * sw + phase - pl]   (0 in the pads)
//
// so the input of output (z, p, q) and tap (c, t, r, s) is xp at a fixed offset off[c,t,r,s] from
// the output row's base plus q: for kNR consecutive outputs of one row, every row of the column
// matrix is kNR consecutive floats of xp. A register-tiled kernel (4 output channels x 16
// outputs, 8 AVX accumulators; with AVX-512, 8 output channels x 32 outputs, 16 zmm
// accumulators, or x 16 outputs on rows of 16 or fewer) reads them straight from xp, so no
// column matrix is written or packed; only the filters are packed (K x 4, or K x 8, per block of
// output channels). The copy costs one pass over the input. Both kernels run the same chain per
// output (from zero, one fused multiply-add per tap, in the order of the taps), so the bits do
// not depend on the instruction set.
//
// Work items are (image, group, block of output rows (z, p)), of sizes fixed by one image's
// geometry; every output is one kernel's sum over the taps in a fixed order plus the bias, so an
// image's result is the same bits at any batch size and thread count.
//
// With AVX-512 and 16 or more output channels per group (stride along w 1 or 2), a direct kernel
// takes these convs instead (direct512, direct_forward): the output channels are the lanes, OB
// zmm of 16 channels x P outputs of a row (32 x 14, 64 x 7 or 16 x 28, 28 zmm of sums), each
// input value broadcast once per tap and each filter vector loaded once per P outputs, so a
// stride is only a step between broadcasts (no phase split) and rows of any length fill the
// registers. Each work item (image, group, output slice) copies just the input slices its taps
// read, padded, into a slab that stays in cache. Per output the chain is the one above, so the
// bits are the AVX2 kernels' (and the vol2col path's, whose canonical SGEMM runs the same chain).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <omp.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include "common.h"
#include "conv2d_epilogue.h"
#include "conv3d.h"
#include "epilogue512.h"
#include "filter_cache.h"
#include "isa.h"
#include "transpose.h"
#include "workspace.h"

namespace salient {
namespace conv3 {

namespace {

using conv::Epilogue;
using conv::apply_epilogue;

constexpr int kMR = 4, kNR = 16;
// The AVX-512 kernel's block: kMR512 output channels x kNB512 zmm of 16 outputs each
constexpr int kMR512 = 8, kNB512 = 2;
constexpr int kMaxNR = 16 * kNB512;             // outputs per kernel call at most (either ISA)
constexpr int kRowsPerItem = 8;                 // output rows (z, p) per work item
constexpr int64_t kChunk = 96;                  // taps per pass of the kernel (K chunk)
constexpr int64_t kMaxCopy = int64_t(1) << 28;  // floats of the padded copy, beyond which vol2col is used

struct Padded {
    int dp, hp, wq, sw;  // padded depth and height, floats per phase row, phases
    int64_t row() const { return (int64_t)sw * wq; }
    int64_t plane() const { return (int64_t)hp * row(); }
    int64_t chan() const { return (int64_t)dp * plane(); }
};

Padded padded(const Vol3Geom& g) {
    Padded P;
    P.dp = g.in[0] + g.pad0[0] + g.pad1[0];
    P.hp = g.in[1] + g.pad0[1] + g.pad1[1];
    P.sw = g.stride[2];
    P.wq = (g.in[2] + g.pad0[2] + g.pad1[2] + P.sw - 1) / P.sw;
    return P;
}

// One channel of one image into its padded, phase-split copy; every float written once.
// row: scratch for one padded input row (2 * P.wq floats), used when sw == 2.
void copy_channel(const float* x, float* xp, const Vol3Geom& g, const Padded& P, float* row) {
    const int sw = P.sw;
    for (int zz = 0; zz < P.dp; zz++)
        for (int hh = 0; hh < P.hp; hh++) {
            float* dst = xp + (int64_t)zz * P.plane() + (int64_t)hh * P.row();
            const int iz = zz - g.pad0[0], ih = hh - g.pad0[1];
            if (iz < 0 || iz >= g.in[0] || ih < 0 || ih >= g.in[1]) {
                std::memset(dst, 0, sizeof(float) * (size_t)P.row());
                continue;
            }
            const float* src = x + ((int64_t)iz * g.in[1] + ih) * g.in[2];
            if (sw == 2) {
                // the padded row once into row (zeros, then the input row, then zeros), then its
                // even and odd floats to the two phases: one pass, no per-phase ends to work out
                const int pl = g.pad0[2], n = 2 * P.wq;
                const int c0 = std::min(n, pl), c1 = std::max(c0, std::min(n, pl + g.in[2]));
                std::memset(row, 0, sizeof(float) * c0);
                if (c1 > c0) std::memcpy(row + c0, src + (c0 - pl), sizeof(float) * (c1 - c0));
                std::memset(row + c1, 0, sizeof(float) * (n - c1));
                float *d0 = dst, *d1 = dst + P.wq;
                for (int u = 0; u < P.wq; u++) d0[u] = row[2 * u], d1[u] = row[2 * u + 1];
                continue;
            }
            for (int ph = 0; ph < sw; ph++) {  // d[u] = x[u * sw + ph - pl]
                const int off = ph - g.pad0[2];
                const int u0 = std::min(P.wq, off >= 0 ? 0 : (-off + sw - 1) / sw);
                const int last = g.in[2] - 1 - off;  // u * sw <= last
                const int u1 = last < 0 ? u0 : std::max(u0, std::min(P.wq, last / sw + 1));
                float* d = dst + (int64_t)ph * P.wq;
                std::memset(d, 0, sizeof(float) * u0);
                if (sw == 1) {
                    std::memcpy(d + u0, src + u0 + off, sizeof(float) * (u1 - u0));
                } else {
                    for (int u = u0; u < u1; u++) d[u] = src[u * sw + off];
                }
                std::memset(d + u1, 0, sizeof(float) * (P.wq - u1));
            }
        }
}

// acc[r][j] (+)= sum_k A[k * kMR + r] * B(k)[j] for r < kMR, j < kNR, B(k) = base + off[k];
// acc: kMR x kNR floats, 32-byte aligned; first: start from zero, else add to acc. pfd: if not
// 0, B(k) + pfd (the next output row's) is prefetched.
inline void kernel(int K, const float* A, const float* base, const int64_t* off, float* acc, bool first,
                   int64_t pfd) {
#if defined(__AVX2__) && defined(__FMA__)
    __m256 c0, c1, c2, c3, c4, c5, c6, c7;
    if (first) {
        c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = _mm256_setzero_ps();
    } else {
        c0 = _mm256_load_ps(acc), c1 = _mm256_load_ps(acc + 8), c2 = _mm256_load_ps(acc + 16);
        c3 = _mm256_load_ps(acc + 24), c4 = _mm256_load_ps(acc + 32), c5 = _mm256_load_ps(acc + 40);
        c6 = _mm256_load_ps(acc + 48), c7 = _mm256_load_ps(acc + 56);
    }
    for (int k = 0; k < K; k++, A += kMR) {
        const float* B = base + off[k];
        if (pfd) _mm_prefetch((const char*)(B + pfd), _MM_HINT_T0), _mm_prefetch((const char*)(B + pfd + 15), _MM_HINT_T0);
        const __m256 b0 = _mm256_loadu_ps(B), b1 = _mm256_loadu_ps(B + 8);
        __m256 a = _mm256_broadcast_ss(A);
        c0 = _mm256_fmadd_ps(a, b0, c0), c1 = _mm256_fmadd_ps(a, b1, c1);
        a = _mm256_broadcast_ss(A + 1);
        c2 = _mm256_fmadd_ps(a, b0, c2), c3 = _mm256_fmadd_ps(a, b1, c3);
        a = _mm256_broadcast_ss(A + 2);
        c4 = _mm256_fmadd_ps(a, b0, c4), c5 = _mm256_fmadd_ps(a, b1, c5);
        a = _mm256_broadcast_ss(A + 3);
        c6 = _mm256_fmadd_ps(a, b0, c6), c7 = _mm256_fmadd_ps(a, b1, c7);
    }
    _mm256_store_ps(acc, c0), _mm256_store_ps(acc + 8, c1), _mm256_store_ps(acc + 16, c2);
    _mm256_store_ps(acc + 24, c3), _mm256_store_ps(acc + 32, c4), _mm256_store_ps(acc + 40, c5);
    _mm256_store_ps(acc + 48, c6), _mm256_store_ps(acc + 56, c7);
#else
    if (first) std::memset(acc, 0, sizeof(float) * kMR * kNR);
    for (int k = 0; k < K; k++, A += kMR) {
        const float* B = base + off[k];
        for (int r = 0; r < kMR; r++)
            for (int j = 0; j < kNR; j++) acc[r * kNR + j] += A[r] * B[j];
    }
#endif
}

#if SALIENT_HAVE_AVX512
SALIENT_AVX512_BEGIN
// Where the last K chunk's sums go: rows output channels of y (o0's row at y, the others ldy
// apart), cols outputs each, with bias (per channel, or null) and the epilogue e applied as the
// copy out of acc and apply_epilogue would round them: c + b, + z, then the activation.
struct Out {
    float* y;
    int64_t ldy;
    int rows, cols;
    const float* bias;
    const Epilogue* e;
};

// kernel() on AVX-512: MR output channels x NB * 16 outputs, acc[r * NB * 16 + j] (64-byte
// aligned). Each output's sum is kernel()'s chain (from zero, one fused multiply-add per tap in
// the order of off), so the bits are the same; only more outputs share a load of B and a
// broadcast of A. With out (the last chunk), the sums are finished and stored to y instead.
template <int MR, int NB>
void kernel512(int K, const float* A, const float* base, const int64_t* off, float* acc, bool first, int64_t pfd = 0,
               const Out* out = nullptr) {
    __m512 c[MR][NB];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int j = 0; j < NB; j++) c[r][j] = first ? _mm512_setzero_ps() : _mm512_load_ps(acc + (r * NB + j) * 16);
    for (int k = 0; k < K; k++, A += MR) {
        const float* B = base + off[k];
        if (pfd) {  // the 16 NB floats at B + pfd lie on up to NB + 1 cache lines
            _mm_prefetch((const char*)(B + pfd), _MM_HINT_T0);
            if (NB == 2) _mm_prefetch((const char*)(B + pfd + 16), _MM_HINT_T0);
            _mm_prefetch((const char*)(B + pfd + 16 * NB - 1), _MM_HINT_T0);
        }
        __m512 b[NB];
#pragma GCC unroll 4
        for (int j = 0; j < NB; j++) b[j] = _mm512_loadu_ps(B + 16 * j);
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            const __m512 a = _mm512_set1_ps(A[r]);
#pragma GCC unroll 4
            for (int j = 0; j < NB; j++) c[r][j] = _mm512_fmadd_ps(a, b[j], c[r][j]);
        }
    }
    if (out) {
        const Epilogue& e = *out->e;
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            if (r >= out->rows) break;
            float* yr = out->y + r * out->ldy;
            const float* zr = e.z ? e.z + (yr - e.base) : nullptr;
            const __m512 bv = _mm512_set1_ps(out->bias ? out->bias[r] : 0.f);
#pragma GCC unroll 4
            for (int j = 0; j < NB; j++) {
                const int left = out->cols - 16 * j;
                if (left <= 0) break;
                const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
                const __m512 v = residual_act512(_mm512_add_ps(c[r][j], bv), zr ? zr + 16 * j : nullptr, m, e.kind, e.lo,
                                                 e.hi);
                _mm512_mask_storeu_ps(yr + 16 * j, m, v);
            }
        }
        return;
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int j = 0; j < NB; j++) _mm512_store_ps(acc + (r * NB + j) * 16, c[r][j]);
}

// The output channels in the lanes (AVX-512): OB zmm of 16 output channels x P consecutive
// outputs of one row, c[j][b] for output j, each input value broadcast once per tap and
// multiplied into the OB filter vectors. W: this block's filters, K x 16 * OB (64-byte aligned,
// channels past the layer zero). Each output's sum is kernel()'s chain (from zero, one fused
// multiply-add per tap in the order of off), so the bits are the same; output j of tap k reads
// B[SW * j], B = base + off[k], so a stride needs no phase split, and a block covers rows too
// short for the 16-output kernels. The sums go to y through a buffer, transposed in registers 16
// channels by 16 outputs at a time (transpose.h), with the bias and the
// epilogue as kernel512 applies them; out.cols <= P outputs are stored (the rest are lanes of
// the last block that read past the row and are dropped). With from_bias, each chain starts from
// its channel's bias instead (bias0: the block's 16 * OB biases, or null for zeros) and no bias is
// added after: the chain of the vol2col path's SGEMM (beta 1 on a bias-filled output), for the
// geometries that the AVX2 kernels leave to it.
template <int OB, int P, int SW>
void direct512(int K, const float* W, const float* base, const int64_t* off, int64_t pfd, const Out& out,
               bool from_bias, const float* bias0) {
    {  // the lines this tile stores (for writing: isa.h's prefetch_for_write) and their residual's,
       // fetched while its products run: in a network the output is out of the caches (ResNet's 7x7
       // stem at batch 1, its input and output cold, 2 threads, alternating: 0.99-1.14 -> 0.87-0.91
       // ms; MobileNetV2's stem at batch 1 149 -> 143 us fetched for writing)
        const Epilogue& e = *out.e;
        for (int r = 0; r < out.rows; r++) {
            const float* yr = out.y + r * out.ldy;
            prefetch_for_write(yr);
            prefetch_for_write(yr + out.cols - 1);
            if (e.z) {
                const float* zr = e.z + (yr - e.base);
                _mm_prefetch((const char*)zr, _MM_HINT_T0);
                _mm_prefetch((const char*)(zr + out.cols - 1), _MM_HINT_T0);
            }
        }
    }
    __m512 c[P][OB];
#pragma GCC unroll 4
    for (int b = 0; b < OB; b++) {
        const __m512 c0 = from_bias && bias0 ? _mm512_load_ps(bias0 + 16 * b) : _mm512_setzero_ps();
#pragma GCC unroll 32
        for (int j = 0; j < P; j++) c[j][b] = c0;
    }
    for (int k = 0; k < K; k++, W += 16 * OB) {
        const float* B = base + off[k];
        if (pfd) _mm_prefetch((const char*)(B + pfd), _MM_HINT_T0), _mm_prefetch((const char*)(B + pfd + SW * (P - 1)), _MM_HINT_T0);
        __m512 w[OB];
#pragma GCC unroll 4
        for (int b = 0; b < OB; b++) w[b] = _mm512_load_ps(W + 16 * b);
#pragma GCC unroll 32
        for (int j = 0; j < P; j++) {
            const __m512 x = _mm512_set1_ps(B[SW * j]);
#pragma GCC unroll 4
            for (int b = 0; b < OB; b++) c[j][b] = _mm512_fmadd_ps(w[b], x, c[j][b]);
        }
    }
    alignas(64) float t[P * OB * 16];
#pragma GCC unroll 32
    for (int j = 0; j < P; j++)
#pragma GCC unroll 4
        for (int b = 0; b < OB; b++) _mm512_store_ps(t + (j * OB + b) * 16, c[j][b]);
    // each block of 16 channels by 16 outputs transposed in registers, then each channel's outputs
    // stored, where a gather of each channel's outputs from t took longer: ResNet's 7x7 stem, batch
    // 1, 2 threads, alternating, 0.84-0.87 -> 0.79-0.82 ms in cache, 0.89-0.93 -> 0.85-0.86 cold;
    // MobileNetV2's 3x3 stem and 64 -> 128 3x3 stride 2 at 56x56 within noise
    const Epilogue& e = *out.e;
    for (int b = 0; b < OB && 16 * b < out.rows; b++)
        for (int j0 = 0; j0 < out.cols; j0 += 16) {
            __m512 v[16];
#pragma GCC unroll 16
            for (int l = 0; l < 16; l++) v[l] = j0 + l < P ? _mm512_load_ps(t + ((j0 + l) * OB + b) * 16) : _mm512_setzero_ps();
            transpose16(v);
            const int left = out.cols - j0, rows = std::min(16, out.rows - 16 * b);
            const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            for (int l = 0; l < rows; l++) {
                const int r = 16 * b + l;
                float* yr = out.y + r * out.ldy + j0;
                const float* zr = e.z ? e.z + (yr - e.base) : nullptr;
                __m512 x = v[l];
                if (!from_bias) x = _mm512_add_ps(x, _mm512_set1_ps(out.bias ? out.bias[r] : 0.f));
                _mm512_mask_storeu_ps(yr, m, residual_act512(x, zr, m, e.kind, e.lo, e.hi));
            }
        }
}
SALIENT_AVX512_END
#endif

// A direct512 tile: ob zmm of output channels x p outputs (ob 0: no tile).
struct Direct {
    int ob = 0, p = 0;
};

// direct_forward's copy of one output slice's input, per group: cg channels x kd slices x the
// padded plane
constexpr int64_t kMaxSlab = int64_t(1) << 22;  // floats (16 MiB); beyond, the 16-output kernels
int64_t slab_floats(const Vol3Geom& g) {
    return (int64_t)g.cg * g.ker[0] * (g.in[1] + g.pad0[1] + g.pad1[1]) * (g.in[2] + g.pad0[2] + g.pad1[2]);
}

// The tile of direct512 for a geometry, or ob 0 where it does not apply (no AVX-512, fewer than 16
// output channels per group, a stride along w past 2, or a slab past kMaxSlab). Of the tiles that
// fill 28 of the 32 zmm with sums, the one whose blocks waste the fewest lanes on the layer's
// channels and row length; ties go to 32 x 14, then 16 x 28, whose stores gather one zmm per output
// channel and 14-16 outputs where 64 x 7 gathers one per 7: ResNet's 7x7 stem (147 taps) at batch 1
// 1.02-1.05 -> 0.87-0.88 ms, batch 32 32.7-32.9 -> 30.6-31.6 ms (2 threads, Xeon, alternating); a
// 3x3 stride-2 conv of 128 channels (1152 taps) within noise; whole ResNet-18 at batch 1 +1-5 %.
Direct direct_plan(const Vol3Geom& g) {
    Direct best;
#if SALIENT_HAVE_AVX512
    if (!isa::avx512() || g.kg < 16 || g.stride[2] > 2) return best;
    if ((int64_t)g.cg * g.ker_vol() > (int64_t(1) << 20) || slab_floats(g) > kMaxSlab) return best;
    double top = 0;
    for (const Direct d : {Direct{1, 28}, Direct{4, 7}, Direct{2, 14}}) {
        const int64_t oc = 16 * d.ob, rows = (g.kg + oc - 1) / oc * oc, cols = ((int64_t)g.out[2] + d.p - 1) / d.p * d.p;
        const double eff = (double)g.kg / rows * g.out[2] / cols;
        if (eff >= top) top = eff, best = d;
    }
#endif
    return best;
}

// Whether the 16-output kernels take a windowed geometry: rows of 12 or more (shorter ones would
// leave most of their lanes idle) and a padded copy of bounded size; the others go to vol2col.
bool sixteen_applies(const Vol3Geom& g) {
    if (g.out[2] < 12) return false;
    const Padded P = padded(g);
    return (int64_t)g.n * g.c * P.chan() <= kMaxCopy && (int64_t)g.cg * g.ker_vol() <= (int64_t(1) << 20);
}

#if SALIENT_HAVE_AVX512
// The forward on direct512. Work items are (image, group, output slice z); each copies the kd input
// slices its taps read (zero where the depth pads are) into the thread's slab, each padded in
// height and width, so the slab stays in the core's cache while every output row of the slice
// reads it: the input is read from memory about kd / stride times, and no padded copy of the
// whole input is written. Every output is one direct512 chain, so an image's result is the same
// bits at any batch size and thread count.
int direct_forward(const float* x, const float* w, const float* bias, float* y, const Vol3Geom& g, int nt,
                   const Epilogue& e, const Direct plan, bool chain_from_zero = false) {
    const int KD = g.ker[0], hp = g.in[1] + g.pad0[1] + g.pad1[1], wp = g.in[2] + g.pad0[2] + g.pad1[2];
    const int64_t plane = (int64_t)hp * wp, chan = (int64_t)KD * plane, slab = slab_floats(g);
    const int64_t K = (int64_t)g.cg * g.ker_vol(), dcols = 16 * (int64_t)plan.ob, dblocks = (g.kg + dcols - 1) / dcols;
    // filters of each group in blocks of dcols output channels, K x dcols each (channels past kg zero),
    // then the biases in the same blocks
    // (packed once: the filter cache keeps them for the next call with the same weights)
    const int64_t apack = (int64_t)g.groups * dblocks * K * dcols, bpack = (int64_t)g.groups * dblocks * dcols;
    const auto Ac = cached_filters(w, (int64_t)g.k * K, {kFilterDirect, g.kg, (int)K, (int)dcols + 128 * g.groups, false},
                                   (size_t)apack * sizeof(float), [&](float* a) {
                                       for (int64_t go = 0; go < (int64_t)g.groups * dblocks * dcols; go++) {
                                           const int64_t gi = go / (dblocks * dcols), o = go % (dblocks * dcols);
                                           if (o >= g.kg) continue;  // (zeros)
                                           float* d = a + (gi * dblocks + o / dcols) * K * dcols + o % dcols;
                                           const float* wo = w + ((int64_t)gi * g.kg + o) * K;
                                           for (int64_t k = 0; k < K; k++) d[k * dcols] = wo[k];
                                       }
                                   });
    float* Bp = (float*)std::aligned_alloc(64, (size_t)((bpack + 15) / 16 * 16) * sizeof(float));
    // tap offsets in the slab (off) and, for a geometry without pads, in x itself (offx)
    int64_t* off = (int64_t*)std::malloc(sizeof(int64_t) * 2 * (size_t)K);
    if (!Ac || !Bp || !off) {
        std::free(Bp), std::free(off);
        return fail(SALIENT_ENOMEM, "conv3d_forward_cpu: out of memory for the packed filters");
    }
    const float* A = Ac.get();
    int64_t* offx = off + K;
    for (int64_t i = 0; i < bpack; i++) {
        const int64_t gi = i / (dblocks * dcols), o = i % (dblocks * dcols);
        Bp[i] = bias && o < g.kg ? bias[gi * g.kg + o] : 0.f;
    }
    // where the AVX2 kernels leave a geometry to vol2col + sgemm, its chains start from the bias
    const bool from_bias = !chain_from_zero && (g.ker_vol() == 1 || !sixteen_applies(g));
    // tap (c, t, r, s) of output (p, q) reads the slab at off[k] + p * sh * wp + q * sw
    for (int64_t k = 0; k < K; k++) {
        const int s = (int)(k % g.ker[2]), r = (int)((k / g.ker[2]) % g.ker[1]);
        const int t = (int)((k / ((int64_t)g.ker[2] * g.ker[1])) % g.ker[0]);
        off[k] = k / g.ker_vol() * chan + t * plane + (int64_t)r * g.dil[1] * wp + (int64_t)s * g.dil[2];
        offx[k] = k / g.ker_vol() * g.in_vol() + ((int64_t)t * g.dil[0] * g.in[1] + (int64_t)r * g.dil[1]) * g.in[2] +
                  (int64_t)s * g.dil[2];
    }
    bool pads = false;
    for (int a = 0; a < 3; a++) pads |= g.pad0[a] != 0 || g.pad1[a] != 0;
    const int64_t x_len = (int64_t)g.n * g.c * g.in_vol();
    const int OD = g.out[0], OH = g.out[1], OW = g.out[2], sw = g.stride[2];
    // fewer (image, group, slice) items than threads (a 2-D conv at batch 1): each item's output rows
    // are split into blocks too (each output's chain is the same whichever item computes it)
    const int64_t slices = (int64_t)g.n * g.groups * OD;
    const int rblocks = slices >= nt ? 1 : (int)std::min<int64_t>(OH, (nt + slices - 1) / slices);
    const int rows = (OH + rblocks - 1) / rblocks;
    const int64_t ohw = (int64_t)OH * OW, ovol = g.out_vol(), items = slices * rblocks;
    int err = 0;
#pragma omp parallel num_threads((int)std::max<int64_t>(1, std::min<int64_t>(nt, items)))
    {
        // the last output row's last block reads up to sw * (p - 1) floats past its row (dropped lanes)
        float* xs = thread_workspace(slab + 2 * kMaxNR, 2);
        if (!xs) {
#pragma omp atomic write
            err = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            if (!xs) continue;
            const int rb = (int)(it % rblocks), z = (int)((it / rblocks) % OD);
            const int64_t gi = (it / rblocks / OD) % g.groups, nn = it / ((int64_t)rblocks * OD * g.groups);
            const int p_lo = rb * rows, p_hi = std::min(OH, p_lo + rows);
            const float* xg = x + (nn * g.c + gi * g.cg) * g.in_vol();
            // without pads every tap is inside x: the item reads it there (a strided pointwise conv
            // reads only its own rows), unless the dropped lanes of its last block would read past x
            const float* xz = xg + (int64_t)z * g.stride[0] * g.in[1] * g.in[2];
            const int64_t last = (int64_t)(OH - 1) * g.stride[1] * g.in[2] + (int64_t)(OW - 1) / plan.p * plan.p * sw +
                                 offx[K - 1] + (int64_t)sw * (plan.p - 1);
            const bool in_x = !pads && (xz - x) + last < x_len;
            // only the padded rows the item's output rows read (and one more, which the dropped lanes of
            // a row's last block may reach): with an image's rows split over the threads, each thread
            // copied the whole input (MobileNetV2's 3x3 stem at batch 1: 14 % of its time in the copy)
            const int h_lo = p_lo * g.stride[1];
            const int h_hi = std::min(hp, (p_hi - 1) * g.stride[1] + (g.ker[1] - 1) * g.dil[1] + 2);
            for (int64_t c = 0; c < g.cg && !in_x; c++)
                for (int t = 0; t < KD; t++) {
                    const int iz = z * g.stride[0] - g.pad0[0] + t * g.dil[0];
                    float* dst = xs + c * chan + t * plane + (int64_t)h_lo * wp;
                    if (iz < 0 || iz >= g.in[0]) {
                        std::memset(dst, 0, sizeof(float) * (size_t)(h_hi - h_lo) * wp);
                        continue;
                    }
                    const float* src = xg + (c * g.in[0] + iz) * (int64_t)g.in[1] * g.in[2];
                    for (int hh = h_lo; hh < h_hi; hh++, dst += wp) {
                        const int ih = hh - g.pad0[1];
                        if (ih < 0 || ih >= g.in[1]) {
                            std::memset(dst, 0, sizeof(float) * (size_t)wp);
                            continue;
                        }
                        std::memset(dst, 0, sizeof(float) * g.pad0[2]);
                        std::memcpy(dst + g.pad0[2], src + (int64_t)ih * g.in[2], sizeof(float) * g.in[2]);
                        std::memset(dst + g.pad0[2] + g.in[2], 0, sizeof(float) * g.pad1[2]);
                    }
                }
            float* yz = y + (nn * g.k + gi * g.kg) * ovol + (int64_t)z * ohw;
            const float* bg = bias ? bias + gi * g.kg : nullptr;
            // the next output row's taps, fetched a row ahead
            const int64_t pfd = (int64_t)g.stride[1] * (in_x ? g.in[2] : wp);
            const int64_t* ok = in_x ? offx : off;
            for (int p = p_lo; p < p_hi; p++) {
                const float* base = (in_x ? xz : xs) + (int64_t)p * pfd;
                for (int q0 = 0; q0 < OW; q0 += plan.p)
                    for (int64_t b = 0; b < dblocks; b++) {
                        const Out o{yz + b * dcols * ovol + (int64_t)p * OW + q0, ovol,
                                    (int)std::min<int64_t>(dcols, g.kg - b * dcols), std::min(plan.p, OW - q0),
                                    bg ? bg + b * dcols : nullptr, &e};
                        const float* Wb = A + (gi * dblocks + b) * K * dcols;
                        const float* bq = base + (int64_t)q0 * sw;
                        const int64_t pf = b == 0 && p + 1 < OH ? pfd : 0;
                        const float* b0 = bias ? Bp + (gi * dblocks + b) * dcols : nullptr;
                        if (plan.ob == 1)
                            (sw == 1 ? direct512<1, 28, 1> : direct512<1, 28, 2>)((int)K, Wb, bq, ok, pf, o, from_bias, b0);
                        else if (plan.ob == 2)
                            (sw == 1 ? direct512<2, 14, 1> : direct512<2, 14, 2>)((int)K, Wb, bq, ok, pf, o, from_bias, b0);
                        else
                            (sw == 1 ? direct512<4, 7, 1> : direct512<4, 7, 2>)((int)K, Wb, bq, ok, pf, o, from_bias, b0);
                    }
            }
        }
    }
    std::free(Bp), std::free(off);
    if (err) return fail(SALIENT_ENOMEM, "conv3d_forward_cpu: out of memory for the input slab");
    return SALIENT_OK;
}
#endif

}  // namespace

// The 2-D convs that direct512 runs faster than im2col + sgemm (measured at batch 32, 2 threads:
// ResNet's 7x7 stem 41 -> 31 ms, its 3x3 stride-2 convs of 576 and 1152 taps 18.8 -> 13.7 and
// 38.0 -> 25.8 ms; at 2304 and 4608 taps the filter blocks stream from L2 per output row and
// the GEMM wins): a window and at most kDirect2dTaps taps, an output plane of at least
// kDirect2dMinPlane (128 -> 256 channels at stride 2 onto 10x10, batch 64: direct 19.9 ms, GEMM
// 17.0; onto 12x12 23.7 and 25.2; 64 -> 128 onto 12x12 6.3 and 8.0, onto 10x10 even), and with
// fewer images than threads, one of at least kDirect2dSplitPlane.
constexpr int64_t kDirect2dTaps = 1152;
constexpr int64_t kDirect2dMinPlane = 12 * 12;
constexpr int64_t kDirect2dSplitPlane = 28 * 28;

bool direct2d_applies(const Vol3Geom& g, int nt) {
#if SALIENT_HAVE_AVX512
    // with fewer images than threads each image's rows are split over them: a win on large planes only
    // (the stem at batch 1: 1.23 -> 0.94 ms; a 3x3 stride-2 conv onto 14x14: 0.56 -> 0.81 ms). Onto
    // 28x28 it wins since the packed filters are kept (the filter cache): batch 1, 2 threads, against
    // im2col + SGEMM, alternating: 128 -> 128 from 56x56 920-980 -> 747-839 us, 64 -> 128 530-537 -> 426-428
    const bool rows_split = (int64_t)g.n * g.groups < nt;
    const int64_t plane = (int64_t)g.out[1] * g.out[2];
    return g.ker_vol() > 1 && (int64_t)g.cg * g.ker_vol() <= kDirect2dTaps && direct_plan(g).ob > 0 &&
           plane >= kDirect2dMinPlane && (!rows_split || plane >= kDirect2dSplitPlane);
#else
    return false;
#endif
}

int direct2d_forward(const float* x, const float* w, const float* bias, float* y, const Vol3Geom& g, int nt,
                     const Epilogue& e) {
#if SALIENT_HAVE_AVX512
    return direct_forward(x, w, bias, y, g, nt, e, direct_plan(g), true);
#else
    return fail(SALIENT_EINVAL, "conv2d_forward_cpu: the direct kernel needs AVX-512");
#endif
}

// A 2-D stem (a few input channels, a window, stride 2) on AVX2: the 16-output kernels over the
// phase-split copy read each tap's 16 outputs as one load where im2col gathers every other float
// into the GEMM's panels. Same chains, so the same bits (Direct2dTest). Measured on Zen 3 (AVX2,
// 2 threads), alternating runs against im2col + SGEMM: MobileNetV2's 3x3 stem (27 taps) 0.48 ->
// 0.29-0.40 ms at batch 1 and 4.97 -> 3.60 at batch 8; ResNet's 7x7 stem (147 taps) 3.64 -> 2.82
// ms at batch 1; 3x3 32 -> 32 onto 56x56 (288 taps) 0.93 -> 0.71. At 576 taps and more (ResNet's
// downsampling convs) im2col + SGEMM was as fast or faster (0.92-1.0x), so they stay there.
constexpr int64_t kStem2dTaps = 288;

bool stem2d_applies(const Vol3Geom& g) {
    return !isa::avx512() && g.in[0] == 1 && g.ker[0] == 1 && g.ker_vol() > 1 && g.stride[1] == 2 &&
           g.stride[2] == 2 && g.dil[1] == 1 && g.dil[2] == 1 && (int64_t)g.cg * g.ker_vol() <= kStem2dTaps &&
           sixteen_applies(g);
}

bool implicit_applies(const Vol3Geom& g) {
    // pointwise: the input is already the column matrix, but for a stride (vol2col gathers it;
    // direct512 reads it in place)
    if (g.ker_vol() == 1)
        return direct_plan(g).ob && (g.stride[0] > 1 || g.stride[1] > 1 || g.stride[2] > 1);
    // (direct512 keeps outputs in registers and copies one output slice's input at a time)
    return direct_plan(g).ob || sixteen_applies(g);
}

int implicit_forward(const float* x, const float* w, const float* bias, float* y, const Vol3Geom& g, int nt,
                     const Epilogue& e) {
#if SALIENT_HAVE_AVX512
    const Direct plan = direct_plan(g);  // (none without AVX-512)
    if (plan.ob) return direct_forward(x, w, bias, y, g, nt, e, plan);
#endif
    // AVX-512: blocks of kMR512 output channels by kNB512 * 16 outputs, else kMR by kNR outputs
#if SALIENT_HAVE_AVX512
    const bool wide = isa::avx512();
#else
    const bool wide = false;
#endif
    // (one zmm of outputs where a row has no more: a second would be idle lanes)
    const bool two = g.out[2] > 16;
    const int mr = wide ? kMR512 : kMR, nr = wide ? (two ? 16 * kNB512 : 16) : kNR;
    const Padded P = padded(g);
    const int64_t K = (int64_t)g.cg * g.ker_vol(), kblocks = (g.kg + mr - 1) / mr;
    const int64_t copy = (int64_t)g.n * g.c * P.chan();
    // the calling thread's, kept for the next call (no page faults); a row's last kernel call
    // reads up to nr - 1 floats past the row (lanes that are dropped), the last row's past the copy
    float* xp = thread_workspace(copy + kMaxNR, 2);
    // filters of each group in blocks of mr output channels, K x mr each (rows past kg zero)
    const int64_t apack = (int64_t)g.groups * kblocks * K * mr;
    float* A = (float*)std::aligned_alloc(64, ((size_t)apack * sizeof(float) + 63) & ~(size_t)63);
    int64_t* off = (int64_t*)std::malloc(sizeof(int64_t) * (size_t)K);
    if (!xp || !A || !off) {
        std::free(A), std::free(off);
        return fail(SALIENT_ENOMEM, "conv3d_forward_cpu: out of memory for the padded input");
    }
    const int64_t chans = (int64_t)g.n * g.c;
#pragma omp parallel num_threads(nt)
    {
        std::vector<float> row(2 * (size_t)P.wq + 16);  // one padded input row (copy_channel)
#pragma omp for schedule(static)
        for (int64_t nc = 0; nc < chans; nc++) copy_channel(x + nc * g.in_vol(), xp + nc * P.chan(), g, P, row.data());
    }
    for (int gi = 0; gi < g.groups; gi++)
        for (int64_t b = 0; b < kblocks; b++)
            for (int64_t k = 0; k < K; k++)
                for (int r = 0; r < mr; r++) {
                    const int64_t o = b * mr + r;
                    A[((gi * kblocks + b) * K + k) * mr + r] = o < g.kg ? w[((int64_t)gi * g.kg + o) * K + k] : 0.f;
                }
    for (int64_t k = 0; k < K; k++) {
        const int s = (int)(k % g.ker[2]), r = (int)((k / g.ker[2]) % g.ker[1]);
        const int t = (int)((k / ((int64_t)g.ker[2] * g.ker[1])) % g.ker[0]);
        const int64_t c = k / g.ker_vol();
        const int a = s * g.dil[2];
        off[k] = c * P.chan() + (int64_t)t * g.dil[0] * P.plane() + (int64_t)r * g.dil[1] * P.row() +
                 (int64_t)(a % P.sw) * P.wq + a / P.sw;
    }
    const int OD = g.out[0], OH = g.out[1], OW = g.out[2];
    const int64_t orows = (int64_t)OD * OH, ohw = (int64_t)OH * OW, ovol = g.out_vol();
    const int64_t rblocks = (orows + kRowsPerItem - 1) / kRowsPerItem;
    const int64_t items = (int64_t)g.n * g.groups * rblocks;
    int err = 0;
#pragma omp parallel num_threads((int)std::max<int64_t>(1, std::min<int64_t>(nt, items)))
    {
    float* acc = thread_workspace(kblocks * mr * nr, 0);
    if (!acc) {
#pragma omp atomic write
        err = 1;
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
        if (!acc) continue;
        const int64_t rb = it % rblocks, gi = (it / rblocks) % g.groups, nn = it / (rblocks * g.groups);
        const float* xg = xp + (nn * g.c + gi * g.cg) * P.chan();
        const float* Ag = A + gi * kblocks * K * mr;
        float* yg = y + (nn * g.k + gi * g.kg) * ovol;
        const int64_t r0 = rb * kRowsPerItem, r1 = std::min(orows, r0 + kRowsPerItem);
        for (int64_t row = r0; row < r1; row++) {
            const int z = (int)(row / OH), p = (int)(row % OH);
            const float* base = xg + (int64_t)z * g.stride[0] * P.plane() + (int64_t)p * g.stride[1] * P.row();
            float* yrow = yg + (int64_t)z * ohw + (int64_t)p * OW;
            // the next output row's rows of xp, fetched while this row computes (the hardware's
            // prefetchers do not follow a kernel that jumps between ~K rows)
            const int64_t pfd = (int64_t)g.stride[1] * P.row();
            for (int q0 = 0; q0 < OW; q0 += nr) {
                const int cols = std::min(nr, OW - q0);
                // K in chunks whose rows of xp stay in L1 while every block of output channels
                // reads them; the sums go chunk by chunk into acc (kg x nr), and with AVX-512 the
                // last chunk's straight into y, with the bias and the epilogue
                for (int64_t k0 = 0; k0 < K; k0 += kChunk) {
                    const int kc = (int)std::min<int64_t>(kChunk, K - k0);
                    const bool last = k0 + kc >= K;
                    for (int64_t b = 0; b < kblocks; b++) {
                        const float* Ab = Ag + (b * K + k0) * mr;
                        float* ab = acc + b * mr * nr;
#if SALIENT_HAVE_AVX512
                        if (wide) {
                            Out o{yrow + b * mr * ovol + q0, ovol, (int)std::min<int64_t>(mr, g.kg - b * mr), cols,
                                  bias ? bias + gi * g.kg + b * mr : nullptr, &e};
                            const Out* op = last ? &o : nullptr;
                            if (two)
                                kernel512<kMR512, kNB512>(kc, Ab, base + q0, off + k0, ab, k0 == 0, b == 0 ? pfd : 0, op);
                            else
                                kernel512<kMR512, 1>(kc, Ab, base + q0, off + k0, ab, k0 == 0, b == 0 ? pfd : 0, op);
                            continue;
                        }
#endif
                        kernel(kc, Ab, base + q0, off + k0, ab, k0 == 0, b == 0 ? pfd : 0);
                    }
                }
                if (wide) continue;
                for (int o = 0; o < g.kg; o++) {
                    const float bv = bias ? bias[gi * g.kg + o] : 0.f;
                    float* d = yrow + (int64_t)o * ovol + q0;
                    const float* src = acc + (int64_t)o * nr;
                    for (int j = 0; j < cols; j++) d[j] = src[j] + bv;
                }
            }
            if (!wide) apply_epilogue(e, yrow, g.kg, OW, ovol);
        }
    }
    }
    std::free(A), std::free(off);
    if (err) return fail(SALIENT_ENOMEM, "conv3d_forward_cpu: out of memory for the accumulators");
    return SALIENT_OK;
}

}  // namespace conv3
}  // namespace salient
