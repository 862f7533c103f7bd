// The canonical SGEMM with A's rows on the vector lanes: C = A B (+ the epilogue), each element
// the chain of blas.h's sgemm_canonical (acc = 0, then acc = fma(A[i][p], B[p][j], acc) for p in
// order), so the same bits as every other path of that product.
//
// The blocked path (gemm_canonical.cpp) puts B's columns on the lanes and packs B on every call.
// A pointwise conv on a small plane is a product with few columns (7x7 = 49, 14x14 = 196 positions)
// and a large constant A (its weights: 2048 x 512 floats, 4 MiB): there the columns fill the lanes
// badly (49 = 32 + 17 in two 32-lane blocks), every call packs B again, and A, read where it lies,
// comes 6 rows of kKC floats at a time from far apart, which the hardware prefetchers do not follow
// when the weights are out of the caches, as they are in a network at batch 1. Here A is packed
// once (lanes_pack; the conv keeps it with its filter cache) into panels of 32 rows, p-major, read
// front to back as one stream; B is read where it lies, R of its columns broadcast at a time; each
// R x 32 block of C is transposed in registers (8x8 at a time) and stored with the epilogue. AVX-512
// takes 7 columns by 32 lanes at a time; AVX2 (16 registers) 6 columns by 16 lanes, the panel's two
// halves in turn.
//
// FLOPs: 2 m n k; bytes: A's 4 m k once per call, B's 4 n k once per panel of 32 rows (in L2).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include "blas.h"
#include "epilogue512.h"
#include "isa.h"
#include "salient.h"
#include "transpose.h"

namespace salient {

int64_t lanes_packed_floats(int m, int k) { return (int64_t)(m + kLanes - 1) / kLanes * kLanes * k; }

void lanes_pack(const float* a, int64_t lda, int m, int k, float* dst) {
    for (int i0 = 0; i0 < m; i0 += kLanes) {
        float* d = dst + (int64_t)i0 * k;
        const int rows = std::min(kLanes, m - i0);
        for (int p = 0; p < k; p++, d += kLanes) {
            for (int l = 0; l < rows; l++) d[l] = a[(int64_t)(i0 + l) * lda + p];
            for (int l = rows; l < kLanes; l++) d[l] = 0.f;
        }
    }
}

#if SALIENT_HAVE_AVX512
namespace {

constexpr int kLanesKC = 128;  // k steps per block
constexpr auto kFetchHint = _MM_HINT_T1;  // into L2 (measured against L1: the same or faster)
// The last k block's stores add a residual: 32 rows of it, R floats each, a block, rows far apart (a
// pattern the hardware prefetchers do not follow from memory). Each block fetches the line this many
// floats past its own in each row, a block or two before its stores need it. ResNet-50's 256 -> 1024
// at 14x14 with its residual, batch 32, 2 threads (Xeon), alternating: 11.8-13.2 -> 11.3-12.2 ms;
// 512 -> 2048 at 7x7 (rows of 49) within noise; 32 and 48 floats ahead no better.
constexpr int kResidualAhead = 16;
// A block walks R columns of B down kc rows, each row on its own line (on its own page where the
// rows are long), a pattern the hardware prefetchers do not follow; with rows past this many floats
// (planes past 16x16: the convs of at most 32 output channels up to 32x32) each step fetches its row
// 32 floats on. MobileNetV2's 192 -> 32 at 28x28, batch 1, 2 threads, alternating: in cache 35-38 ->
// 35-36 us, input cold 118-138 -> 53-60 (the blocked GEMM: 47-49 and 61-64); on 14x14 planes the
// fetch measured 0-5 % slower at batch 32, so they go without.
constexpr int64_t kLanesWideB = 256;
// On smaller planes a thread's share of one image's columns (batch 1, the projections onto a few
// panels, split by columns) reads an input that the other thread has mostly just written (the
// depthwise conv before, split by channels), so its lines come from the other core; each step fetches
// its row a line past the block's columns. MobileNetV2 at batch 1, 2 threads, per-op medians of 400
// passes (two runs each way): 576 -> 96 at 14x14 with its residual 205.5 -> 168.0 us a forward (2
// calls), 384 -> 64 with its residual 158.2 -> 131.5 (3), 384 -> 96 67.2 -> 58.5, 960 -> 160 at 7x7
// with its residual 144.7 -> 137.6 (2); the forward in 8 alternating runs, median 287.4 -> 295.3 img/s.
// 32 floats on measured no better. The convs split by panels read every column and keep no fetch
// (with it MobileNetV2's expansions measured 1-3 % slower).
constexpr int64_t kLanesShareAhead = 16;

// Per-thread partial sums (grow-only)
struct Part {
    float* p = nullptr;
    int64_t floats = 0;
    float* at_least(int64_t n) {
        if (floats < n) {
            std::free(p);
            p = (float*)std::aligned_alloc(64, (size_t)n * sizeof(float));
            floats = p ? n : 0;
        }
        return p;
    }
    ~Part() { std::free(p); }
};
thread_local Part g_part;

// The AVX2 twin of lanes_block below (16 ymm registers): the panel's 32 lanes in two halves of 16,
// one after the other, each 2 x 8 lanes by R (6) columns, 12 accumulators; the same chains and the
// same stores, so the same bits. The next slices are fetched in the first half's pass.
template <int R>
void lanes_block2(int p0, int kc, bool last, const float* fetch, int lines, const float* bfetch, int blines,
                  const float* ap, const float* b, int64_t ldb, int64_t bahead, float* part, float* c, int64_t ldc, int rows,
                  const GemmEpilogue& ep, int i0, int64_t j) {
    alignas(32) static const int kMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    const __m256i m = _mm256_loadu_si256((const __m256i*)(kMask + 8 - R));
    for (int half = 0; half < 2 && 16 * half < rows; half++) {
        __m256 acc[R][2];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
                acc[r][h] = p0 > 0 ? _mm256_load_ps(part + r * kLanes + 16 * half + 8 * h) : _mm256_setzero_ps();
        const float* a = ap + (int64_t)p0 * kLanes + 16 * half;
        const float* bp = b + (int64_t)p0 * ldb + j;
        for (int p = 0; p < kc; p++, a += kLanes, bp += ldb) {
            if (half == 0) {  // this block's shares of the next slices of the weights and of B
                if (p < lines) _mm_prefetch((const char*)(fetch + 16 * p), kFetchHint);
                if (p + kc < lines) _mm_prefetch((const char*)(fetch + 16 * (p + kc)), kFetchHint);
                if (p < blines) _mm_prefetch((const char*)(bfetch + 16 * p), kFetchHint);
                if (p + kc < blines) _mm_prefetch((const char*)(bfetch + 16 * (p + kc)), kFetchHint);
            }
            if (bahead && half == 0) _mm_prefetch((const char*)(bp + bahead), _MM_HINT_T0);
            const __m256 a0 = _mm256_load_ps(a), a1 = _mm256_load_ps(a + 8);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const __m256 bv = _mm256_broadcast_ss(bp + r);
                acc[r][0] = _mm256_fmadd_ps(bv, a0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(bv, a1, acc[r][1]);
            }
        }
        if (!last) {
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                _mm256_store_ps(part + r * kLanes + 16 * half, acc[r][0]);
                _mm256_store_ps(part + r * kLanes + 16 * half + 8, acc[r][1]);
            }
            continue;
        }
        const int base = i0 + 16 * half;
        const float* bias = ep.bias ? ep.bias + base : nullptr;
        const float* z = ep.z ? ep.z + (int64_t)base * ep.ldz + j : nullptr;
        float* cp = c + (int64_t)base * ldc + j;
#pragma GCC unroll 2
        for (int q = 0; q < 2; q++) {  // lanes 8q .. 8q+7 of this half
            if (16 * half + 8 * q >= rows) break;
            __m256 t[8];
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++) t[r] = r < R ? acc[r < R ? r : 0][q] : _mm256_setzero_ps();
            transpose8x8(t);
            const int n8 = std::min(8, rows - 16 * half - 8 * q);
            for (int l = 0; l < n8; l++) {
                const int i = 8 * q + l;
                __m256 v = t[l];
                if (bias) v = _mm256_add_ps(v, _mm256_set1_ps(bias[i]));
                if (z) v = _mm256_add_ps(v, _mm256_maskload_ps(z + (int64_t)i * ep.ldz, m));
                _mm256_maskstore_ps(cp + (int64_t)i * ldc, m, act256(v, ep.act, ep.lo, ep.hi));
            }
        }
    }
}

using LanesBlock = void (*)(int, int, bool, const float*, int, const float*, int, const float*, const float*, int64_t,
                            int64_t, float*, float*, int64_t, int, const GemmEpilogue&, int, int64_t);

LanesBlock pick_lanes2(int r) {
    switch (r) {
        case 1: return lanes_block2<1>;
        case 2: return lanes_block2<2>;
        case 3: return lanes_block2<3>;
        case 4: return lanes_block2<4>;
        case 5: return lanes_block2<5>;
        default: return lanes_block2<6>;
    }
}

SALIENT_AVX512_BEGIN
// C rows [i0, i0 + rows) (rows <= 32, one panel of packed A at ap, steps [p0, p0 + kc)) by columns
// [j, j + R) of B: acc[r] (32 lanes, in two halves) starts from 0 (p0 == 0) or from the partial
// sums at part[r * 32] and goes on with the chain of A[i][p] * B[p][j + r] over the k block; then
// either back into part (more k blocks follow), or each 8x8 block is transposed and row i's R values
// stored as sgemm_canonical_ep's stores round them: + bias, + z, then the activation.
template <int R>
void lanes_block(int p0, int kc, bool last, const float* fetch, int lines, const float* bfetch, int blines,
                 const float* ap, const float* b, int64_t ldb, int64_t bahead, float* part, float* c, int64_t ldc, int rows,
                 const GemmEpilogue& ep, int i0, int64_t j) {
    __m512 lo[R], hi[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        lo[r] = p0 > 0 ? _mm512_load_ps(part + r * kLanes) : _mm512_setzero_ps();
        hi[r] = p0 > 0 ? _mm512_load_ps(part + r * kLanes + 16) : _mm512_setzero_ps();
    }
    if (last && ep.z) {  // the residual's next line of each of the block's rows, fetched while the products run
        const float* z = ep.z + (int64_t)i0 * ep.ldz + j + kResidualAhead;
        for (int r = 0; r < rows; r++) _mm_prefetch((const char*)(z + r * ep.ldz), _MM_HINT_T0);
    }
    ap += (int64_t)p0 * kLanes;
    const float* bp = b + (int64_t)p0 * ldb + j;
    const auto step = [&]() {
        const __m512 a0 = _mm512_load_ps(ap), a1 = _mm512_load_ps(ap + 16);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const __m512 bv = _mm512_set1_ps(bp[r]);
            lo[r] = _mm512_fmadd_ps(bv, a0, lo[r]);
            hi[r] = _mm512_fmadd_ps(bv, a1, hi[r]);
        }
    };
    // the steps that fetch (this block's share of the next slice and of B's next rows), then the rest
    // without the tests: ResNet-50's 1x1 convs on 14x14 and 7x7 planes, 2 threads (Xeon), 2-7 % faster
    // (1024 -> 256 at 14x14, batch 32: 10.98-11.03 -> 10.21-10.74 ms; 2048 -> 512 at 7x7 10.82-10.89 ->
    // 10.18-10.36)
    const int fetching = std::min(kc, std::max(lines, blines));
    int p = 0;
    for (; p < fetching; p++, ap += kLanes, bp += ldb) {
        if (p < lines) _mm_prefetch((const char*)(fetch + 16 * p), kFetchHint);  // this block's share of the next slice
        if (p + kc < lines) _mm_prefetch((const char*)(fetch + 16 * (p + kc)), kFetchHint);
        if (p < blines) _mm_prefetch((const char*)(bfetch + 16 * p), kFetchHint);  // ... and of B's next rows
        if (p + kc < blines) _mm_prefetch((const char*)(bfetch + 16 * (p + kc)), kFetchHint);
        if (bahead) _mm_prefetch((const char*)(bp + bahead), _MM_HINT_T0);
        step();
    }
    if (bahead) {
        for (; p < kc; p++, ap += kLanes, bp += ldb) {
            _mm_prefetch((const char*)(bp + bahead), _MM_HINT_T0);
            step();
        }
    } else {
        for (; p < kc; p++, ap += kLanes, bp += ldb) step();
    }
    if (!last) {
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            _mm512_store_ps(part + r * kLanes, lo[r]);
            _mm512_store_ps(part + r * kLanes + 16, hi[r]);
        }
        return;
    }
    const __mmask8 m = (__mmask8)((1u << R) - 1);
    const float* bias = ep.bias ? ep.bias + i0 : nullptr;
    const float* z = ep.z ? ep.z + (int64_t)i0 * ep.ldz + j : nullptr;
    float* cp = c + (int64_t)i0 * ldc + j;
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {  // lanes 8q .. 8q+7: rows i0 + 8q ..
        if (8 * q >= rows) break;
        __m256 t[8];
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            const __m512 v = r < R ? (q < 2 ? lo[r < R ? r : 0] : hi[r < R ? r : 0]) : _mm512_setzero_ps();
            t[r] = (q & 1) ? _mm512_extractf32x8_ps(v, 1) : _mm512_extractf32x8_ps(v, 0);
        }
        transpose8x8(t);
        const int n8 = std::min(8, rows - 8 * q);
        for (int l = 0; l < n8; l++) {
            const int i = 8 * q + l;
            __m256 v = t[l];
            if (bias) v = _mm256_add_ps(v, _mm256_set1_ps(bias[i]));
            if (z) v = _mm256_add_ps(v, _mm256_maskz_loadu_ps(m, z + (int64_t)i * ep.ldz));
            _mm256_mask_storeu_ps(cp + (int64_t)i * ldc, m, act256(v, ep.act, ep.lo, ep.hi));
        }
    }
}

LanesBlock pick_lanes(int r) {
    switch (r) {
        case 1: return lanes_block<1>;
        case 2: return lanes_block<2>;
        case 3: return lanes_block<3>;
        case 4: return lanes_block<4>;
        case 5: return lanes_block<5>;
        case 6: return lanes_block<6>;
        case 7: return lanes_block<7>;
        default: return lanes_block<8>;
    }
}
SALIENT_AVX512_END

}  // namespace
#endif

int lanes_columns(int n) { return isa::avx512() ? (n % 7 == 0 ? 7 : 8) : 6; }

bool sgemm_lanes(const float* ap, int m, int k, int i0, int i1, const float* b, int64_t ldb, int j0, int j1, float* c,
                 int64_t ldc, const GemmEpilogue& ep, int images, int64_t bimg, int64_t cimg) {
#if SALIENT_HAVE_AVX512
    const int n = j1 - j0, R = lanes_columns(n);
    const bool wide = isa::avx512();
    const LanesBlock full = wide ? pick_lanes(R) : pick_lanes2(R), tail = wide ? pick_lanes(n % R) : pick_lanes2(n % R);
    // k in blocks of at most kLanesKC steps, outermost: a block's rows of B stay in L2 across the panels, and
    // the panel's slice (kLanesKC x 32 floats) in L1 across the images' columns, as do the lines of B
    // under R columns across the next R; the sums in between wait in part (panels x images x n x 32)
    const int first = i0, stop = std::min(i1, m);
    if (first >= stop) return true;
    const int panels = (stop - first + kLanes - 1) / kLanes;
    float* part = g_part.at_least((int64_t)panels * images * n * kLanes);
    if (!part) return false;
    const int kblocks = (k + kLanesKC - 1) / kLanesKC, kb = (k + kblocks - 1) / kblocks;  // equal blocks
    // rows of B longer than kLanesWideB floats (a plane past 16x16): each step fetches its row two
    // lines past the block's columns, so the lines under the next blocks' columns arrive ahead; a
    // share of one image's columns (fewer images than threads, few panels: the conv split by
    // columns) fetches its row a line past them (kLanesShareAhead; AVX-512, where it was measured)
    const int64_t bahead = ldb > kLanesWideB ? 32 : wide && images == 1 && n < ldb ? kLanesShareAhead : 0;
    for (int p0 = 0; p0 < k; p0 += kb) {
        const int kc = std::min(kb, k - p0);
        const bool last = p0 + kc >= k;
        for (int i = first; i < stop; i += kLanes) {
            const float* panel = ap + (int64_t)i * k;
            const int rows = std::min(kLanes, m - i);
            // the blocks that use this slice fetch the next one (the next panel's, or the first's next
            // k block), each its share of its lines, a line a step
            const float* next = i + kLanes < stop ? panel + (int64_t)kLanes * k + (int64_t)p0 * kLanes
                                : last            ? nullptr
                                                  : ap + (int64_t)first * k + (int64_t)(p0 + kc) * kLanes;
            const int blocks = (n + R - 1) / R, uses = images * blocks;
            const int share = next ? (2 * kc + uses - 1) / uses : 0;
            float* pp = part + (int64_t)(i - first) / kLanes * images * n * kLanes;
            // the first panel's blocks also fetch B's next k block where its rows are whole (one run of
            // kc x ldb floats an image): at batch 32 the input comes from memory, and a block's walk down
            // 7 of its columns is no stream the hardware prefetchers follow
            const bool bnext = i == first && !last && j0 == 0 && j1 == ldb;
            const int bslice = bnext ? (int)(((int64_t)std::min(kb, k - p0 - kc) * ldb + 15) / 16) : 0;
            const int bshare = (bslice + blocks - 1) / blocks;
            int at = 0;  // lines of the next slice handed out so far
            for (int im = 0; im < images; im++) {
                const float* bi = b + im * bimg;
                const float* bn = bi + (int64_t)(p0 + kc) * ldb;
                float* ci = c + im * cimg;
                float* pi = pp + ((int64_t)im * n - j0) * kLanes;
                GemmEpilogue e = ep;
                if (e.z) e.z += im * cimg;
                int bat = 0;
                for (int64_t j = j0; j < j1; j += R, at += share, bat += bshare) {
                    const int lines = std::max(0, std::min(share, 2 * kc - at));
                    const int blines = std::max(0, std::min(bshare, bslice - bat));
                    (j + R <= j1 ? full : tail)(p0, kc, last, next ? next + 16 * at : nullptr, lines,
                                                blines ? bn + 16 * bat : nullptr, blines, panel, bi, ldb, bahead, pi + j * kLanes,
                                                ci, ldc, rows, e, i, j);
                }
            }
        }
    }
    return true;
#else
    (void)ap, (void)m, (void)k, (void)i0, (void)i1, (void)b, (void)ldb, (void)j0, (void)j1, (void)c, (void)ldc, (void)ep;
    return false;
#endif
}

}  // namespace salient
