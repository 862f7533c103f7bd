// 2-D max and average pooling, forward and data gradient, on the CPU.
//
//   max:  y[n,c,p,q] = max_{r,s} x[n,c, p*sh - pt + r*dh, q*sw - pl + s*dw]   (pads are -inf)
//   avg:  y[n,c,p,q] = (1/cnt) * sum_{r,s} x[...]                             (pads are 0)
//
// Max pooling follows PyTorch's CPU kernel: a window position replaces the
// running maximum when `v > max || isnan(v)`, scanning the window in row-major
// order, so without NaNs the FIRST maximum wins and receives the gradient.
// Average pooling's divisor `cnt` is the number of window positions inside the
// input (count_include_pad = 0) or inside the padded input (count_include_pad
// = 1, as ONNX and PyTorch: the part of a ceil-mode window beyond the padded
// input never counts). Everything is parallel over the n*c planes.
//
// Max pooling scans each input row once (RowScan: vectorised across output
// columns, with AVX2 for stride 2), then the window rows; no branch depends on
// the data. Bytes: the input read once, the output written once.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#include "common.h"
#include "isa.h"
#include "workspace.h"

namespace {

struct PoolGeom {
    int n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, oh, ow;
};

int check_pool(const char* fn, const PoolGeom& g) {
    SALIENT_CHECK(g.n > 0 && g.c > 0 && g.h > 0 && g.w > 0 && g.kh > 0 && g.kw > 0 && g.oh > 0 && g.ow > 0,
                  "%s: non-positive size (n=%d c=%d h=%d w=%d kernel=%dx%d out=%dx%d)", fn, g.n, g.c, g.h, g.w,
                  g.kh, g.kw, g.oh, g.ow);
    SALIENT_CHECK(g.sh > 0 && g.sw > 0 && g.dh > 0 && g.dw > 0, "%s: strides and dilations must be positive", fn);
    SALIENT_CHECK(g.pt >= 0 && g.pl >= 0 && g.pb >= 0 && g.pr >= 0, "%s: negative pad", fn);
    SALIENT_CHECK((int64_t)g.h * g.w < INT32_MAX && (int64_t)g.h * g.ow < INT32_MAX,
                  "%s: a %dx%d plane is too large", fn, g.h, g.w);
    // windows past the input are legal (they pool nothing) but an output far larger than the
    // input is a corrupt size
    SALIENT_CHECK((int64_t)(g.oh - 1) * g.sh <= (int64_t)g.h + g.pt + g.pb + (int64_t)g.dh * (g.kh - 1) &&
                      (int64_t)(g.ow - 1) * g.sw <= (int64_t)g.w + g.pl + g.pr + (int64_t)g.dw * (g.kw - 1),
                  "%s: output %dx%d does not fit the padded %dx%d input", fn, g.oh, g.ow, g.h, g.w);
    return SALIENT_OK;
}

// Window rows [lo, hi) of output row p that lie inside the input (valid rows are contiguous).
inline void valid_rows(const PoolGeom& g, int p, int& lo, int& hi) {
    lo = g.kh;
    hi = 0;
    for (int r = 0; r < g.kh; r++) {
        int ih = p * g.sh - g.pt + r * g.dh;
        if (ih < 0 || ih >= g.h) continue;
        lo = std::min(lo, r);
        hi = r + 1;
    }
}

// Whether a max-pool scan replaces its running best with v: v is larger, or v is NaN.
inline bool takes(float v, float best) { return (v > best) | (v != v); }

#if defined(__AVX2__)
// The even (Odd false) or odd lanes of the 16 floats a, b in order: a0 a2 a4 a6 b0 b2 b4 b6 (or a1 a3
// ...): a shuffle within each 128-bit half, then the 64-bit pairs reordered.
template <bool Odd>
inline __m256 lanes_s2(__m256 a, __m256 b) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, Odd ? 0xDD : 0x88)), 0xD8));
}
#endif

// Max pooling as two passes. PyTorch's window scan (see the top: take v when it
// is the first, or takes(v, best); rows outer, columns inner) gives the same
// winner when split: first each input row's winner over a window's columns
// (the first maximum, or the row's last NaN), then the winner over the rows'
// winners (the first row holding the maximum, or the last row holding a NaN).
// The column pass is shared by every window row that reads the input row, and
// the row pass runs over contiguous output columns, vectorised.
struct RowScan {
    const PoolGeom& g;
    float* val = nullptr;      // (h, ow) the column-pass winner's value, -inf when none
    int32_t* col = nullptr;    // (h, ow) its input column, -1 when the window has no column inside
    float* best = nullptr;     // (ow) scratch for the row pass
    int32_t* arg = nullptr;    // (ow)
    int s_lo_in = 0, s_hi_in = 0;  // output columns whose window columns are all inside

    explicit RowScan(const PoolGeom& geom) : g(geom) {
        const int64_t hw = (int64_t)g.h * g.ow;
        float* a = salient::thread_workspace(hw + g.ow, 0);
        float* b = salient::thread_workspace(hw + g.ow, 1);
        if (!a || !b) return;
        val = a;
        best = a + hw;
        col = reinterpret_cast<int32_t*>(b);
        arg = col + hw;
        s_lo_in = std::min(g.ow, (g.pl + g.sw - 1) / g.sw);
        const int64_t last = (int64_t)g.w - 1 + g.pl - (int64_t)(g.kw - 1) * g.dw;  // q*sw <= last
        s_hi_in = last < 0 ? 0 : (int)std::min<int64_t>(last / g.sw + 1, g.ow);
        s_hi_in = std::max(s_hi_in, s_lo_in);
    }

    bool ok() const { return val != nullptr; }

    // Cols: also record each winner's input column (the backward needs it, the forward not)
    template <bool Cols>
    void scan_rows(const float* xp) {
        for (int ih = 0; ih < g.h; ih++) {
            const float* xr = xp + (int64_t)ih * g.w;
            float* v = val + (int64_t)ih * g.ow;
            int32_t* cl = col + (int64_t)ih * g.ow;
            if (g.sw == 1) interior<1, Cols>(xr, v, cl, s_lo_in);
            else if (g.sw == 2) interior<2, Cols>(xr, v, cl, interior_s2<Cols>(xr, v, cl));
            else interior<0, Cols>(xr, v, cl, s_lo_in);
            for (int q = 0; q < g.ow; q++) {
                if (q == s_lo_in) q = s_hi_in;
                if (q >= g.ow) break;
                const int iw0 = q * g.sw - g.pl;
                float b = -std::numeric_limits<float>::infinity();
                int32_t at = -1;
                for (int s = 0; s < g.kw; s++) {
                    const int iw = iw0 + s * g.dw;
                    if (iw < 0 || iw >= g.w) continue;
                    const float x = xr[iw];
                    const bool take = (at < 0) | takes(x, b);  // selects, not a branch on the data
                    b = take ? x : b;
                    at = take ? iw : at;
                }
                v[q] = b;
                if (Cols) cl[q] = at;
            }
        }
    }

    // Output columns [lo, s_hi_in), whose windows lie inside the row: one window column at
    // a time across all of them, vectorised (SW: the stride when 1 or 2, else 0 = g.sw).
    template <int SW, bool Cols>
    void interior(const float* xr, float* v, int32_t* cl, int lo) const {
        const int sw = SW ? SW : g.sw, hi = s_hi_in, pl = g.pl;
#pragma omp simd
        for (int q = lo; q < hi; q++) {
            v[q] = xr[q * sw - pl];
            if (Cols) cl[q] = q * sw - pl;
        }
        for (int s = 1; s < g.kw; s++) {
            const int off = s * g.dw - pl;
#pragma omp simd
            for (int q = lo; q < hi; q++) {
                const float x = xr[q * sw + off], b = v[q];
                const bool take = takes(x, b);
                v[q] = take ? x : b;
                if (Cols) cl[q] = take ? q * sw + off : cl[q];
            }
        }
    }

    // Stride 2 (ResNet's stem pool): 8 output columns from 16 consecutive inputs, the
    // even ones picked out with two shuffles, the window columns in order with the
    // same take rule. The last 8 columns overlap the previous 8 (the same values
    // written twice), so no scalar tail is left; the 16th input, never needed, is not
    // read. Returns the first output column left to interior<2> (all when fewer than 8).
    template <bool Cols>
    int interior_s2(const float* xr, float* v, int32_t* cl) const {
        const int lo = s_lo_in, hi = s_hi_in;
#if defined(__AVX2__)
        if (hi - lo < 8) return lo;
        const __m256i lanes = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
        const __m256i first7 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, -1, 0);
        for (int q = lo;; q += 8) {
            q = std::min(q, hi - 8);
            __m256 best = _mm256_setzero_ps();
            __m256i at = _mm256_setzero_si256();
            for (int s = 0; s < g.kw; s++) {
                const int off = 2 * q + s * g.dw - g.pl;
                const __m256 x = lanes_s2<false>(_mm256_loadu_ps(xr + off), _mm256_maskload_ps(xr + off + 8, first7));
                const __m256i ix = _mm256_add_epi32(lanes, _mm256_set1_epi32(off));
                if (s == 0) {
                    best = x;
                    at = ix;
                    continue;
                }
                const __m256 take = _mm256_or_ps(_mm256_cmp_ps(x, best, _CMP_GT_OQ), _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
                best = _mm256_blendv_ps(best, x, take);
                if (Cols)
                    at = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(at), _mm256_castsi256_ps(ix), take));
            }
            _mm256_storeu_ps(v + q, best);
            if (Cols) _mm256_storeu_si256((__m256i*)(cl + q), at);
            if (q + 8 >= hi) return hi;
        }
#else
        return lo;
#endif
    }
};

// Runs body(scan, plane) over the n*c planes, in parallel when there is enough work.
template <class Body>
int for_each_plane(const char* fn, const PoolGeom& g, int64_t planes, Body body) {
    int err = 0;
#pragma omp parallel if (planes * g.oh * g.ow * g.kh * g.kw > 32768)
    {
        RowScan rs(g);
        if (!rs.ok()) {
#pragma omp atomic write
            err = 1;
        }
#pragma omp for schedule(static)
        for (int64_t pl = 0; pl < planes; pl++)
            if (rs.ok()) body(rs, pl);
    }
    if (err) return salient::fail(SALIENT_ENOMEM, "%s: out of memory for the row scan", fn);
    return SALIENT_OK;
}

// Number of positions t in [0, k) with lo <= start + t*d < hi.
inline int count_in(int start, int k, int d, int lo, int hi) {
    int cnt = 0;
    for (int t = 0; t < k; t++) {
        int i = start + t * d;
        cnt += (i >= lo && i < hi);
    }
    return cnt;
}

inline int avg_divisor(const PoolGeom& g, int p, int q, int include_pad) {
    int h0 = p * g.sh - g.pt, w0 = q * g.sw - g.pl;
    if (include_pad)
        return count_in(h0, g.kh, g.dh, -g.pt, g.h + g.pb) * count_in(w0, g.kw, g.dw, -g.pl, g.w + g.pr);
    return count_in(h0, g.kh, g.dh, 0, g.h) * count_in(w0, g.kw, g.dw, 0, g.w);
}

#if SALIENT_HAVE_AVX512
// 3x3 windows of stride 2 (ResNet's and DenseNet's stem pool) with AVX-512, forward: per output row,
// each of its three input rows' column winners for 16 outputs at once (the window columns picked
// out of 32 consecutive inputs by two-source permutes), then the winner over the rows, read from
// the row where it lies, the lanes outside it -inf (masked loads; a copy of each row with its pads
// cost a third of the time: 64 planes of 112x112 at batch 1, 2 threads, in cache, 92-102 -> 74-79 us).
// A pad position holds -inf, which never replaces a running best
// (-inf > best is false) and is replaced by anything larger, so the values are RowScan's: the
// same scan order (columns, then rows) and take rule, and the winner's bits are an input's.
// The last input row's winners are kept for the next output row, which reads that row first.
bool s2k3_applies(const PoolGeom& g) {
    return salient::isa::avx512() && g.kh == 3 && g.kw == 3 && g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1 &&
           g.pt <= 1 && g.pl <= 1;
}

SALIENT_AVX512_BEGIN
// takes() on 16 lanes: best replaced by v where v is larger or NaN.
inline __m512 take512(__m512 v, __m512 best) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), best, v);
}

// Input columns [s, s + 16) of a row of w floats, -inf outside it: the lanes outside are masked off,
// never read.
inline __m512 row16(const float* xr, int s, int w, __m512 ninf) {
    if (s >= 0 && s + 16 <= w) return _mm512_loadu_ps(xr + s);
    const int lo = std::max(0, -s), hi = std::min(16, w - s);
    if (hi <= lo) return ninf;
    const __mmask16 m = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
    return _mm512_mask_loadu_ps(ninf, m, reinterpret_cast<const float*>(reinterpret_cast<uintptr_t>(xr) + (intptr_t)s * 4));
}

// The even lanes 0, 2, .., 30 of two vectors (the odd ones: + 1), and input column offsets 2 * lane.
inline __m512i even_lanes() { return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30); }

// Window columns k = 0, 1, 2 of the 16 stride-2 windows whose first column is input column s + 2 * lane
// (x[k], lane by lane; -inf outside the row of w floats).
inline void s2k3_window(const float* xr, int s, int w, __m512 ninf, __m512 x[3]) {
    const __m512i even = even_lanes(), odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512 l0 = row16(xr, s, w, ninf), l1 = row16(xr, s + 16, w, ninf);
    const __m512 m0 = row16(xr, s + 2, w, ninf), m1 = row16(xr, s + 18, w, ninf);
    x[0] = _mm512_permutex2var_ps(l0, even, l1);
    x[1] = _mm512_permutex2var_ps(l0, odd, l1);
    x[2] = _mm512_permutex2var_ps(m0, even, m1);
}

// Column winners of one input row (xr, or no row: all -inf) for outputs [0, ow) into cw, read from
// the row where it lies (input column i - pl is window column i, -inf outside the row).
inline void s2k3_columns(const float* xr, const PoolGeom& g, float* cw) {
    const int ow16 = (g.ow + 15) & ~15;
    const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    if (!xr) {
        for (int q = 0; q < ow16; q += 16) _mm512_storeu_ps(cw + q, ninf);
        return;
    }
    for (int q = 0; q < ow16; q += 16) {
        __m512 x[3];
        s2k3_window(xr, 2 * q - g.pl, g.w, ninf, x);
        _mm512_storeu_ps(cw + q, take512(x[2], take512(x[1], x[0])));
    }
}

void s2k3_plane(const float* xp, float* yp, const PoolGeom& g, float* scratch) {
    const int ow16 = (g.ow + 15) & ~15;
    float* cw[3] = {scratch, scratch + ow16, scratch + 2 * ow16};  // 3 * ow16
    auto row = [&](int ih) { return ih >= 0 && ih < g.h ? xp + (int64_t)ih * g.w : nullptr; };
    int have = -1000;  // the input row whose winners cw[2] holds
    for (int p = 0; p < g.oh; p++) {
        const int ih0 = 2 * p - g.pt;
        if (have == ih0) std::swap(cw[0], cw[2]);
        else s2k3_columns(row(ih0), g, cw[0]);
        s2k3_columns(row(ih0 + 1), g, cw[1]);
        s2k3_columns(row(ih0 + 2), g, cw[2]);
        have = ih0 + 2;
        float* yr = yp + (int64_t)p * g.ow;
        for (int q = 0; q < g.ow; q += 16) {
            const __mmask16 m = g.ow - q >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (g.ow - q)) - 1);
            __m512 best = _mm512_loadu_ps(cw[0] + q);
            for (int r = 1; r < 3; r++) best = take512(_mm512_loadu_ps(cw[r] + q), best);
            _mm512_mask_storeu_ps(yr + q, m, best);
        }
    }
}

// Column winners of one input row with their input columns (-1: a window with no column inside), for
// the backward: RowScan's rule, the first column inside taken whatever its value, then takes().
inline void s2k3_columns_at(const float* xr, const PoolGeom& g, float* cw, int32_t* ca) {
    const int ow16 = (g.ow + 15) & ~15;
    const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    if (!xr) {
        for (int q = 0; q < ow16; q += 16) {
            _mm512_storeu_ps(cw + q, ninf);
            _mm512_storeu_si512(ca + q, _mm512_set1_epi32(-1));
        }
        return;
    }
    const __m512i twice = even_lanes();
    for (int q = 0; q < ow16; q += 16) {
        const int s = 2 * q - g.pl;
        __m512 x[3];
        s2k3_window(xr, s, g.w, ninf, x);
        __m512 best = x[0];
        __m512i at = _mm512_set1_epi32(-1);
        __mmask16 have = 0;
        for (int k = 0; k < 3; k++) {
            const __m512i col = _mm512_add_epi32(twice, _mm512_set1_epi32(s + k));
            // columns inside the row: 0 <= col < w
            const __mmask16 in = _mm512_cmpge_epi32_mask(col, _mm512_setzero_si512()) &
                                 _mm512_cmplt_epi32_mask(col, _mm512_set1_epi32(g.w));
            const __mmask16 take = in & (~have | _mm512_cmp_ps_mask(x[k], best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(x[k], x[k], _CMP_UNORD_Q));
            best = _mm512_mask_blend_ps(take, best, x[k]);
            at = _mm512_mask_blend_epi32(take, at, col);
            have |= in;
        }
        _mm512_storeu_ps(cw + q, best);
        _mm512_storeu_si512(ca + q, at);
    }
}

// The backward of s2k3_plane: the same winners as RowScan's (columns, then rows: the first row
// inside, then takes()), and dy added at each window's winner in RowScan's order (output rows, then
// columns), so the same bits as the general path. Relu: only where the winner is > 0 or NaN (the
// gradient of relu then the pool: relu's output is the pool's input, its mask the winner's value).
void s2k3_plane_backward(const float* xp, const float* dyp, float* dxp, const PoolGeom& g, float* scratch, bool relu) {
    const int ow16 = (g.ow + 15) & ~15;
    float* cw[3] = {scratch, scratch + ow16, scratch + 2 * ow16};
    int32_t* ca[3];
    for (int r = 0; r < 3; r++) ca[r] = reinterpret_cast<int32_t*>(scratch + (3 + r) * ow16);
    float* best = scratch + 6 * ow16;
    int32_t* arg = reinterpret_cast<int32_t*>(scratch + 7 * ow16);
    std::memset(dxp, 0, sizeof(float) * (size_t)g.h * g.w);
    auto row = [&](int ih) { return ih >= 0 && ih < g.h ? xp + (int64_t)ih * g.w : nullptr; };
    int have = -1000;
    for (int p = 0; p < g.oh; p++) {
        const int ih0 = 2 * p - g.pt;
        if (have == ih0) {
            std::swap(cw[0], cw[2]);
            std::swap(ca[0], ca[2]);
        } else {
            s2k3_columns_at(row(ih0), g, cw[0], ca[0]);
        }
        s2k3_columns_at(row(ih0 + 1), g, cw[1], ca[1]);
        s2k3_columns_at(row(ih0 + 2), g, cw[2], ca[2]);
        have = ih0 + 2;
        int r_lo = 3, r_hi = 0;
        for (int r = 0; r < 3; r++)
            if (ih0 + r >= 0 && ih0 + r < g.h) {
                r_lo = std::min(r_lo, r);
                r_hi = r + 1;
            }
        if (r_lo >= r_hi) continue;
        for (int q = 0; q < ow16; q += 16) {
            __m512 b = _mm512_loadu_ps(cw[r_lo] + q);
            const __m512i c0 = _mm512_loadu_si512(ca[r_lo] + q);
            __m512i a = _mm512_mask_blend_epi32(_mm512_cmplt_epi32_mask(c0, _mm512_setzero_si512()),
                                                _mm512_add_epi32(c0, _mm512_set1_epi32((ih0 + r_lo) * g.w)),
                                                _mm512_set1_epi32(-1));
            for (int r = r_lo + 1; r < r_hi; r++) {
                const __m512 v = _mm512_loadu_ps(cw[r] + q);
                const __mmask16 take = _mm512_cmp_ps_mask(v, b, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
                b = _mm512_mask_blend_ps(take, b, v);
                a = _mm512_mask_blend_epi32(take, a,
                                            _mm512_add_epi32(_mm512_loadu_si512(ca[r] + q), _mm512_set1_epi32((ih0 + r) * g.w)));
            }
            _mm512_storeu_ps(best + q, b);
            _mm512_storeu_si512(arg + q, a);
        }
        const float* dyrow = dyp + (int64_t)p * g.ow;
        for (int q = 0; q < g.ow; q++)
            if (arg[q] >= 0 && (!relu || !(best[q] <= 0.f))) dxp[arg[q]] += dyrow[q];
    }
}
SALIENT_AVX512_END
#endif

}  // namespace

#if SALIENT_HAVE_AVX512
// Runs body(plane, scratch) over the planes with a per-thread scratch of the given floats, in
// parallel when there is enough work (the s2k3 paths).
template <class Body>
int s2k3_planes(const char* fn, const PoolGeom& g, int64_t planes, int64_t scratch, Body body) {
    int err = 0;
#pragma omp parallel if (planes * g.oh * g.ow * 9 > 32768)
    {
        float* t = salient::thread_workspace(scratch, 0);
        if (!t) {
#pragma omp atomic write
            err = 1;
        }
#pragma omp for schedule(static)
        for (int64_t pl = 0; pl < planes; pl++)
            if (t) body(pl, t);
    }
    if (err) return salient::fail(SALIENT_ENOMEM, "%s: out of memory for the row scan", fn);
    return SALIENT_OK;
}
#endif

#define POOL_GEOM PoolGeom g{n, c, h, wd, kh, kw, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dil_h, dil_w, oh, ow}

extern "C" int maxpool2d_forward_cpu(const float* x, float* y, int n, int c, int h, int wd, int kh, int kw,
                                     int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                     int pad_right, int dil_h, int dil_w, int oh, int ow) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    POOL_GEOM;
    if (int rc = check_pool(__func__, g)) return rc;
    // x: (n,c,h,w), y: (n,c,oh,ow)
#if SALIENT_HAVE_AVX512
    if (s2k3_applies(g))
        return s2k3_planes(__func__, g, (int64_t)n * c, 3 * (int64_t)((ow + 15) & ~15), [&](int64_t pl, float* t) {
            s2k3_plane(x + pl * (int64_t)h * wd, y + pl * (int64_t)oh * ow, g, t);
        });
#endif
    return for_each_plane(__func__, g, (int64_t)n * c, [&](RowScan& rs, int64_t pl) {
        const float* xp = x + pl * (int64_t)h * wd;
        float* yp = y + pl * (int64_t)oh * ow;
        rs.scan_rows<false>(xp);
        for (int p = 0; p < oh; p++) {
            float* yrow = yp + (int64_t)p * ow;
            int r_lo, r_hi;
            valid_rows(g, p, r_lo, r_hi);
            if (r_lo >= r_hi) {
                for (int q = 0; q < ow; q++) yrow[q] = -std::numeric_limits<float>::infinity();
                continue;
            }
            const int ih0 = p * g.sh - g.pt;
            const float* first = rs.val + (int64_t)(ih0 + r_lo * g.dh) * ow;
            for (int q = 0; q < ow; q++) yrow[q] = first[q];
            for (int r = r_lo + 1; r < r_hi; r++) {
                const float* hv = rs.val + (int64_t)(ih0 + r * g.dh) * ow;
#pragma omp simd
                for (int q = 0; q < ow; q++) {
                    const float v = hv[q], b = yrow[q];
                    yrow[q] = takes(v, b) ? v : b;
                }
            }
        }
    });
}

// relu != 0: the gradient of a Relu then this pool (relu's output is x), dx zero where x <= 0.
extern "C" int maxpool2d_backward_relu_cpu(const float* x, const float* dy, float* dx, int n, int c, int h, int wd,
                                           int kh, int kw, int stride_h, int stride_w, int pad_top, int pad_left,
                                           int pad_bottom, int pad_right, int dil_h, int dil_w, int oh, int ow, int relu) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(dx);
    POOL_GEOM;
    if (int rc = check_pool(__func__, g)) return rc;
    // x, dx: (n,c,h,w), dy: (n,c,oh,ow)
#if SALIENT_HAVE_AVX512
    if (s2k3_applies(g))  // 64 planes of 70x70 (ResNet-18's stem pool at 140^2), batch 64, 2 threads: 17 -> 11 ms
        return s2k3_planes(__func__, g, (int64_t)n * c, 8 * (int64_t)((ow + 15) & ~15), [&](int64_t pl, float* t) {
            s2k3_plane_backward(x + pl * (int64_t)h * wd, dy + pl * (int64_t)oh * ow, dx + pl * (int64_t)h * wd, g, t,
                                relu != 0);
        });
#endif
    return for_each_plane(__func__, g, (int64_t)n * c, [&](RowScan& rs, int64_t pl) {
        const float* xp = x + pl * (int64_t)h * wd;
        const float* dyp = dy + pl * (int64_t)oh * ow;
        float* dxp = dx + pl * (int64_t)h * wd;
        std::memset(dxp, 0, sizeof(float) * (size_t)h * wd);
        rs.scan_rows<true>(xp);
        for (int p = 0; p < oh; p++) {
            int r_lo, r_hi;
            valid_rows(g, p, r_lo, r_hi);
            if (r_lo >= r_hi) continue;
            const int ih0 = p * g.sh - g.pt;
            float* best = rs.best;
            int32_t* arg = rs.arg;
            const int64_t o0 = (int64_t)(ih0 + r_lo * g.dh) * ow;
            const int32_t base0 = (ih0 + r_lo * g.dh) * wd;
#pragma omp simd
            for (int q = 0; q < ow; q++) {
                best[q] = rs.val[o0 + q];
                arg[q] = rs.col[o0 + q] < 0 ? -1 : base0 + rs.col[o0 + q];
            }
            for (int r = r_lo + 1; r < r_hi; r++) {
                const int ih = ih0 + r * g.dh;
                const float* hv = rs.val + (int64_t)ih * ow;
                const int32_t* hc = rs.col + (int64_t)ih * ow;
                const int32_t base = ih * wd;
#pragma omp simd
                for (int q = 0; q < ow; q++) {
                    const float v = hv[q], b = best[q];
                    const bool take = takes(v, b);
                    best[q] = take ? v : b;
                    arg[q] = take ? base + hc[q] : arg[q];
                }
            }
            const float* dyrow = dyp + (int64_t)p * ow;
            for (int q = 0; q < ow; q++)
                if (arg[q] >= 0 && (!relu || !(best[q] <= 0.f))) dxp[arg[q]] += dyrow[q];
        }
    });
}

extern "C" int maxpool2d_backward_cpu(const float* x, const float* dy, float* dx, int n, int c, int h, int wd,
                                      int kh, int kw, int stride_h, int stride_w, int pad_top, int pad_left,
                                      int pad_bottom, int pad_right, int dil_h, int dil_w, int oh, int ow) {
    return maxpool2d_backward_relu_cpu(x, dy, dx, n, c, h, wd, kh, kw, stride_h, stride_w, pad_top, pad_left, pad_bottom,
                                       pad_right, dil_h, dil_w, oh, ow, 0);
}

// Whether an average pool is global: one output per plane, its window the whole unpadded plane.
inline bool global_avg(const PoolGeom& g) {
    return g.oh == 1 && g.ow == 1 && g.kh == g.h && g.kw == g.w && g.dh == 1 && g.dw == 1 && g.pt == 0 &&
           g.pl == 0 && g.pb == 0 && g.pr == 0;
}

// Global average pool: each output the general path's sum (0, then the plane's elements in
// row-major order, one chain) over the area, eight planes at a time so that eight chains run side
// by side instead of one chain's add latency per element (MobileNetV2's 32x1280 planes of 7x7:
// 7.0 -> 0.6 ms at 2 threads). x: (planes, hw), y: (planes)
void global_avg_forward(const float* x, float* y, int64_t planes, int64_t hw) {
    const float area = (float)hw;
#pragma omp parallel for schedule(static) if (planes * hw > 32768)
    for (int64_t b = 0; b < (planes + 7) / 8; b++) {
        const int64_t p0 = b * 8, m = std::min<int64_t>(8, planes - p0);
        const float* xp = x + p0 * hw;
        float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
        if (m == 8) {
            for (int64_t t = 0; t < hw; t++)
                for (int j = 0; j < 8; j++) acc[j] += xp[j * hw + t];
        } else {
            for (int64_t t = 0; t < hw; t++)
                for (int j = 0; j < m; j++) acc[j] += xp[j * hw + t];
        }
        for (int j = 0; j < m; j++) y[p0 + j] = acc[j] / area;
    }
}

// A 2x2 window of stride 2 along the row (DenseNet's transitions): outputs [i0, i1) of one row from
// input rows x0 and x0 + wd (x0 at the window's first column for output 0), as the general loop sums
// them: 0, then the taps in row-major order, then / 4; 8 outputs at a time from 16 consecutive inputs
// of each row, the even and odd columns picked out by two shuffles, where the general loop made four
// strided passes over the row. Measured against it (2 threads, AVX-512 machine): DenseNet-121's three
// transitions at batch 1, 256 channels on 56x56 137 -> 58 us, 512 on 28x28 110 -> 43, 1024 on 14x14
// 92 -> 37; at batch 32 7.9 -> 4.4, 4.8 -> 1.6 and 3.2 -> 1.2 ms.
namespace {
inline void avg_s2k2_row(const float* x0, int64_t wd, float* yr, int i0, int i1) {
    const float* x1 = x0 + wd;
    int q = i0;
#if defined(__AVX2__)
    const __m256 zero = _mm256_setzero_ps(), four = _mm256_set1_ps(4.f);
    for (; q + 8 <= i1; q += 8) {
        const __m256 a0 = _mm256_loadu_ps(x0 + 2 * (int64_t)q), b0 = _mm256_loadu_ps(x0 + 2 * (int64_t)q + 8);
        const __m256 a1 = _mm256_loadu_ps(x1 + 2 * (int64_t)q), b1 = _mm256_loadu_ps(x1 + 2 * (int64_t)q + 8);
        const __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(zero, lanes_s2<false>(a0, b0)),
                                                                     lanes_s2<true>(a0, b0)),
                                                       lanes_s2<false>(a1, b1)),
                                         lanes_s2<true>(a1, b1));
        _mm256_storeu_ps(yr + q, _mm256_div_ps(sum, four));
    }
#endif
    for (; q < i1; q++) {
        const int64_t c = 2 * (int64_t)q;
        yr[q] = ((((0.f + x0[c]) + x0[c + 1]) + x1[c]) + x1[c + 1]) / 4.f;
    }
}
}  // namespace

extern "C" int avgpool2d_forward_cpu(const float* x, float* y, int n, int c, int h, int wd, int kh, int kw,
                                     int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                     int pad_right, int dil_h, int dil_w, int oh, int ow, int count_include_pad) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    POOL_GEOM;
    if (int rc = check_pool(__func__, g)) return rc;
    // x: (n,c,h,w), y: (n,c,oh,ow)
    const int64_t planes = (int64_t)n * c;
    if (global_avg(g)) {
        global_avg_forward(x, y, planes, (int64_t)h * wd);
        return SALIENT_OK;
    }
    // output columns [q_lo, q_hi) have their whole window inside the input's columns
    int q_lo = 0, q_hi = 0;
    while (q_lo < ow && q_lo * stride_w - pad_left < 0) q_lo++;
    for (int q = q_lo; q < ow && q * stride_w - pad_left + (kw - 1) * dil_w < wd; q++) q_hi = q + 1;
    if (q_hi < q_lo) q_hi = q_lo;
    const bool s2k2 = kh == 2 && kw == 2 && stride_w == 2 && dil_h == 1 && dil_w == 1;
#pragma omp parallel for schedule(static) if (planes * oh * ow * kh * kw > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float* xp = x + pl * (int64_t)h * wd;
        float* yp = y + pl * (int64_t)oh * ow;
        for (int p = 0; p < oh; p++) {
            const int ih0 = p * stride_h - pad_top;
            float* yr = yp + (int64_t)p * ow;
            // the outputs of columns [i0, i1) whose window lies inside the input: the same sums (0,
            // then each tap in row-major order), vectorised across the row; divisor kh * kw in
            // either padding mode
            int i0 = 0, i1 = 0;
            if (ih0 >= 0 && ih0 + (kh - 1) * dil_h < h) i0 = q_lo, i1 = q_hi;
            if (s2k2 && i0 < i1) {
                avg_s2k2_row(xp + (int64_t)ih0 * wd - pad_left, wd, yr, i0, i1);
            } else {
                for (int q = i0; q < i1; q++) yr[q] = 0.f;
                for (int r = 0; r < kh && i0 < i1; r++)
                    for (int s = 0; s < kw; s++) {
                        const float* xr = xp + (int64_t)(ih0 + r * dil_h) * wd + s * dil_w - pad_left;
#pragma omp simd
                        for (int q = i0; q < i1; q++) yr[q] += xr[(int64_t)q * stride_w];
                    }
                const float area = (float)(kh * kw);
#pragma omp simd
                for (int q = i0; q < i1; q++) yr[q] = yr[q] / area;
            }
            // the others, whose window the pads cut, tap by tap
            for (int q = 0; q < ow; q++) {
                if (q == i0 && i1 > i0) q = i1;
                if (q >= ow) break;
                float sum = 0.f;
                for (int r = 0; r < kh; r++) {
                    int ih = ih0 + r * dil_h;
                    if (ih < 0 || ih >= h) continue;
                    for (int s = 0; s < kw; s++) {
                        int iw = q * stride_w - pad_left + s * dil_w;
                        if (iw >= 0 && iw < wd) sum += xp[(int64_t)ih * wd + iw];
                    }
                }
                int cnt = avg_divisor(g, p, q, count_include_pad);
                yr[q] = cnt > 0 ? sum / (float)cnt : 0.f;
            }
        }
    }
    return SALIENT_OK;
}

extern "C" int avgpool2d_backward_cpu(const float* dy, float* dx, int n, int c, int h, int wd, int kh, int kw,
                                      int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                      int pad_right, int dil_h, int dil_w, int oh, int ow, int count_include_pad) {
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(dx);
    POOL_GEOM;
    if (int rc = check_pool(__func__, g)) return rc;
    // dy: (n,c,oh,ow), dx: (n,c,h,w)
    const int64_t planes = (int64_t)n * c;
    if (global_avg(g)) {  // every element 0 + dy / area, as the general loop adds it
        const int64_t hw = (int64_t)h * wd;
        const float area = (float)hw;
#pragma omp parallel for schedule(static) if (planes * hw > 32768)
        for (int64_t pl = 0; pl < planes; pl++) {
            const float v = 0.f + dy[pl] / area;
            float* dxp = dx + pl * hw;
            for (int64_t t = 0; t < hw; t++) dxp[t] = v;
        }
        return SALIENT_OK;
    }
#pragma omp parallel for schedule(static) if (planes * oh * ow * kh * kw > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float* dyp = dy + pl * (int64_t)oh * ow;
        float* dxp = dx + pl * (int64_t)h * wd;
        std::memset(dxp, 0, sizeof(float) * (size_t)h * wd);
        for (int p = 0; p < oh; p++)
            for (int q = 0; q < ow; q++) {
                int cnt = avg_divisor(g, p, q, count_include_pad);
                if (cnt == 0) continue;
                float v = dyp[(int64_t)p * ow + q] / (float)cnt;
                for (int r = 0; r < kh; r++) {
                    int ih = p * stride_h - pad_top + r * dil_h;
                    if (ih < 0 || ih >= h) continue;
                    for (int s = 0; s < kw; s++) {
                        int iw = q * stride_w - pad_left + s * dil_w;
                        if (iw >= 0 && iw < wd) dxp[(int64_t)ih * wd + iw] += v;
                    }
                }
            }
    }
    return SALIENT_OK;
}
