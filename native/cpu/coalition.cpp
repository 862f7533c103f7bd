// A model's first conv under coalition masks, by its linearity. A coalition evaluation's input is
// b + m ⊙ (x − b), with m constant over each segment of a label map: m = Σ_j z_j 1[label = j]. The
// first conv (weights w, bias β) of that input is, at output position p,
//
//   y[k,p] = B[k,p] + Σ_j z_j P_j[k,p],   B = conv(b) + β,   P_j[k,p] = Σ_{c,r,s: label(q) = j} w[k,c,r,s] (x − b)[c,q]
//
// (q the input element under tap (r, s) of position p; padding is 0 in every input, so it adds
// nothing). Only the segments under p's window have a nonzero P_j[·,p]: one for most positions,
// two to four along the segments' boundaries. So an image's B and its few partials per position are
// computed once (coalition_conv_prepare_cpu, about the cost of one conv of the image), and each of
// its evaluations costs those few multiply-adds per output (coalition_conv_cpu) instead of the
// conv's C·R·S, with the activation and a max pool that follow the conv applied on the way out.
//
// The partials of position p sit in slots: slot t holds the segment segs[t, p] (or -1 for none)
// and P_segs[t,p][·, p]. Every output is one fixed chain, B then the slots in order, so its bits do
// not depend on the batch, the threads or the instruction set. The result equals the conv of the
// blended input up to rounding (the sums are regrouped by segment).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>
#include <omp.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include "common.h"
#include "isa.h"
#include "primitives.h"

namespace {

// The max-pool scan's rule (pool2d.cpp): v replaces the running best when larger, or NaN.
inline float takes(float best, float v) { return (v > best || v != v) ? v : best; }

// The activations, NaN kept, each as the AVX-512 path computes it (max/min returning their second
// operand when the first is not larger/smaller or either is NaN), so both give the same bits.
inline float activate(float v, int act, float lo, float hi) {
    if (act == SALIENT_COALITION_RELU) return 0.f > v ? 0.f : v;
    if (act == SALIENT_COALITION_CLIP) {
        v = lo > v ? lo : v;
        return hi < v ? hi : v;
    }
    return v;
}

struct Pool {
    int kh, kw, sh, sw, pt, pl, oh, ow;  // kh == 0: no pool
};

// The layout of a plane's positions for the combine: each output row in groups of 16 columns (the
// last masked), the slots' segment indices padded to whole groups (none as segment 0, whose partial
// there is 0) and how many slots each group uses.
struct Groups {
    int oh, ow, per_row;   // groups per row
    int64_t slot_stride;   // indices per slot: oh * per_row * 16
    std::vector<uint16_t> idx;
    std::vector<uint8_t> used;
};

Groups make_groups(const int32_t* segs, int oh, int ow, int slots) {
    Groups g;
    g.oh = oh;
    g.ow = ow;
    g.per_row = (ow + 15) / 16;
    g.slot_stride = (int64_t)oh * g.per_row * 16;
    g.idx.assign((size_t)slots * g.slot_stride, 0);
    g.used.assign((size_t)oh * g.per_row, 1);
    const int64_t P = (int64_t)oh * ow;
    for (int t = 0; t < slots; t++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                const int32_t v = segs[t * P + (int64_t)y * ow + x];
                if (v < 0) continue;
                g.idx[(size_t)t * g.slot_stride + ((int64_t)y * g.per_row) * 16 + x] = (uint16_t)v;
                uint8_t& u = g.used[(size_t)y * g.per_row + x / 16];
                u = (uint8_t)std::max<int>(u, t + 1);
            }
    return g;
}

// out[y * ldo + x] = act(bk[p] + Σ_{t < used} z[idx_t] · part_t[p]) for p = y·ow + x: a chain of
// fused multiply-adds in slot order per output (slot t's partials at part + t·ps).
void plane_scalar(const float* bk, const float* part, int64_t ps, const Groups& g, const float* z, int act, float lo,
                  float hi, float* out, int64_t ldo) {
    for (int y = 0; y < g.oh; y++)
        for (int gx = 0; gx < g.per_row; gx++) {
            const int x0 = gx * 16, n = std::min(16, g.ow - x0);
            const int64_t p0 = (int64_t)y * g.ow + x0, i0 = ((int64_t)y * g.per_row + gx) * 16;
            const int used = g.used[(size_t)y * g.per_row + gx];
            for (int i = 0; i < n; i++) {
                float a = bk[p0 + i];
                for (int t = 0; t < used; t++) a = std::fma(z[g.idx[t * g.slot_stride + i0 + i]], part[t * ps + p0 + i], a);
                out[(int64_t)y * ldo + x0 + i] = activate(a, act, lo, hi);
            }
        }
}

#if SALIENT_HAVE_AVX512
SALIENT_AVX512_BEGIN
// plane_scalar for E evaluations at once (their designs z + e·m, outputs out[e]), 16 positions a
// vector, so that each group's partials and indices are read once for the E: the segment's
// coefficient is looked up in registers, from T tables of 16 per evaluation (T = 1, 2 or 4: up to
// 16, 32 or 64 segments; the 64-entry lookup takes two 32-entry ones and bit 5 of the index), or
// gathered (T = 0). Returns bit e set where out[e] has a NaN.
template <int E, int T>
unsigned plane_avx512(const float* bk, const float* part, int64_t ps, const Groups& g, const float* z, int m, int act,
                      float lo, float hi, float* const* out, int64_t ldo) {
    unsigned nan = 0;
    __m512 tab[E][T > 0 ? T : 1];
    for (int e = 0; e < E; e++)
        for (int q = 0; q < T; q++) {
            const int left = m - 16 * q;
            tab[e][q] = left <= 0 ? _mm512_setzero_ps()
                                  : _mm512_maskz_loadu_ps((__mmask16)(left >= 16 ? 0xFFFF : (1u << left) - 1), z + e * m + 16 * q);
        }
    const __m512i bit5 = _mm512_set1_epi32(32);
    const __m512 vlo = _mm512_set1_ps(act == SALIENT_COALITION_RELU ? 0.f : lo), vhi = _mm512_set1_ps(hi);
    for (int y = 0; y < g.oh; y++)
        for (int gx = 0; gx < g.per_row; gx++) {
            const int x0 = gx * 16, n = std::min(16, g.ow - x0);
            const __mmask16 live = (__mmask16)(n == 16 ? 0xFFFF : (1u << n) - 1);
            const int64_t p0 = (int64_t)y * g.ow + x0, i0 = ((int64_t)y * g.per_row + gx) * 16;
            const int used = g.used[(size_t)y * g.per_row + gx];
            const __m512 b = _mm512_maskz_loadu_ps(live, bk + p0);
            __m512 a[E];
            for (int e = 0; e < E; e++) a[e] = b;
            for (int t = 0; t < used; t++) {
                const __m512i i = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(g.idx.data() + t * g.slot_stride + i0)));
                const __m512 pv = _mm512_maskz_loadu_ps(live, part + t * ps + p0);
                const __mmask16 upper = T == 4 ? _mm512_test_epi32_mask(i, bit5) : (__mmask16)0;
                for (int e = 0; e < E; e++) {
                    __m512 c;
                    if (T == 1) c = _mm512_permutexvar_ps(i, tab[e][0]);
                    else if (T == 2) c = _mm512_permutex2var_ps(tab[e][0], i, tab[e][1]);
                    else if (T == 4)
                        c = _mm512_mask_blend_ps(upper, _mm512_permutex2var_ps(tab[e][0], i, tab[e][1]),
                                                 _mm512_permutex2var_ps(tab[e][2], i, tab[e][3]));
                    else c = _mm512_i32gather_ps(i, z + e * m, 4);
                    a[e] = _mm512_fmadd_ps(c, pv, a[e]);
                }
            }
            for (int e = 0; e < E; e++) {
                if (act != SALIENT_COALITION_NONE) a[e] = _mm512_max_ps(vlo, a[e]);
                if (act == SALIENT_COALITION_CLIP) a[e] = _mm512_min_ps(vhi, a[e]);
                _mm512_mask_storeu_ps(out[e] + (int64_t)y * ldo + x0, live, a[e]);
                if (_mm512_mask_cmp_ps_mask(live, a[e], a[e], _CMP_UNORD_Q)) nan |= 1u << e;
            }
        }
    return nan;
}

// plane_avx512 with E evaluations, its lookup chosen by the number of segments m.
template <int E>
unsigned plane_avx512_for(const float* bk, const float* part, int64_t ps, const Groups& g, const float* z, int m, int act,
                          float lo, float hi, float* const* out, int64_t ldo) {
    if (m <= 16) return plane_avx512<E, 1>(bk, part, ps, g, z, m, act, lo, hi, out, ldo);
    if (m <= 32) return plane_avx512<E, 2>(bk, part, ps, g, z, m, act, lo, hi, out, ldo);
    if (m <= 64) {
        // four 16-entry tables an evaluation: at most 4 evaluations a pass
        constexpr int F = E > 4 ? 4 : E;
        unsigned nan = 0;
        for (int e = 0; e < E; e += F) nan |= plane_avx512<F, 4>(bk, part, ps, g, z + (int64_t)e * m, m, act, lo, hi, out + e, ldo) << e;
        return nan;
    }
    return plane_avx512<E, 0>(bk, part, ps, g, z, m, act, lo, hi, out, ldo);
}

// The pool of pool_plane (below) on a plane without NaN, where the scan's rule is vmaxps(v, best)
// (v where v > best, else best): down each window's rows into row py of vbuf (rows vld apart, pl
// columns of -inf before each, enough after) for every output row first, so that the pass along the
// rows reads stores long retired; with 3-wide windows at stride 2, 16 outputs from 34 inputs (the
// even lanes, the odd lanes and the even lanes one on).
void pool_plane_avx512(const float* a, int64_t lda, int h, int w, const Pool& q, float* vbuf, int64_t vld, float* y) {
    for (int py = 0; py < q.oh; py++) {
        const int y0 = py * q.sh - q.pt, t0 = std::max(0, -y0), t1 = std::min(q.kh, h - y0);
        const float* r0 = a + (int64_t)(y0 + t0) * lda;
        float* vrow = vbuf + py * vld;
        for (int x = 0; x < w; x += 16) {
            const __mmask16 live = (__mmask16)(w - x >= 16 ? 0xFFFF : (1u << (w - x)) - 1);
            __m512 best = _mm512_maskz_loadu_ps(live, r0 + x);
            for (int t = 1; t < t1 - t0; t++) best = _mm512_max_ps(_mm512_maskz_loadu_ps(live, r0 + t * lda + x), best);
            _mm512_mask_storeu_ps(vrow + x, live, best);
        }
    }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int py = 0; py < q.oh; py++) {
        const float* row = vbuf + py * vld - q.pl;
        float* yr = y + (int64_t)py * q.ow;
        if (q.sw == 2 && q.kw == 3) {
            for (int px = 0; px < q.ow; px += 16) {
                const __mmask16 live = (__mmask16)(q.ow - px >= 16 ? 0xFFFF : (1u << (q.ow - px)) - 1);
                const float* s = row + 2 * px;
                const __m512 lo = _mm512_loadu_ps(s), hi = _mm512_loadu_ps(s + 16);
                const __m512 lo2 = _mm512_loadu_ps(s + 2), hi2 = _mm512_loadu_ps(s + 18);
                __m512 best = _mm512_permutex2var_ps(lo, even, hi);
                best = _mm512_max_ps(_mm512_permutex2var_ps(lo, odd, hi), best);
                best = _mm512_max_ps(_mm512_permutex2var_ps(lo2, even, hi2), best);
                _mm512_mask_storeu_ps(yr + px, live, best);
            }
        } else {
            for (int px = 0; px < q.ow; px++) {
                const float* s = row + (int64_t)px * q.sw;
                float best = s[0];
                for (int tx = 1; tx < q.kw; tx++) best = takes(best, s[tx]);
                yr[px] = best;
            }
        }
    }
}
SALIENT_AVX512_END
#endif

// Max pool of the activated plane a (h x w, rows lda apart) into y (q.oh x q.ow), by the pool's
// scan rule: down each window's rows into vrow (pl columns of -inf before it, enough after), then
// along vrow. Every output takes the same value as a row-major scan of its window (the rule keeps a
// NaN, else the maximum), and, where the plane has no NaN, the same bits as pool_plane_avx512.
void pool_plane(const float* a, int64_t lda, int h, int w, const Pool& q, float* vbuf, float* y) {
    float* vrow = vbuf;  // one row of the vector path's vbuf
    for (int py = 0; py < q.oh; py++) {
        const int y0 = py * q.sh - q.pt, t0 = std::max(0, -y0), t1 = std::min(q.kh, h - y0);
        const float* r0 = a + (int64_t)(y0 + t0) * lda;
        for (int x = 0; x < w; x++) {
            float best = r0[x];
            for (int t = 1; t < t1 - t0; t++) best = takes(best, r0[t * lda + x]);
            vrow[x] = best;
        }
        const float* row = vrow - q.pl;
        float* yr = y + (int64_t)py * q.ow;
        for (int px = 0; px < q.ow; px++) {
            const float* s = row + (int64_t)px * q.sw;
            float best = s[0];
            for (int tx = 1; tx < q.kw; tx++) best = takes(best, s[tx]);
            yr[px] = best;
        }
    }
}

// a[l] = the chain Σ_j w[off[j] + l] · v[j] over taps j = order[0..n) (or 0..n), l < 16, as fused
// multiply-adds (std::fma's bits, 8 lanes at a time).
inline void sum16(const float* w, const int* off, const float* v, const int* order, int n, float* a) {
#if defined(__AVX2__) && defined(__FMA__)
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int o = 0; o < n; o++) {
        const int j = order ? order[o] : o;
        const __m256 x = _mm256_set1_ps(v[j]);
        lo = _mm256_fmadd_ps(_mm256_loadu_ps(w + off[j]), x, lo);
        hi = _mm256_fmadd_ps(_mm256_loadu_ps(w + off[j] + 8), x, hi);
    }
    _mm256_store_ps(a, lo);
    _mm256_store_ps(a + 8, hi);
#else
    for (int o = 0; o < n; o++) {
        const int j = order ? order[o] : o;
        for (int l = 0; l < 16; l++) a[l] = std::fma(w[off[j] + l], v[j], a[l]);
    }
#endif
}

}  // namespace

extern "C" int coalition_conv_prepare_cpu(const float* x, const float* b, const int32_t* labels, const float* w,
                                          const float* bias, const int32_t* segs, float* part, float* bout, int c, int h,
                                          int wd, int k, int r, int s, int sh, int sw, int pt, int pl, int oh, int ow,
                                          int slots) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(labels);
    SALIENT_CHECK_PTR(w);
    SALIENT_CHECK_PTR(segs);
    SALIENT_CHECK_PTR(part);
    SALIENT_CHECK_PTR(bout);
    SALIENT_CHECK(c > 0 && h > 0 && wd > 0 && k > 0 && r > 0 && s > 0 && sh > 0 && sw > 0 && pt >= 0 && pl >= 0 &&
                      oh > 0 && ow > 0 && slots > 0 && slots <= 64 && (int64_t)(oh - 1) * sh - pt < h &&
                      (int64_t)(ow - 1) * sw - pl < wd,
                  "coalition_conv_prepare_cpu: bad sizes c=%d h=%d w=%d k=%d r=%d s=%d stride=%dx%d pad=%d,%d out=%dx%d "
                  "slots=%d",
                  c, h, wd, k, r, s, sh, sw, pt, pl, oh, ow, slots);
    const int64_t P = (int64_t)oh * ow, taps = (int64_t)c * r * s;
    for (int64_t i = 0; i < (int64_t)slots * P; i++)
        SALIENT_CHECK(segs[i] >= -1, "coalition_conv_prepare_cpu: slot segment %d at %lld is below -1", segs[i],
                      (long long)i);
    std::vector<float> wt(taps * k + 16);  // w with the filter index innermost: (c, r, s, k), 16 floats of slack
    for (int kk = 0; kk < k; kk++)
        for (int64_t t = 0; t < taps; t++) wt[t * k + kk] = w[kk * taps + t];
    constexpr int kBlock = 16;  // positions whose sums are transposed into the outputs together
    constexpr int kLanes = 16;  // filters summed at once, in registers
    const int64_t blocks = (P + kBlock - 1) / kBlock;
    int bad = 0;
#pragma omp parallel reduction(| : bad)
    {
        // sums of a block: (slot, position, filter), the base's at slot `slots`
        std::vector<float> acc((size_t)(slots + 1) * kBlock * k);
        // the taps inside the image of one position: their slot, x - b, b and filter offset
        std::vector<int> tslot(taps), toff(taps), order(taps), rs_slot((size_t)r * s);
        std::vector<float> txv(taps), tbv(taps);
#pragma omp for schedule(static)
        for (int64_t bl = 0; bl < blocks; bl++) {
            const int64_t p0 = bl * kBlock;
            const int n = (int)std::min<int64_t>(kBlock, P - p0);
            for (int i = 0; i < n; i++) {
                const int64_t p = p0 + i;
                const int oy = (int)(p / ow), ox = (int)(p % ow);
                // the slot of each tap (r, s) inside the image, the same for every channel (-1 outside)
                int used = 0;
                for (int ri = 0; ri < r; ri++) {
                    const int iy = oy * sh - pt + ri;
                    for (int si = 0; si < s; si++) {
                        const int ix = ox * sw - pl + si;
                        int t = -1;
                        if (iy >= 0 && iy < h && ix >= 0 && ix < wd) {
                            const int32_t lab = labels[(int64_t)iy * wd + ix];
                            t = 0;
                            while (t < slots && segs[t * P + p] != lab) t++;
                            if (t == slots) {
                                bad = 1;
                                t = -1;
                            } else {
                                used = std::max(used, t + 1);
                            }
                        }
                        rs_slot[ri * s + si] = t;
                    }
                }
                int nt = 0;
                for (int ci = 0; ci < c; ci++)
                    for (int ri = 0; ri < r; ri++) {
                        const int iy = oy * sh - pt + ri;
                        for (int si = 0; si < s; si++) {
                            const int t = rs_slot[ri * s + si];
                            if (t < 0) continue;
                            const int ix = ox * sw - pl + si;
                            const int64_t q = ((int64_t)ci * h + iy) * wd + ix;
                            tslot[nt] = t;
                            tbv[nt] = b ? b[q] : 0.f;
                            txv[nt] = x[q] - tbv[nt];
                            toff[nt] = (int)((((int64_t)ci * r + ri) * s + si) * k);
                            nt++;
                        }
                    }
                // the taps by slot, each slot's in (c, r, s) order: start[t] .. start[t + 1]
                int start[65] = {};
                for (int j = 0; j < nt; j++) start[tslot[j] + 1]++;
                for (int t = 0; t < used; t++) start[t + 1] += start[t];
                {
                    int fill[64];
                    std::copy(start, start + used, fill);
                    for (int j = 0; j < nt; j++) order[fill[tslot[j]]++] = j;
                }
                for (int k0 = 0; k0 < k; k0 += kLanes) {
                    const int nk = std::min(kLanes, k - k0);
                    for (int t = 0; t <= slots; t++) {
                        alignas(32) float a[kLanes] = {};
                        if (t < used)
                            sum16(wt.data() + k0, toff.data(), txv.data(), order.data() + start[t], start[t + 1] - start[t], a);
                        else if (t == slots && b)
                            sum16(wt.data() + k0, toff.data(), tbv.data(), nullptr, nt, a);
                        std::copy(a, a + nk, acc.data() + ((size_t)t * kBlock + i) * k + k0);
                    }
                }
            }
            for (int kk = 0; kk < k; kk++) {
                const float bk = bias ? bias[kk] : 0.f;
                for (int i = 0; i < n; i++) bout[kk * P + p0 + i] = acc[((size_t)slots * kBlock + i) * k + kk] + bk;
                for (int t = 0; t < slots; t++)
                    for (int i = 0; i < n; i++) part[((int64_t)t * k + kk) * P + p0 + i] = acc[((size_t)t * kBlock + i) * k + kk];
            }
        }
    }
    if (bad) return salient::fail(SALIENT_EINVAL, "coalition_conv_prepare_cpu: a label under a window is in none of its slots");
    return SALIENT_OK;
}

extern "C" int coalition_conv_cpu(const int32_t* segs, const float* part, const float* bout, const float* design,
                                  float* y, int k, int oh, int ow, int slots, int m, int count, int64_t row_stride,
                                  int act, float lo, float hi, int pool_kh, int pool_kw, int pool_sh, int pool_sw,
                                  int pool_pt, int pool_pl, int pool_oh, int pool_ow) {
    SALIENT_CHECK_PTR(segs);
    SALIENT_CHECK_PTR(part);
    SALIENT_CHECK_PTR(bout);
    SALIENT_CHECK_PTR(design);
    SALIENT_CHECK_PTR(y);
    const bool pooled = pool_kh > 0;
    SALIENT_CHECK(k > 0 && oh > 0 && ow > 0 && slots > 0 && slots <= 64 && m > 0 && m <= 65536 && count > 0 &&
                      (act == SALIENT_COALITION_NONE || act == SALIENT_COALITION_RELU || act == SALIENT_COALITION_CLIP),
                  "coalition_conv_cpu: bad sizes k=%d out=%dx%d slots=%d m=%d count=%d act=%d", k, oh, ow, slots, m, count,
                  act);
    // every pool window holds at least one element of the plane and reads within kw columns of it
    SALIENT_CHECK(!pooled || (pool_kw > 0 && pool_sh > 0 && pool_sw > 0 && pool_pt >= 0 && pool_pl >= 0 &&
                              pool_pt < pool_kh && pool_pl < pool_kw && pool_oh > 0 && pool_ow > 0 &&
                              (int64_t)(pool_oh - 1) * pool_sh - pool_pt < oh && (int64_t)(pool_ow - 1) * pool_sw - pool_pl < ow),
                  "coalition_conv_cpu: bad max pool %dx%d stride %dx%d pad %d,%d out %dx%d over %dx%d", pool_kh, pool_kw,
                  pool_sh, pool_sw, pool_pt, pool_pl, pool_oh, pool_ow, oh, ow);
    const int64_t P = (int64_t)oh * ow, plane_out = pooled ? (int64_t)pool_oh * pool_ow : P;
    SALIENT_CHECK(row_stride >= (int64_t)k * plane_out, "coalition_conv_cpu: row stride %lld is below a row's %lld floats",
                  (long long)row_stride, (long long)k * plane_out);
    for (int64_t i = 0; i < (int64_t)slots * P; i++)
        SALIENT_CHECK(segs[i] >= -1 && segs[i] < m, "coalition_conv_cpu: slot segment %d at %lld is outside [-1, %d)",
                      segs[i], (long long)i, m);
    for (int64_t i = 0; i < (int64_t)count * m; i++)
        SALIENT_CHECK(std::isfinite(design[i]), "coalition_conv_cpu: design value %g at %lld is not finite",
                      (double)design[i], (long long)i);
    const Groups g = make_groups(segs, oh, ow, slots);
    const bool wide = salient::isa::avx512();
    // a pooled plane is dense; the row its windows' maxima go down into has pool_kw columns of -inf
    // before it and, after it, enough for the widest read (the vector path reads 34 columns from 2 px)
    constexpr int kEvals = 8;  // evaluations per pass over a plane's partials
    const int64_t plane_buf = P + 16;
    const int64_t vld = pool_kw + std::max<int64_t>(ow, (int64_t)pool_ow * pool_sw + 34) + pool_kw + 16;
    const Pool q{pool_kh, pool_kw, pool_sh, pool_sw, pool_pt, pool_pl, pool_oh, pool_ow};
#pragma omp parallel
    {
        std::vector<float> buf(pooled ? (size_t)kEvals * plane_buf : 1);
        std::vector<float> vbuf(pooled ? (size_t)pool_oh * vld : 1, -std::numeric_limits<float>::infinity());
        float* vr = vbuf.data() + pool_kw;
#pragma omp for schedule(static)
        for (int kk = 0; kk < k; kk++) {
            const float* bk = bout + (int64_t)kk * P;
            const float* pk = part + (int64_t)kk * P;
            for (int e0 = 0; e0 < count;) {
                const int ne = wide && count - e0 >= kEvals ? kEvals : 1;
                float* dst[kEvals];
                for (int e = 0; e < ne; e++)
                    dst[e] = pooled ? buf.data() + (size_t)e * plane_buf : y + (int64_t)(e0 + e) * row_stride + (int64_t)kk * plane_out;
                const float* z = design + (int64_t)e0 * m;
                unsigned nan = ~0u;  // planes that may hold a NaN
#if SALIENT_HAVE_AVX512
                if (wide && ne == kEvals)
                    nan = plane_avx512_for<kEvals>(bk, pk, (int64_t)k * P, g, z, m, act, lo, hi, dst, ow);
                else if (wide)
                    nan = plane_avx512_for<1>(bk, pk, (int64_t)k * P, g, z, m, act, lo, hi, dst, ow);
                else
#endif
                    plane_scalar(bk, pk, (int64_t)k * P, g, z, act, lo, hi, dst[0], ow);
                if (pooled)
                    for (int e = 0; e < ne; e++) {
                        float* yo = y + (int64_t)(e0 + e) * row_stride + (int64_t)kk * plane_out;
#if SALIENT_HAVE_AVX512
                        if (wide && !(nan >> e & 1)) {
                            pool_plane_avx512(dst[e], ow, oh, ow, q, vr, vld, yo);
                            continue;
                        }
#endif
                        pool_plane(dst[e], ow, oh, ow, q, vr, yo);
                    }
                e0 += ne;
            }
        }
    }
    return SALIENT_OK;
}
