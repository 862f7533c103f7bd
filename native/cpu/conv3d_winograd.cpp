// 3-D convolutions whose in-plane kernel is 3x3 with stride 1 and dilation 1 (any depth kernel,
// depth stride, depth dilation and pads) by Winograd's minimal filtering on every depth tap
// (Lavin & Gray 2016, as conv2d_winograd.cpp does in 2-D), F(2x2, 3x3) or F(4x4, 3x3):
//
//   y[z] = sum_t conv2d_3x3(W[:, :, t], x[z*sd - pf + t*dd])
//        = A^T [ sum_t sum_c U_t[c] . V[c, z*sd - pf + t*dd] ] A   per m x m output tile,
//
// with U_t = G W_t G^T the transformed filters of depth tap t and V[., iz] = B^T d B the
// transformed (m+2)x(m+2) input tiles of input slice iz. The depth taps are more input channels of
// the same (m+2)^2 GEMMs: M[xi] (k x tiles) = sum_t U_t[xi] (k x c) V_{iz(t)}[xi] (c x tiles), so
// an output slice takes one GEMM with K = kd * c per transformed position, and each input slice is
// transformed once and reused by the kd output slices that read it.
//   - F(2x2, 3x3): 16 multiplies per 4 outputs and tap instead of 36 (2.25x fewer); the
//     transforms' coefficients are 0, +-1 and +-1/2.
//   - F(4x4, 3x3), where a plane has two panels of its tiles: 36 per 16 (4x fewer), with the
//     points 0, 1, -1, 2, -1/2 (winograd_f43.h), the filters transformed in double. Its
//     error is about 4x F(2x2)'s: against a double reference, 16 to 64 channels, unit-variance
//     outputs, rms 0.9 to 1.6e-6 relative (F(2x2): 2.2 to 4.1e-7), largest 4.4e-6.
//
// The data gradient of such a conv with depth stride 1 is a conv of the same kind:
// dx = conv(dy, W~), W~[c, k, t, r, s] = W[k, c, kd-1-t, 2-r, 2-s], in-plane pads 2 - pad,
// depth offset (kd-1)*dd - pf (negative is fine: slices outside dy are zeros).
//
// Work items are (image, block of output slices, block of tile rows); their shapes are
// functions of one image's geometry only and each output is summed in one fixed order (taps,
// then channels), so an image's result is the same bits at any batch size and thread count;
// threads only take items. An item keeps kd transformed input slices (V), the products of one
// output slice (M) and the row buffers in its thread's workspace.
//
// With AVX-512 the GEMMs run kernel512: one zmm holds a panel's 16 tiles, 8 rows of U by two
// panels per call, each output the same chain of fused multiply-adds as the AVX2 kernel's, so
// the bits do not depend on the instruction set (the packing of U follows the kernel's rows).
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <omp.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include "common.h"
#include "winograd_f23.h"
#include "winograd_f43.h"
#include "conv2d_epilogue.h"
#include "conv3d.h"
#include "fma512.h"
#include "isa.h"
#include "workspace.h"

namespace salient {
namespace conv3 {

namespace {

using conv::Epilogue;
using conv::apply_epilogue;

constexpr int kNR = 16;     // tiles per packed panel (the kernel's columns)
static_assert(kNR == salient::winograd::kWinogradPanel, "the shared input transform packs 16 tiles per panel");
constexpr int kMaxSlices = 8;  // output slices per work item, at most
constexpr int kMR512 = 8;      // rows of U per packed block for the AVX-512 kernel

// Distance between transformed planes: rounded to a cache line, off multiples of 4 KiB.
inline int64_t spaced(int64_t n) {
    n = (n + 15) / 16 * 16;
    return n % 1024 == 0 ? n + 16 : n;
}

struct Shape {
    int cin, din, hin, win;     // input volume (per image)
    int cout, dout, hout, wout; // output volume
    int pt, pl;                 // in-plane offset of output (0, 0)'s window
    int th, tw;                 // tiles per output plane
    int kd, sd, dd, pf;         // depth taps: output slice z, tap t reads input slice z*sd - pf + t*dd
    int mr;                     // rows of U per packed block (4 or 6; kMR512 with AVX-512)
    int m = 2;                  // outputs per tile side: F(2x2, 3x3) or F(4x4, 3x3)
    int nx = 16;                // transformed values per tile, (m + 2)^2
};

inline int64_t u_plane(const Shape& S) { return spaced((int64_t)(S.cout + S.mr - 1) / S.mr * S.mr * S.cin); }

// U[(t*16 + xi) * su + ((o / mr) * cin + i) * mr + o % mr] = (G g G^T)[xi] of the 3x3 filter
// g = filt(o, i, t, r, s), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]; U comes zeroed.
template <class Filter>
void transform_filters(const Shape& S, Filter filt, float* U, int nt) {
    const int64_t items = (int64_t)S.kd * S.cout * S.cin, su = u_plane(S);
#pragma omp parallel for schedule(static) num_threads(nt) if (items > 4096)
    for (int64_t it = 0; it < items; it++) {
        const int i = (int)(it % S.cin), o = (int)((it / S.cin) % S.cout), t = (int)(it / ((int64_t)S.cin * S.cout));
        float g[3][3];
        for (int r = 0; r < 3; r++)
            for (int s = 0; s < 3; s++) g[r][s] = filt(o, i, t, r, s);
        const int64_t at = ((int64_t)(o / S.mr) * S.cin + i) * S.mr + o % S.mr;
        if (S.m == 4) {  // winograd_f43.h, in double
            salient::winograd::filter43(g, U + (int64_t)t * 36 * su + at, su);
            continue;
        }
        float q[4][3];  // G g
        for (int s = 0; s < 3; s++) {
            q[0][s] = g[0][s];
            q[1][s] = 0.5f * (g[0][s] + g[1][s] + g[2][s]);
            q[2][s] = 0.5f * (g[0][s] - g[1][s] + g[2][s]);
            q[3][s] = g[2][s];
        }
        for (int a = 0; a < 4; a++) {  // (G g) G^T
            const float u[4] = {q[a][0], 0.5f * (q[a][0] + q[a][1] + q[a][2]), 0.5f * (q[a][0] - q[a][1] + q[a][2]),
                                q[a][2]};
            for (int b = 0; b < 4; b++) U[((int64_t)t * 16 + a * 4 + b) * su + at] = u[b];
        }
    }
}

// Input rows [y0, y1) of a plane (the next channel's, another plane far off) on their way.
inline void prefetch_rows(const float* plane, int y0, int y1, int win) {
    const float* p = plane + (int64_t)y0 * win;
    for (int64_t f = 0; f < (int64_t)(y1 - y0) * win; f += 16) __builtin_prefetch(p + f, 0, 3);
}

struct Rows {
    float* p[6];
    float* plane;  // the staged input rows of one item's tile rows (transform_input)
    int width;     // 2 * tw + 2; F(4x4, 3x3): 4 * ls
    int ls;        // F(4x4, 3x3): floats between the phases of a staged row, >= tw + 1
};

// (B^T d B)[xi] of input slice iz, channel i, and item tile j (tile rows [ty0, ty1), j from 0)
// goes to V[xi * sv + (j / kNR) * cin * kNR + i * kNR + j % kNR]; the last panel's unused lanes
// are zeroed. B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. x: one image (cin, din, hin, win).
void transform_input(const float* x, const Shape& S, int iz, float* V, int64_t sv, int ty0, int ty1, Rows& R) {
    const int64_t panel = (int64_t)S.cin * kNR, plane = (int64_t)S.hin * S.win, cstride = (int64_t)S.din * plane;
    const int W = R.width, tw = S.tw;
    const int c_lo = std::min(W, S.pl), c_hi = std::max(c_lo, std::min(W, S.pl + S.win));
    const int64_t tiles = (int64_t)(ty1 - ty0) * tw;
    const int rows = 2 * (ty1 - ty0) + 2;  // padded input rows 2*ty0 - pt .. 2*ty1 + 1 - pt
    const int y0 = std::max(0, 2 * ty0 - S.pt), y1 = std::min(S.hin, 2 * ty0 - S.pt + rows);
    for (int i = 0; i < S.cin; i++) {
        const float* xp = x + (int64_t)i * cstride + (int64_t)iz * plane;
        if (i + 1 < S.cin) prefetch_rows(xp + cstride, y0, y1, S.win);
        for (int a = 0; a < rows; a++) {  // each input row staged once, zero-padded
            float* row = R.plane + (int64_t)a * W;
            const int yy = 2 * ty0 - S.pt + a;
            if (yy < 0 || yy >= S.hin) {
                std::memset(row, 0, sizeof(float) * W);
                continue;
            }
            std::memset(row, 0, sizeof(float) * c_lo);
            std::memcpy(row + c_lo, xp + (int64_t)yy * S.win, sizeof(float) * (c_hi - c_lo));
            std::memset(row + c_hi, 0, sizeof(float) * (W - c_hi));
        }
        for (int ty = ty0; ty < ty1; ty++) {
            // B^T d down the columns: r0 = d0 - d2, r1 = d1 + d2, r2 = d2 - d1, r3 = d1 - d3
            const float* d0r = R.plane + (int64_t)(2 * (ty - ty0)) * W;
            const float *d1r = d0r + W, *d2r = d1r + W, *d3r = d2r + W;
            salient::winograd::columns(d0r, d1r, d2r, d3r, R.p, W);
            salient::winograd::rows(R.p, V, (int64_t)(ty - ty0) * tw, tw, panel, i, sv);
        }
        if (tiles % kNR) {
            const int lane = (int)(tiles % kNR);
#if defined(__AVX2__) && defined(__FMA__)
            // masked stores: the compiler makes a memset of unknown length a `rep stos`, whose
            // start-up costs more than the few floats it writes
            float* o = V + (tiles / kNR) * panel + (int64_t)i * kNR;
            const __m256i at = _mm256_set1_epi32(lane - 1), z = _mm256_setzero_si256();
            const __m256i m0 = _mm256_cmpgt_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), at);
            const __m256i m1 = _mm256_cmpgt_epi32(_mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15), at);
            for (int xi = 0; xi < 16; xi++) {
                _mm256_maskstore_ps(o + xi * sv, m0, _mm256_castsi256_ps(z));
                _mm256_maskstore_ps(o + xi * sv + 8, m1, _mm256_castsi256_ps(z));
            }
#else
            float* o = V + (tiles / kNR) * panel + (int64_t)i * kNR + lane;
            for (int xi = 0; xi < 16; xi++) std::memset(o + xi * sv, 0, sizeof(float) * (kNR - lane));
#endif
        }
    }
}

// y[o, z, m ty + i, m tx + j] = bias[o] + (A^T m A)[i][j] for the tile rows [ty0, ty1) of output
// slice z, then the epilogue. M: (nx, cout, ld), planes sm apart. F(2x2, 3x3):
// A^T = [1 1 1 0; 0 1 -1 -1]; F(4x4, 3x3): winograd_f43.h.
void transform_output(const float* M, int64_t ld, int64_t sm, int z, int ty0, int ty1, const float* bias, float* y,
                      const Shape& S, Rows& R, const Epilogue& e) {
    const int tw = S.tw;
    const int64_t plane = (int64_t)S.hout * S.wout, cstride = (int64_t)S.dout * plane;
    const int o0 = S.m * ty0, o1 = std::min(S.hout, S.m * ty1);
    for (int o = 0; o < S.cout; o++) {
        const float* mp = M + (int64_t)o * ld;
        float* yp = y + (int64_t)o * cstride + (int64_t)z * plane;
        if (o + 1 < S.cout) {  // the next channel's output rows, so that its stores do not wait on memory
                               // (for writing: __builtin_prefetch's write hint fetched them for reading
                               // without -mprfchw; Conv3dBench l1 and l3 within noise either way)
            float* ny = yp + cstride + (int64_t)o0 * S.wout;
            const float* nz = e.z ? e.z + (ny - e.base) : nullptr;  // and its residual rows
            for (int64_t f = 0; f < (int64_t)(o1 - o0) * S.wout; f += 16) {
                prefetch_for_write(ny + f);
                if (nz) __builtin_prefetch(nz + f, 0, 3);
            }
        }
        const float bv = bias ? bias[o] : 0.f;
        for (int ty = ty0; ty < ty1; ty++) {
            const float* m = mp + (int64_t)(ty - ty0) * tw;
            if (S.m == 4) {
                salient::winograd::outputs43(m, sm, tw, R.p);
                for (int r = 0; r < 4 && 4 * ty + r < S.hout; r++) {
                    float* yr = yp + (int64_t)(4 * ty + r) * S.wout;
                    const float* q = R.p[r];
#pragma omp simd
                    for (int c = 0; c < S.wout; c++) yr[c] = bv + q[c];
                    apply_epilogue(e, yr, S.wout);
                }
                continue;
            }
            for (int a = 0; a < 4; a++) {
                const float* m0 = m + (a * 4 + 0) * sm;
                const float* m1 = m + (a * 4 + 1) * sm;
                const float* m2 = m + (a * 4 + 2) * sm;
                const float* m3 = m + (a * 4 + 3) * sm;
                float* t = R.p[a];
#pragma omp simd
                for (int tx = 0; tx < tw; tx++) {
                    t[2 * tx] = m0[tx] + m1[tx] + m2[tx];
                    t[2 * tx + 1] = m1[tx] - m2[tx] - m3[tx];
                }
            }
            const float *t0r = R.p[0], *t1r = R.p[1], *t2r = R.p[2], *t3r = R.p[3];
            const int oy = 2 * ty;
            float* y0 = yp + (int64_t)oy * S.wout;
#pragma omp simd
            for (int c = 0; c < S.wout; c++) y0[c] = bv + t0r[c] + t1r[c] + t2r[c];
            apply_epilogue(e, y0, S.wout);
            if (oy + 1 < S.hout) {
                float* y1 = y0 + S.wout;
#pragma omp simd
                for (int c = 0; c < S.wout; c++) y1[c] = bv + t1r[c] - t2r[c] - t3r[c];
                apply_epilogue(e, y1, S.wout);
            }
        }
    }
}

// F(4x4, 3x3): (B^T d B)[xi] of input slice iz, channel i, and item tile j (tile rows [ty0, ty1),
// j from 0) goes to V[xi * sv + i * ldv + j], xi < 36, each channel's tiles in order (the kernel
// reads a panel's row k at k * ldv); lanes [tiles, ldv rounded to the panels) are zeroed.
// Each padded input row is staged once, split into its phases (winograd_f43.h).
void transform_input4(const float* x, const Shape& S, int iz, float* V, int64_t sv, int64_t ldv, int ty0, int ty1,
                      Rows& R) {
    const int64_t plane = (int64_t)S.hin * S.win, cstride = (int64_t)S.din * plane;
    const int W = R.width, ls = R.ls, tw = S.tw;
    const int64_t tiles = (int64_t)(ty1 - ty0) * tw, tp = (tiles + kNR - 1) / kNR * kNR;
    const int rows = 4 * (ty1 - ty0) + 2;  // padded input rows 4*ty0 - pt .. 4*ty1 + 1 - pt
    const int y0 = std::max(0, 4 * ty0 - S.pt), y1 = std::min(S.hin, 4 * ty0 - S.pt + rows);
    for (int i = 0; i < S.cin; i++) {
        const float* xp = x + (int64_t)i * cstride + (int64_t)iz * plane;
        if (i + 1 < S.cin) prefetch_rows(xp + cstride, y0, y1, S.win);
        for (int a = 0; a < rows; a++) {
            float* ph = R.plane + (int64_t)a * W;
            const int yy = 4 * ty0 - S.pt + a;
            if (yy < 0 || yy >= S.hin) {
                std::memset(ph, 0, sizeof(float) * W);
                continue;
            }
            salient::winograd::phases43(xp + (int64_t)yy * S.win - S.pl, S.pl, S.win, ls, ph);
        }
        float* Vi = V + (int64_t)i * ldv;
        for (int ty = ty0; ty < ty1; ty++)
            salient::winograd::tiles43(R.plane + (int64_t)(4 * (ty - ty0)) * W, W, ls, tw, R.p,
                                       Vi + (int64_t)(ty - ty0) * tw, sv);
        if (tiles < tp)  // the last panel's unused lanes
            for (int xi = 0; xi < 36; xi++) {
                float* o = Vi + xi * sv;
#pragma omp simd
                for (int64_t j = tiles; j < tp; j++) o[j] = 0.f;
            }
    }
}

// C[r][0, kNR) = sum over the taps t of sum_k A_t[k * MR + r] * B_t[k * ldb + j], first `rows` rows
// (ldb: kNR for F(2x2)'s packed panels, the item's tile stride for F(4x4)'s channel rows).
template <int MR>
inline void kernel(int taps, const float* const* As, const float* const* Bs, int K, int64_t ldb, float* C, int64_t ldc,
                   int rows) {
#if defined(__AVX2__) && defined(__FMA__)
    __m256 acc[MR][2];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int t = 0; t < taps; t++) {
        const float* A = As[t];
        const float* B = Bs[t];
        for (int k = 0; k < K; k++, A += MR, B += ldb) {
            const __m256 b0 = _mm256_load_ps(B), b1 = _mm256_load_ps(B + 8);
#pragma GCC unroll 8
            for (int r = 0; r < MR; r++) {
                const __m256 a = _mm256_broadcast_ss(A + r);
                acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)  // unrolled with constant indices: the accumulators stay in registers
        if (r < rows) {
            _mm256_storeu_ps(C + r * ldc, acc[r][0]);
            _mm256_storeu_ps(C + r * ldc + 8, acc[r][1]);
        }
#else
    float acc[MR][kNR] = {};
    for (int t = 0; t < taps; t++) {
        const float* A = As[t];
        const float* B = Bs[t];
        for (int k = 0; k < K; k++, A += MR, B += ldb)
            for (int r = 0; r < MR; r++)
                for (int j = 0; j < kNR; j++) acc[r][j] += A[r] * B[j];
    }
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < kNR; j++) C[r * ldc + j] = acc[r][j];
#endif
}

#if SALIENT_HAVE_AVX512
SALIENT_AVX512_BEGIN
// kernel<MR> on AVX-512: one zmm covers a panel's kNR tiles, NP panels (ps floats apart in each
// B_t) at a time, C's second panel kNR columns after the first. Each output is kernel()'s chain
// (from zero, one fused multiply-add per tap and channel, taps outermost), so the bits are the
// same; only more rows and panels share each load.
template <int MR, int NP>
void kernel512(int taps, const float* const* As, const float* const* Bs, int K, int64_t ldb, int64_t ps, float* C,
               int64_t ldc, int rows) {
    __m512 acc[MR][NP];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
        for (int j = 0; j < NP; j++) acc[r][j] = _mm512_setzero_ps();
    for (int t = 0; t < taps; t++) fma_steps<MR, NP, MR>(K, As[t], Bs[t], ldb, ps, acc);
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)  // unrolled with constant indices: the accumulators stay in registers
        if (r < rows) {
#pragma GCC unroll 2
            for (int j = 0; j < NP; j++) _mm512_storeu_ps(C + r * ldc + j * kNR, acc[r][j]);
        }
}
SALIENT_AVX512_END

// multiply<MR> with kernel512: NP panels per call, the last one alone where the count is odd.
template <int MR, int NP>
void multiply512(int nx, int taps, const float* const* Ut, const float* const* Vt, int64_t su, int64_t sv, int64_t ldb,
                 int64_t ps, float* M, int64_t sm, int64_t ldp, int64_t panels, int cout, int cin) {
    const int blocks = (cout + MR - 1) / MR;
    const float* As[64];
    const float* Bs[64];
    for (int xi = 0; xi < nx; xi++) {
        float* C = M + xi * sm;
        // NP panels' taps stay in L1 while every block of output channels reads them
        for (int64_t p = 0; p < panels; p += NP) {
            for (int t = 0; t < taps; t++) Bs[t] = Vt[t] + xi * sv + p * ps;
            for (int bl = 0; bl < blocks; bl++) {
                for (int t = 0; t < taps; t++) As[t] = Ut[t] + xi * su + (int64_t)bl * cin * MR;
                float* Cb = C + (int64_t)bl * MR * ldp + p * kNR;
                const int rows = std::min(MR, cout - bl * MR);
                if (NP > 1 && p + NP <= panels)
                    kernel512<MR, NP>(taps, As, Bs, cin, ldb, ps, Cb, ldp, rows);
                else
                    kernel512<MR, 1>(taps, As, Bs, cin, ldb, ps, Cb, ldp, rows);
            }
        }
    }
}
#endif

// M[xi] (cout x ldp) = sum over the taps of U_t[xi] V_t[xi] for xi < nx, `panels` panels of kNR tiles.
template <int MR>
void multiply(int nx, int taps, const float* const* Ut, const float* const* Vt, int64_t su, int64_t sv, int64_t ldb,
              int64_t ps, float* M, int64_t sm, int64_t ldp, int64_t panels, int cout, int cin) {
    const int blocks = (cout + MR - 1) / MR;
    const float* As[64];
    const float* Bs[64];
    for (int xi = 0; xi < nx; xi++) {
        float* C = M + xi * sm;
        // a panel's taps stay in L1 while every block of output channels reads them
        for (int64_t p = 0; p < panels; p++) {
            for (int t = 0; t < taps; t++) Bs[t] = Vt[t] + xi * sv + p * ps;
            for (int bl = 0; bl < blocks; bl++) {
                for (int t = 0; t < taps; t++) As[t] = Ut[t] + xi * su + (int64_t)bl * cin * MR;
                kernel<MR>(taps, As, Bs, cin, ldb, C + (int64_t)bl * MR * ldp + p * kNR, ldp, std::min(MR, cout - bl * MR));
            }
        }
    }
}

// Tile rows per item: about kTiles tiles, the tile rows of a plane split evenly.
int tile_rows(const Shape& S) {
    // the item's transformed tiles (nx planes of cin per tap) stay within the cache
    const int target = std::max(32, std::min(256, 4096 * 16 / S.nx / std::max(1, S.cin)));
    const int want = std::max(1, target / std::max(1, S.tw));
    const int parts = (S.th + want - 1) / want;
    return (S.th + parts - 1) / parts;
}

// The driver: n images of S through the transformed filters U (kd * 16 planes, u_plane apart).
int run(const float* x, const float* U, const float* bias, float* y, int n, const Shape& S, int nt, const Epilogue& e,
        const char* fn) {
    const int rows = tile_rows(S), parts = (S.th + rows - 1) / rows;
    // up to kMaxSlices output slices per item (an input slice is transformed once per item that
    // reads it), while leaving at least 4 items per image for the threads
    const int kSlices = std::max(1, std::min(kMaxSlices, S.dout * parts / 4));
    const int zblocks = (S.dout + kSlices - 1) / kSlices;
    const int64_t items = (int64_t)n * zblocks * parts;
    const int64_t ldp = ((int64_t)rows * S.tw + kNR - 1) / kNR * kNR;
    const int64_t in_image = (int64_t)S.cin * S.din * S.hin * S.win, out_image = (int64_t)S.cout * S.dout * S.hout * S.wout;
    const int64_t su = u_plane(S), sv = spaced((int64_t)S.cin * ldp), sm = spaced((int64_t)S.cout * ldp);
    // B's rows: F(2x2) packs panels of kNR tiles (row k of panel p at p * cin * kNR + k * kNR);
    // F(4x4) keeps each channel's tiles in order (row k at k * ldp, panel p kNR floats on)
    const int64_t ldb = S.m == 4 ? ldp : kNR, ps = S.m == 4 ? kNR : (int64_t)S.cin * kNR;
    const int slots = S.kd;
    if (slots > 64) return fail(SALIENT_EINVAL, "%s: depth kernel of %d taps is beyond 64", fn, slots);
    int err = 0;
#pragma omp parallel num_threads((int)std::max<int64_t>(1, std::min<int64_t>(nt, items)))
    {
        // F(2x2): rows of 2 tw + 2 (4 row buffers, 2 rows + 2 staged); F(4x4): 4 phases of ls
        // floats per row (6 row buffers, 4 rows + 2 staged)
        const int ls = (S.tw + 1 + 15) / 16 * 16;
        const int width = S.m == 4 ? 4 * ls : 2 * std::max(S.tw, S.win) + 4;
        const int64_t extra = S.m == 4 ? (4 * (int64_t)rows + 8) * width : (2 * (int64_t)rows + 6) * width;
        float* V = thread_workspace((int64_t)slots * S.nx * sv + extra, 0);
        float* M = thread_workspace(S.nx * sm, 1);
        Rows R{};
        if (V) {
            float* b = V + (int64_t)slots * S.nx * sv;
            const int nb = S.m == 4 ? 6 : 4;
            for (int a = 0; a < nb; a++) R.p[a] = b + (int64_t)a * width;
            R.plane = b + (int64_t)nb * width;
            R.width = S.m == 4 ? width : 2 * S.tw + 2;
            R.ls = ls;
        }
        if (!V || !M) {
#pragma omp atomic write
            err = 1;
        }
        int key[64];
        const float* Ut[64];
        const float* Vt[64];
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            if (!V || !M) continue;
            const int part = (int)(it % parts), zb = (int)((it / parts) % zblocks);
            const int64_t nn = it / ((int64_t)parts * zblocks);
            const int ty0 = part * rows, ty1 = std::min(S.th, ty0 + rows);
            const int z0 = zb * kSlices, z1 = std::min(S.dout, z0 + kSlices);
            const int64_t panels = ((int64_t)(ty1 - ty0) * S.tw + kNR - 1) / kNR;
            const float* xi = x + nn * in_image;
            for (int s = 0; s < slots; s++) key[s] = INT32_MIN;
            for (int z = z0; z < z1; z++) {
                int taps = 0;
                for (int t = 0; t < S.kd; t++) {
                    const int iz = z * S.sd - S.pf + t * S.dd;
                    if (iz < 0 || iz >= S.din) continue;  // a zero slice adds nothing
                    int slot = -1;
                    for (int s = 0; s < slots; s++)
                        if (key[s] == iz) slot = s;
                    if (slot < 0) {  // a slot that no tap of this output slice reads
                        for (int s = 0; s < slots && slot < 0; s++) {
                            bool needed = false;
                            for (int u = 0; u < S.kd; u++) needed |= key[s] == z * S.sd - S.pf + u * S.dd;
                            if (!needed) slot = s;
                        }
                        key[slot] = iz;
                        if (S.m == 4)
                            transform_input4(xi, S, iz, V + (int64_t)slot * S.nx * sv, sv, ldp, ty0, ty1, R);
                        else
                            transform_input(xi, S, iz, V + (int64_t)slot * S.nx * sv, sv, ty0, ty1, R);
                    }
                    Ut[taps] = U + (int64_t)t * S.nx * su;
                    Vt[taps] = V + (int64_t)slot * S.nx * sv;
                    taps++;
                }
                if (taps == 0) {  // every tap in the depth padding: the output is the bias
                    std::memset(M, 0, sizeof(float) * S.nx * sm);
#if SALIENT_HAVE_AVX512
                } else if (S.mr == kMR512) {
                    multiply512<kMR512, 2>(S.nx, taps, Ut, Vt, su, sv, ldb, ps, M, sm, ldp, panels, S.cout, S.cin);
#endif
                } else if (S.mr == 4) {
                    multiply<4>(S.nx, taps, Ut, Vt, su, sv, ldb, ps, M, sm, ldp, panels, S.cout, S.cin);
                } else {
                    multiply<6>(S.nx, taps, Ut, Vt, su, sv, ldb, ps, M, sm, ldp, panels, S.cout, S.cin);
                }
                transform_output(M, ldp, sm, z, ty0, ty1, bias, y + nn * out_image, S, R, e);
            }
        }
    }
    if (err) return fail(SALIENT_ENOMEM, "%s: out of memory for the transformed tiles", fn);
    return SALIENT_OK;
}

float* alloc_u(const Shape& S) {
    const size_t bytes = (size_t)S.kd * S.nx * (size_t)u_plane(S) * sizeof(float);
    float* U = (float*)std::aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (U) std::memset(U, 0, bytes);
    return U;
}

// Rows of U per packed block: 4 (8 accumulators) measured faster than 6 on every R3D layer.
// With AVX-512, kMR512 rows by two panels (16 zmm accumulators) measured faster than 8 or 16
// rows by one panel and 4 rows by 4 panels on the R3D layers.
int rows_per_block(int) {
#if SALIENT_HAVE_AVX512
    if (isa::avx512()) return kMR512;
#endif
    return 4;
}

// Outputs per tile side for an output plane of oh x ow: F(4x4, 3x3) (2.25 multiplies per output
// and tap instead of 4) where the plane has two panels of its tiles or more. Measured on R3D's
// planes, batch 2, 2 threads: 56x56 (16 channels) 15.2 -> 12 ms, 28x28 (32) 7.3 -> 5.8 ms; 14x14
// (64), one panel of 4x4 tiles over 16x16 outputs, is even (3.5 ms either way) and stays F(2x2).
int tile_side(int oh, int ow) {
    return (int64_t)((oh + 3) / 4) * ((ow + 3) / 4) >= 2 * kNR ? 4 : 2;
}

Shape shape(int cin, int din, int hin, int win, int cout, int dout, int hout, int wout, int pt, int pl, int kd, int sd,
            int dd, int pf, int mr) {
    const int m = tile_side(hout, wout);
    return Shape{cin, din, hin, win, cout, dout, hout, wout, pt, pl, (hout + m - 1) / m, (wout + m - 1) / m,
                 kd, sd, dd, pf, mr, m, (m + 2) * (m + 2)};
}

}  // namespace

bool winograd_applies(const Vol3Geom& g, bool backward) {
    const bool plane = g.ker[1] == 3 && g.ker[2] == 3 && g.stride[1] == 1 && g.stride[2] == 1 && g.dil[1] == 1 &&
                       g.dil[2] == 1 && g.groups == 1;
    const bool pads = g.pad0[1] <= 2 && g.pad0[2] <= 2 && g.pad1[1] <= 2 && g.pad1[2] <= 2;
    if (!plane || !pads || g.c < 8 || g.k < 8 || g.ker[0] > 64) return false;
    if (backward && g.stride[0] != 1) return false;
    // enough tiles per plane to fill the panels
    return (int64_t)((g.out[1] + 1) / 2) * ((g.out[2] + 1) / 2) >= 8;
}

int winograd_forward(const float* x, const float* w, const float* bias, float* y, const Vol3Geom& g, int nt,
                     const Epilogue& e) {
    const Shape S = shape(g.c, g.in[0], g.in[1], g.in[2], g.k, g.out[0], g.out[1], g.out[2], g.pad0[1], g.pad0[2],
                          g.ker[0], g.stride[0], g.dil[0], g.pad0[0], rows_per_block(g.k));
    float* U = alloc_u(S);
    if (!U) return fail(SALIENT_ENOMEM, "conv3d_forward_cpu: out of memory for the transformed filters");
    const int kd = g.ker[0], c = g.c;
    transform_filters(S, [&](int o, int i, int t, int r, int s) { return w[((((int64_t)o * c + i) * kd + t) * 3 + r) * 3 + s]; },
                      U, nt);
    const int rc = run(x, U, bias, y, g.n, S, nt, e, "conv3d_forward_cpu");
    std::free(U);
    return rc;
}

int winograd_backward_data(const float* dy, const float* w, float* dx, const Vol3Geom& g, int nt) {
    // dx (n, c, d, h, w) = conv(dy (n, k, od, oh, ow), W~ (c, k, kd, 3, 3))
    const Shape S = shape(g.k, g.out[0], g.out[1], g.out[2], g.c, g.in[0], g.in[1], g.in[2], 2 - g.pad0[1],
                          2 - g.pad0[2], g.ker[0], 1, g.dil[0], (g.ker[0] - 1) * g.dil[0] - g.pad0[0], rows_per_block(g.c));
    float* U = alloc_u(S);
    if (!U) return fail(SALIENT_ENOMEM, "conv3d_backward_data_cpu: out of memory for the transformed filters");
    const int kd = g.ker[0], c = g.c;
    transform_filters(
        S, [&](int o, int i, int t, int r, int s) { return w[((((int64_t)i * c + o) * kd + kd - 1 - t) * 3 + 2 - r) * 3 + 2 - s]; },
        U, nt);
    const int rc = run(dy, U, nullptr, dx, g.n, S, nt, Epilogue{}, "conv3d_backward_data_cpu");
    std::free(U);
    return rc;
}

}  // namespace conv3
}  // namespace salient
