// 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3)
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
//
//   Y = A^T [ (G g G^T) . (B^T d B) ] A   per 2x2 output tile and 4x4 input tile d,
//
// summed over input channels as 16 GEMMs, one per position of the 4x4
// transformed tile: M[xi] (k x tiles) = U[xi] (k x c) * V[xi] (c x tiles).
// It takes 16 multiplies per 4 outputs instead of 36 (2.25x fewer). The
// transforms' coefficients are 0, +-1 and +-1/2, so they add rounding of the
// order of float epsilon times the tile's magnitude, as cuDNN's and oneDNN's
// Winograd kernels do.
//
// The data gradient of such a conv is a conv of the same kind (stride 1, 3x3):
// dx = conv(dy, W~, pad = 2 - pad), W~[c, k, r, s] = W[k, c, 2-r, 2-s], so it
// runs through the same driver with the transformed flipped filter.
//
// Threads take whole images (several per item when the planes are small, so
// the GEMMs have enough columns), or blocks of tile rows when there are fewer
// images than threads or an image's tiles exceed the per-thread cap; each keeps
// its V and M in its workspace.
#include <algorithm>
#include <utility>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>
#include <omp.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include "common.h"
#include "filter_cache.h"
#include "isa.h"
#include "winograd_f23.h"
#include "conv2d.h"
#include "conv2d_epilogue.h"
#include "workspace.h"

namespace salient {
namespace conv {

namespace {

constexpr int kTileCols = 64;   // GEMM columns (tiles) an item aims for

// Distance between the 16 transformed planes: n rounded up to a cache line and
// kept off multiples of 4 KiB, so the 16 streams of a transform don't evict
// each other from the same cache sets.
inline int64_t spaced(int64_t n) {
    n = (n + 15) / 16 * 16;
    return n % 1024 == 0 ? n + 16 : n;
}

// The 16 GEMMs M[xi] = U[xi] V[xi] run on a register-tiled kernel over
// operands that the transforms write already packed: U in blocks of Shape::mr output
// channels (cin x mr each), V in panels of kNR tiles (cin x kNR each). Nothing
// is repacked per call and M is written, not accumulated into.
constexpr int kMR = 6, kNR = 16;
constexpr int kMR512 = 12;  // rows per block of U for the AVX-512 kernel (24 accumulators with two panels)
// Rows of U per packed block: kMR512 with AVX-512, measured 7-24 % faster than 6 in the 16
// GEMMs on 64-512 channels (each output is the same chain whatever the block), else kMR. Read
// once per conv (Shape::mr, and the filter cache's key), so that U's layout and the kernel that
// reads it agree even when the instruction set is switched (salient_set_isa) between calls.
inline int rows_per_block() {
#if SALIENT_HAVE_AVX512
    if (isa::avx512()) return kMR512;
#endif
    return kMR;
}
static_assert(kNR == salient::winograd::kWinogradPanel, "the shared input transform packs 16 tiles per panel");

inline int64_t u_plane(int cout, int cin, int mr) { return spaced((int64_t)(cout + mr - 1) / mr * mr * cin); }
inline int64_t padded_tiles(int64_t ld) { return (ld + kNR - 1) / kNR * kNR; }

// U[xi] = (G g G^T)[xi] for the 3x3 filter g = filt(o, i), G = [1 0 0; 1/2 1/2 1/2;
// 1/2 -1/2 1/2; 0 0 1], at U[xi * u_plane + ((o / mr) * cin + i) * mr + o % mr]; rows
// past cout in the last block are zero (U comes zeroed).
template <class Filter>
void transform_filters(int cout, int cin, int m, Filter filt, float* U) {
    const int64_t plane = (int64_t)cout * cin, su = u_plane(cout, cin, m);
#pragma omp parallel for schedule(static) if (plane > 4096)
    for (int64_t oi = 0; oi < plane; oi++) {
        const int o = (int)(oi / cin), i = (int)(oi % cin);
        float g[3][3];
        for (int r = 0; r < 3; r++)
            for (int s = 0; s < 3; s++) g[r][s] = filt(o, i, r, s);
        float t[4][3];  // G g
        for (int s = 0; s < 3; s++) {
            t[0][s] = g[0][s];
            t[1][s] = 0.5f * (g[0][s] + g[1][s] + g[2][s]);
            t[2][s] = 0.5f * (g[0][s] - g[1][s] + g[2][s]);
            t[3][s] = g[2][s];
        }
        for (int a = 0; a < 4; a++) {  // (G g) G^T
            const float u[4] = {t[a][0], 0.5f * (t[a][0] + t[a][1] + t[a][2]), 0.5f * (t[a][0] - t[a][1] + t[a][2]),
                                t[a][2]};
            const int64_t at = ((int64_t)(o / m) * cin + i) * m + o % m;
            for (int b = 0; b < 4; b++) U[(int64_t)(a * 4 + b) * su + at] = u[b];
        }
    }
}

struct Shape {
    int cin, hin, win;    // input planes
    int cout, hout, wout; // output planes
    int pt, pl;           // input offset of output (0, 0)'s window
    int th, tw;           // tiles per plane
    int mr;               // rows of U per packed block (rows_per_block())
};

// Row buffers of one tile row, per thread: 4 padded input rows or 4 output
// row halves. Tiles step by 2 columns, so each pass is a loop over tiles with
// stride-2 loads or stores, which vectorises.
struct Rows {
    float* p[4];
    int width;  // 2 * tw + 2
};

// (B^T d B)[xi] of channel i and item tile t (the tile rows [ty0, ty1) of one image
// are t0, t0 + 1, ...) goes to V[xi * sv + (t / kNR) * cin * kNR + i * kNR + t % kNR],
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
// Channels [i0, i1) only when given (the channel-split driver shares V between threads).
void transform_input(const float* x, const Shape& S, float* V, int64_t sv, int64_t t0, int ty0, int ty1, Rows& R,
                     int i0 = 0, int i1 = -1) {
    const int64_t panel = (int64_t)S.cin * kNR;
    const int W = R.width, tw = S.tw;
    // input columns [c_lo, c_hi) of the padded row [-pl, -pl + W) that exist
    const int c_lo = std::min(W, S.pl), c_hi = std::max(c_lo, std::min(W, S.pl + S.win));
    if (i1 < 0) i1 = S.cin;
    // the padding columns give 0 in every row of the result: zeroed once here, as nothing below
    // writes them (the output transform, which shares the row buffers, runs after)
    for (int a = 0; a < 4; a++) {
        std::memset(R.p[a], 0, sizeof(float) * c_lo);
        std::memset(R.p[a] + c_hi, 0, sizeof(float) * (W - c_hi));
    }
    for (int i = i0; i < i1; i++) {
        const float* xp = x + (int64_t)i * S.hin * S.win;
        for (int ty = ty0; ty < ty1; ty++) {
            const int y0 = 2 * ty - S.pt;
            // B^T d down the columns of the padded input rows y0 .. y0 + 3, read where they lie,
            // a row outside the input read as zeros from its own row buffer (columns() reads a
            // column before writing it)
            const float* d[4];
            float* r[4];
            for (int a = 0; a < 4; a++) {
                float* row = R.p[a];
                const int yy = y0 + a;
                r[a] = row + c_lo;
                if (yy < 0 || yy >= S.hin) {
                    std::memset(row + c_lo, 0, sizeof(float) * (c_hi - c_lo));
                    d[a] = row + c_lo;
                } else {
                    d[a] = xp + (int64_t)yy * S.win + (c_lo - S.pl);
                }
            }
            // the next channel's rows of this tile row, fetched while this one's are transformed: the
            // hardware prefetchers stop at each plane's rows, so in a network, the input out of L2,
            // each plane's first rows waited on memory (fetches of input and output, 2 threads,
            // alternating, cold: 64 at 56x56 batch 1 611-626 -> 559-569 us, batch 32 17.7-17.8 ->
            // 16.1-16.2 ms; 128 at 28x28 545-547 -> 475-492 us; in cache within noise)
            if (i + 1 < i1)
                for (int a = ty == ty0 ? 0 : 2; a < 4; a++) {
                    const int yy = y0 + a;
                    if (yy < 0 || yy >= S.hin) continue;
                    const float* nx = xp + (int64_t)S.hin * S.win + (int64_t)yy * S.win;
                    for (int c = 0; c < S.win; c += 16) __builtin_prefetch(nx + c);
                    __builtin_prefetch(nx + S.win - 1);
                }
            salient::winograd::columns(d[0], d[1], d[2], d[3], r, c_hi - c_lo);
            // then B along each row, four columns from 2 * tx, panel by panel
            salient::winograd::rows(R.p, V, t0 + (int64_t)(ty - ty0) * tw, tw, panel, i, sv);
        }
    }
}

// y[o, 2ty + i, 2tx + j] = bias[o] + (A^T m A)[i][j], A^T = [1 1 1 0; 0 1 -1 -1],
// for the tile rows [ty0, ty1) of one image. M: (16, cout, ld), planes sm apart.
void transform_output(const float* M, int64_t ld, int64_t sm, int64_t t0, int ty0, int ty1, const float* bias,
                      float* y, const Shape& S, Rows& R, const Epilogue& e) {
    const int tw = S.tw;
    for (int o = 0; o < S.cout; o++) {
        const float* mp = M + (int64_t)o * ld + t0;
        float* yp = y + (int64_t)o * S.hout * S.wout;
        const float bv = bias ? bias[o] : 0.f;
        for (int ty = ty0; ty < ty1; ty++) {
            const float* m = mp + (int64_t)(ty - ty0) * tw;
            // m A along each of the 4 rows of the tile: two columns per tile, interleaved
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
            // then A^T down the columns into output rows 2ty, 2ty + 1
            const float *t0r = R.p[0], *t1r = R.p[1], *t2r = R.p[2], *t3r = R.p[3];
            const int oy = 2 * ty;
            float* y0 = yp + (int64_t)oy * S.wout;
            const int len = std::min(2, S.hout - oy) * S.wout;
            if (o + 1 < S.cout) {  // the next channel's rows of this tile row, fetched for writing (isa.h's
                                   // prefetch_for_write; ResNet-50 at batch 1, 2 threads, 8 alternating runs
                                   // against a read fetch: within noise to 3 % faster), and its residual's
                const float* ny = y0 + (int64_t)S.hout * S.wout;
                for (int c = 0; c < len; c += 16) prefetch_for_write(ny + c);
                prefetch_for_write(ny + len - 1);
                if (e.z) {
                    const float* nz = e.z + (ny - e.base);
                    for (int c = 0; c < len; c += 16) __builtin_prefetch(nz + c);
                    __builtin_prefetch(nz + len - 1);
                }
            }
#pragma omp simd
            for (int c = 0; c < S.wout; c++) y0[c] = bv + t0r[c] + t1r[c] + t2r[c];
            if (oy + 1 < S.hout) {
                float* y1 = y0 + S.wout;
#pragma omp simd
                for (int c = 0; c < S.wout; c++) y1[c] = bv + t1r[c] - t2r[c] - t3r[c];
            }
            // the epilogue on the rows just written, in L1 (the residual's rows fetched a channel ago)
            apply_epilogue(e, y0, len);
        }
    }
}

// Work items: nb whole images each, or each image cut into `parts` blocks of
// `rows` tile rows when there are fewer images than threads or an image's
// tiles would need more than kItemFloats of V and M. ld: tiles (GEMM columns) per item.
// V and M are 16 times an item's tiles by the channels, and U (16 times the filter) is streamed
// once per item, so the item's size trades V and M staying in L2 against U's passes: 1 MiB of U
// at 128 channels, 16 MiB at 512. Items of up to 4 MiB of V + M (and GEMMs of at least 64
// columns) took ResNet's batch-32 3x3 convs on the 2-core Xeon of 2026-12 from 21.0 to 17.3 ms
// at 128 channels (28x28) and 18.0 to 16.3 at 256 (14x14), and feature visualisation's batch-64
// convs of ResNet-18 (140x140 inputs) by 10-18 %, against items of 512 KiB, which Zen 5 had
// preferred (16-24 -> 14-15 ms there); 512 channels at 7x7 stayed at 15-16 ms either way.
constexpr int64_t kItemFloats = int64_t(1) << 20;  // 4 MiB of V + M per thread
// Where U is under 1 MiB (64 channels in and out), it stays in L2 across items, and items of 1 MiB
// of V + M keep those in L2 too: ResNet's 64-channel 56x56 conv at batch 32 23.4 -> 19.9 ms, at
// batch 1 0.83 -> 0.69 ms (2 threads, caches flushed), 128 channels and more 2-12 % slower so.
constexpr int64_t kSmallU = int64_t(1) << 18, kSmallUItemFloats = int64_t(1) << 18;

struct Split {
    int nb, parts, rows;
    int64_t ld, items;
};

Split split(int th, int tw, int n, int nt, int cin, int cout) {
    const int64_t tiles = (int64_t)th * tw;
    const int64_t budget = 16 * (int64_t)cin * cout < kSmallU ? kSmallUItemFloats : kItemFloats;
    const int64_t cap = std::max<int64_t>(kTileCols, budget / (16 * ((int64_t)cin + cout)));
    if (n >= nt && tiles <= cap) {
        const int64_t most = std::min<int64_t>((kTileCols + tiles - 1) / tiles, std::max<int64_t>(1, cap / tiles));
        const int nb = (int)std::max<int64_t>(1, std::min<int64_t>(most, n / nt));
        return {nb, 1, th, nb * tiles, (n + nb - 1) / nb};
    }
    const int64_t want = std::max<int64_t>(n >= nt ? 1 : (nt + n - 1) / n, (tiles + cap - 1) / cap);
    const int parts = (int)std::min<int64_t>(th, want), rows = (th + parts - 1) / parts;
    return {1, parts, rows, (int64_t)rows * tw, (int64_t)n * parts};
}

// C[r][0, kNR) = sum_c A[c * kMR + r] * B[c * kNR + j] for the first R rows; C row stride ldc. Only
// those rows are computed: a last, partial block of U (32 output channels: 2 of 6 rows) would
// otherwise spend the block's products on its zero rows.
template <int R>
void kernel_rows(int K, const float* A, const float* B, float* C, int64_t ldc, const float* pf) {
#if defined(__AVX2__) && defined(__FMA__)
    __m256 acc[R][2];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int k = 0; k < K; k++, A += kMR, B += kNR) {
        if (pf) _mm_prefetch((const char*)(pf + (int64_t)k * kMR), _MM_HINT_T1);  // as kernel512
        const __m256 b0 = _mm256_load_ps(B), b1 = _mm256_load_ps(B + 8);
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            const __m256 a = _mm256_broadcast_ss(A + r);
            acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]), acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        _mm256_storeu_ps(C + r * ldc, acc[r][0]);
        _mm256_storeu_ps(C + r * ldc + 8, acc[r][1]);
    }
#else
    (void)pf;
    float acc[R][kNR] = {};
    for (int k = 0; k < K; k++, A += kMR, B += kNR)
        for (int r = 0; r < R; r++)
            for (int j = 0; j < kNR; j++) acc[r][j] += A[r] * B[j];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < kNR; j++) C[r * ldc + j] = acc[r][j];
#endif
}

// kernel_rows<rows> for 1 <= rows <= kMR
inline void kernel(int K, const float* A, const float* B, float* C, int64_t ldc, int rows, const float* pf) {
    switch (rows) {
        case 1: return kernel_rows<1>(K, A, B, C, ldc, pf);
        case 2: return kernel_rows<2>(K, A, B, C, ldc, pf);
        case 3: return kernel_rows<3>(K, A, B, C, ldc, pf);
        case 4: return kernel_rows<4>(K, A, B, C, ldc, pf);
        case 5: return kernel_rows<5>(K, A, B, C, ldc, pf);
        default: return kernel_rows<kMR>(K, A, B, C, ldc, pf);
    }
}

#if SALIENT_HAVE_AVX512
SALIENT_AVX512_BEGIN
// kernel() on AVX-512 for blocks of kMR512 rows of U and H panels side by side (B, B + K * kNR):
// C[r][0, H * kNR), one 16-lane accumulator per row and panel, each lane the AVX2 kernel's chain over K.
// R rows of the block are computed (a last, partial block of U computes its own rows only, where all
// kMR512 would waste a ninth of the products at 32 or 64 output channels: U's rows past them are zero).
// With pf, pf + k * kMR512 is fetched at step k: U's block two blocks on, where each block is used
// once (an image alone on a small plane: U streams from memory, 16 MiB for 512 channels).
template <int H, int R>
void kernel512(int K, const float* A, const float* B, float* C, int64_t ldc, const float* pf) {
    __m512 acc[R][H];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int h = 0; h < H; h++) acc[r][h] = _mm512_setzero_ps();
    const float* B1 = B + (int64_t)K * kNR;
    for (int k = 0; k < K; k++, A += kMR512, B += kNR, B1 += kNR) {
        if (pf) _mm_prefetch((const char*)(pf + (int64_t)k * kMR512), _MM_HINT_T1);
        const __m512 b0 = _mm512_loadu_ps(B), b1 = H == 2 ? _mm512_loadu_ps(B1) : b0;
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            const __m512 a = _mm512_set1_ps(A[r]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            if (H == 2) acc[r][H - 1] = _mm512_fmadd_ps(a, b1, acc[r][H - 1]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
        _mm512_storeu_ps(C + r * ldc, acc[r][0]);
        if (H == 2) _mm512_storeu_ps(C + r * ldc + kNR, acc[r][H - 1]);
    }
}

using Kernel512 = void (*)(int, const float*, const float*, float*, int64_t, const float*);

// kernel512<H, rows> for 1 <= rows <= kMR512
template <int H, int... R>
Kernel512 pick512(int rows, std::integer_sequence<int, R...>) {
    static constexpr Kernel512 table[] = {kernel512<H, R + 1>...};
    return table[rows - 1];
}
template <int H>
Kernel512 pick512(int rows) {
    return pick512<H>(rows, std::make_integer_sequence<int, kMR512>{});
}
SALIENT_AVX512_END
#endif

// M[xi] (cout x ldp) = U[xi] (packed blocks) * V[xi] (packed panels), for the first `panels` panels.
// Blocks of U rows that fit in L2 stay there while the panels stream past them.
void multiply(const float* U, int64_t su, const float* V, int64_t sv, float* M, int64_t sm, int64_t ldp,
              int64_t panels, int cout, int cin, int m, int xi0 = 0, int xi1 = 16) {
    const int blocks = (cout + m - 1) / m;
    const int per = (int)std::max<int64_t>(1, (int64_t(128) << 10) / ((int64_t)cin * m * sizeof(float)));
    for (int xi = xi0; xi < xi1; xi++) {
        const float* A = U + xi * su;
        const float* B = V + xi * sv;
        float* C = M + xi * sm;
        for (int b0 = 0; b0 < blocks; b0 += per) {
            const int b1 = std::min(blocks, b0 + per);
#if SALIENT_HAVE_AVX512
            if (m == kMR512) {  // AVX-512, two panels at a time
                for (int64_t p = 0; p < panels; p += 2) {
                    const float* Bp = B + p * cin * kNR;
                    for (int bl = b0; bl < b1; bl++) {
                        const float* Ab = A + (int64_t)bl * cin * kMR512;
                        float* Cb = C + (int64_t)bl * kMR512 * ldp + p * kNR;
                        const int rows = std::min(kMR512, cout - bl * kMR512);
                        // the first pair of panels reads each block of U from memory: fetch it ahead
                        const float* pf = p == 0 ? Ab + 2 * (int64_t)cin * kMR512 : nullptr;
                        if (p + 1 < panels) pick512<2>(rows)(cin, Ab, Bp, Cb, ldp, pf);
                        else pick512<1>(rows)(cin, Ab, Bp, Cb, ldp, pf);
                    }
                }
                continue;
            }
#endif
            for (int64_t p = 0; p < panels; p++) {
                const float* Bp = B + p * cin * kNR;
                for (int bl = b0; bl < b1; bl++)
                    kernel(cin, A + (int64_t)bl * cin * kMR, Bp, C + (int64_t)bl * kMR * ldp + p * kNR, ldp,
                           std::min(kMR, cout - bl * kMR), p == 0 ? A + (int64_t)(bl + 2) * cin * kMR : nullptr);
            }
        }
    }
}

// Fewer images than threads on small planes (a single image's late stages): cutting an image's
// few tiles into row blocks would leave each thread half-empty GEMM panels and make every thread
// stream all of U (16 MiB at 512 channels) from memory. Instead the threads transform one image's
// input channels into a shared V, each its share, then each multiplies its block of output
// channels (its rows of U alone) and transforms those outputs. Every output is the same chain as
// on the other splits: the kernel reduces over all of cin in order, the transforms are per tile.
constexpr int64_t kChannelSplitTiles = 64;

// Lanes [lane, kNR) of channels [c0, c1) of a panel of V (at P, channel i's kNR lanes at P + i * kNR)
// in each of the 16 planes (sv apart) set to zero. Masked stores: a memset per row (2048 of them for
// 128 channels) cost a fifth of a 14x14 plane's conv at batch 1, each a `rep stos` of under 64 bytes.
inline void zero_lanes(float* P, int64_t sv, int c0, int c1, int lane) {
#if defined(__AVX2__)
    alignas(32) static const int kTail[32] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                              -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    const __m256i m0 = _mm256_loadu_si256((const __m256i*)(kTail + 16 - lane));  // lane j: j >= lane
    const __m256i m1 = _mm256_loadu_si256((const __m256i*)(kTail + 24 - lane));  // lane 8 + j
    const __m256 zero = _mm256_setzero_ps();
    for (int xi = 0; xi < 16; xi++)
        for (int i = c0; i < c1; i++) {
            float* p = P + xi * sv + (int64_t)i * kNR;
            _mm256_maskstore_ps(p, m0, zero);
            _mm256_maskstore_ps(p + 8, m1, zero);
        }
#else
    for (int xi = 0; xi < 16; xi++)
        for (int i = c0; i < c1; i++)
            for (int j = lane; j < kNR; j++) P[xi * sv + (int64_t)i * kNR + j] = 0.f;
#endif
}

bool splits_channels(const Shape& S, int n, int nt) {
    return nt > 1 && n < nt && (int64_t)S.th * S.tw <= kChannelSplitTiles && S.cout >= 2 * S.mr * nt;
}

// One image at a time by the whole team, in three steps with barriers between them: each thread
// transforms its share of the input channels into a shared V, then multiplies, then transforms its
// share of the output channels. The GEMMs are split by blocks of output channels (each thread its
// rows of U into its own M), or, with planes, by the 16 transformed planes (each thread all of U's
// rows for its planes, into a shared M): for an image of at most one panel of tiles (a 7x7 plane's
// 16) with too few output channels to split (DenseNet's 32), which otherwise ran on one thread.
// Every output is the same chain as on one thread.
int run_team(const float* x, const float* U, const float* bias, float* y, int n, const Shape& S, int nt,
             const Epilogue& e, bool planes) {
    const int64_t tiles = (int64_t)S.th * S.tw, ldp = padded_tiles(tiles), panels = ldp / kNR;
    const int64_t su = u_plane(S.cout, S.cin, S.mr), sv = spaced((int64_t)S.cin * ldp);
    const int64_t in_plane = (int64_t)S.cin * S.hin * S.win, hw = (int64_t)S.hout * S.wout;
    float* V = thread_workspace(16 * sv, 2);  // shared by the team
    const int64_t shared_sm = spaced((int64_t)S.cout * ldp);
    float* shared_M = planes ? thread_workspace(16 * shared_sm, 1) : nullptr;  // shared by the team
    if (!V || (planes && !shared_M)) return fail(SALIENT_ENOMEM, "conv2d (winograd): out of memory for the transformed tiles");
    const int m = S.mr, blocks = (S.cout + m - 1) / m;
    int err = 0;
    for (int b = 0; b < n; b++) {
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num(), T = omp_get_num_threads();
            const int b0 = (int)((int64_t)blocks * t / T), b1 = (int)((int64_t)blocks * (t + 1) / T);
            const int o0 = planes ? (int)((int64_t)S.cout * t / T) : std::min(S.cout, b0 * m);
            const int o1 = planes ? (int)((int64_t)S.cout * (t + 1) / T) : std::min(S.cout, b1 * m);
            const int c0 = (int)((int64_t)S.cin * t / T), c1 = (int)((int64_t)S.cin * (t + 1) / T);
            const int width = 2 * std::max(S.tw, S.win) + 4;
            const int64_t sm = planes ? shared_sm : spaced((int64_t)std::max(1, o1 - o0) * ldp);
            float* M = planes ? shared_M : thread_workspace(16 * sm, 1);
            float* rows = thread_workspace(4 * (int64_t)width, 0);
            if (!M || !rows) {
#pragma omp atomic write
                err = 1;
            }
#pragma omp barrier
            int bad;
#pragma omp atomic read
            bad = err;
            Rows R{};
            if (!bad) {
                for (int a = 0; a < 4; a++) R.p[a] = rows + (int64_t)a * width;
                R.width = 2 * S.tw + 2;
                transform_input(x + b * in_plane, S, V, sv, 0, 0, S.th, R, c0, c1);
                if (tiles % kNR)  // the last panel's unused lanes: zeros, not stale floats
                    zero_lanes(V + (panels - 1) * S.cin * kNR, sv, c0, c1, (int)(tiles % kNR));
            }
#pragma omp barrier
            if (planes) {
                if (!bad) multiply(U, su, V, sv, M, sm, ldp, panels, S.cout, S.cin, m, 16 * t / T, 16 * (t + 1) / T);
#pragma omp barrier
            } else if (!bad && o1 > o0) {
                multiply(U + (int64_t)b0 * S.cin * m, su, V, sv, M, sm, ldp, panels, o1 - o0, S.cin, m);
            }
            if (!bad && o1 > o0) {
                Shape So = S;
                So.cout = o1 - o0;
                float* yb = y + ((int64_t)b * S.cout + o0) * hw;
                transform_output(planes ? M + (int64_t)o0 * ldp : M, ldp, sm, 0, 0, S.th, bias ? bias + o0 : nullptr, yb,
                                 So, R, e);
            }
        }
        if (err) return fail(SALIENT_ENOMEM, "conv2d (winograd): out of memory for the transformed tiles");
    }
    return SALIENT_OK;
}

// The driver: n images of S through the transformed filters U (16 packed planes, u_plane apart).
int run(const float* x, const float* U, const float* bias, float* y, int n, const Shape& S, int nt,
        const Epilogue& e = Epilogue{}) {
    if (splits_channels(S, n, nt)) return run_team(x, U, bias, y, n, S, nt, e, false);
    // fewer images than threads, each at most one panel of tiles (a 7x7 plane's 16): split tile rows
    // would leave every thread a part-empty panel to multiply whole, so the threads split each image's
    // 16 GEMMs instead (run_team with planes). Measured at batch 1 (AVX-512, 128 -> 32 channels,
    // DenseNet-121's 3x3 at 7x7): tile rows split 76 us, one thread 42-44, the planes split 35-36; its 3
    // blocks of output channels split, 54 (against 50 on one thread then). Every output is the same chain.
    if (n < nt && (int64_t)S.th * S.tw <= kNR) return run_team(x, U, bias, y, n, S, nt, e, true);
    const Split sp = split(S.th, S.tw, n, nt, S.cin, S.cout);
    const int64_t ldp = padded_tiles(sp.ld);
    const int64_t in_plane = (int64_t)S.cin * S.hin * S.win, out_plane = (int64_t)S.cout * S.hout * S.wout;
    const int64_t su = u_plane(S.cout, S.cin, S.mr), sv = spaced((int64_t)S.cin * ldp), sm = spaced((int64_t)S.cout * ldp);
    int err = 0;
#pragma omp parallel num_threads(nt)
    {
        // slot 0: V then the 4 row buffers; slot 1: M
        const int width = 2 * std::max(S.tw, S.win) + 4;
        float* V = thread_workspace(16 * sv + 4 * (int64_t)width, 0);
        float* M = thread_workspace(16 * sm, 1);
        Rows R{};
        if (V) {
            for (int a = 0; a < 4; a++) R.p[a] = V + 16 * sv + (int64_t)a * width;
            R.width = 2 * S.tw + 2;
        }
        if (!V || !M) {
#pragma omp atomic write
            err = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < sp.items; it++) {
            if (!V || !M) continue;
            int n0, n1, ty0, ty1;
            if (sp.parts == 1) {
                n0 = (int)(it * sp.nb), n1 = std::min(n, n0 + sp.nb), ty0 = 0, ty1 = S.th;
            } else {
                n0 = (int)(it / sp.parts), n1 = n0 + 1;
                ty0 = (int)(it % sp.parts) * sp.rows, ty1 = std::min(S.th, ty0 + sp.rows);
                if (ty0 >= ty1) continue;
            }
            const int64_t per = (int64_t)(ty1 - ty0) * S.tw, cols = (n1 - n0) * per;
            for (int b = n0; b < n1; b++) transform_input(x + b * in_plane, S, V, sv, (b - n0) * per, ty0, ty1, R);
            const int64_t panels = (cols + kNR - 1) / kNR;
            if (cols % kNR)  // the last panel's unused lanes: zeros, not stale floats
                zero_lanes(V + (panels - 1) * S.cin * kNR, sv, 0, S.cin, (int)(cols % kNR));
            multiply(U, su, V, sv, M, sm, ldp, panels, S.cout, S.cin, S.mr);
            for (int b = n0; b < n1; b++) {
                transform_output(M, ldp, sm, (b - n0) * per, ty0, ty1, bias, y + b * out_plane, S, R, e);
            }
        }
    }
    if (err) return fail(SALIENT_ENOMEM, "conv2d (winograd): out of memory for the transformed tiles");
    return SALIENT_OK;
}

// The transformed filters of w for (cout, cin), from the cache or made now.
template <class Filter>
std::shared_ptr<float> filters(const float* w, int cout, int cin, int mr, bool flipped, Filter filt) {
    const size_t bytes = 16 * (size_t)u_plane(cout, cin, mr) * sizeof(float);
    return cached_filters(w, (int64_t)cout * cin * 9, {kFilterWinograd, cout, cin, mr, flipped}, bytes,
                          [&](float* dst) { transform_filters(cout, cin, mr, filt, dst); });
}

}  // namespace

bool winograd_applies(const ConvGeom& g, int nt) {
    // One image's geometry decides, never the batch or the threads: Winograd and
    // im2col round differently, and an image must get the same bits in any batch.
    // Within Winograd every output is the same chain whatever the split (the GEMM
    // kernel reduces each lane over cin in order; the transforms are per tile).
    const bool shape = g.r == 3 && g.s == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.groups == 1;
    const bool pads = g.pt <= 2 && g.pl <= 2 && g.pb <= 2 && g.pr <= 2;
    if (!shape || !pads || g.c < 16 || g.k < 16) return false;
    // 16 tiles (a 7x7 plane) and more: measured faster than im2col at batch 32 and on par at batch 1
    return (int64_t)((g.oh + 1) / 2) * ((g.ow + 1) / 2) >= 16;
}

int winograd_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, int nt) {
    return winograd_forward(x, w, bias, y, g, nt, Epilogue{});
}

int winograd_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, int nt,
                     const Epilogue& e) {
    const int mr = rows_per_block();
    auto U = filters(w, g.k, g.c, mr, false,
                     [&](int o, int i, int r, int s) { return w[(((int64_t)o * g.c + i) * 3 + r) * 3 + s]; });
    if (!U) return fail(SALIENT_ENOMEM, "conv2d_forward_cpu: out of memory for the transformed filters");
    Shape S{g.c, g.h, g.w, g.k, g.oh, g.ow, g.pt, g.pl, (g.oh + 1) / 2, (g.ow + 1) / 2, mr};
    return run(x, U.get(), bias, y, g.n, S, nt, e);
}

int winograd_backward_data(const float* dy, const float* w, float* dx, const ConvGeom& g, int nt, const Epilogue& e) {
    // dx (n, c, h, w) = conv(dy (n, k, oh, ow), W~ (c, k, 3, 3)), pads 2 - pad
    const int mr = rows_per_block();
    auto U = filters(w, g.c, g.k, mr, true,
                     [&](int o, int i, int r, int s) { return w[(((int64_t)i * g.c + o) * 3 + 2 - r) * 3 + 2 - s]; });
    if (!U) return fail(SALIENT_ENOMEM, "conv2d_backward_data_cpu: out of memory for the transformed filters");
    Shape S{g.k, g.oh, g.ow, g.c, g.h, g.w, 2 - g.pt, 2 - g.pl, (g.h + 1) / 2, (g.w + 1) / 2, mr};
    return run(dy, U.get(), nullptr, dx, g.n, S, nt, e);
}

}  // namespace conv
}  // namespace salient
