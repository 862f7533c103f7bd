// The canonical SGEMM: row-major C = alpha * op(A) op(B) + beta * C in which
// every element is one fixed chain of fused multiply-adds,
//
//   acc = beta == 0 ? 0 : beta * C[i][j];   for p = 0 .. k-1:  acc = fma(alpha * A[i][p], B[p][j], acc)
//
// whatever m, n and k, wherever the element sits in the call, and however a
// caller splits a product into calls over rows or columns. That is the
// engine's determinism contract (README "Determinism"): a conv, a Gemm or a
// MatMul gives an image the same bits whether it runs alone or in a batch, in
// one call or in blocks, on one thread or many. OpenBLAS does not promise
// this: measured, an element's bits depended on the call's m and n.
//
// Goto's blocking (Goto & van de Geijn, "Anatomy of High-Performance Matrix
// Multiplication", 2008): k in blocks of kKC, B packed into panels of kNR
// columns; full blocks of kMR rows of A are read where A lies (alpha 1), the
// rest packed (times alpha). The 6x16 AVX2 kernel keeps a block of C in
// registers for one k block and continues the same chain from C on the next,
// so blocking never changes a sum's order. Rows and columns past m and n are
// zeros in the packed operands and are never stored.
//
// Few rows (a classifier at batch 1, m = 1..32) would use each packed value of
// B m times only, so B is not packed ahead: a row-major B streams by rows
// (small_m_rows), a transposed B (ONNX Gemm transB = 1) is transposed in
// registers 4x8 at a time (kernel_bt) or, past kMR rows, one L1 panel at a
// time (small_m). Each path vectorises across columns of C only: every lane
// runs its element's chain in k order, so the bits are the blocked path's.
//
// A large row-major B times a small A (a pointwise conv's projection to few channels) is read
// where it lies, panel by panel, with its rows fetched ahead (direct_b, AVX2).
//
// FLOPs: 2*m*n*k; bytes: B's 4*n*k, read once (packed once per (n, k) block on
// the blocked path). At m = 1 the product is bound by reading B.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include "blas.h"
#include "epilogue512.h"
#include "fma512.h"
#include "salient.h"
#include "isa.h"
#include "transpose.h"

namespace salient {

namespace {

constexpr int kMR = 6, kNR = 16;  // register block of C
constexpr int kKC = 256;          // k block: a B panel (kKC x kNR) stays in L1
constexpr int kMC = 96;           // rows of packed A per block (kMC x kKC in L2)
constexpr int kNC = 512;          // columns of packed B per block
constexpr int kWide = 4;          // AVX-512: panels of a register block of C on the blocked path (kernel512w)
// k blocks up to this long go over C a kMR-row stripe at a time (gemm); the packed B block (k x kNC,
// 256 KiB) then stays in L2 while the stripe's stores stream. Measured on Zen 3 (AVX2), pointwise
// convs with ReLU6 (alternating runs): MobileNetV2's 24 -> 144 at 56x56 batch 32 9.3 -> 6.6 ms and
// 32 -> 192 at 28x28 2.57 -> 2.44, ResNet-50's 64 -> 256 at 56x56 25.5-29.5 -> 22.5-22.8; at batch 1
// 96 -> 576 at 14x14 0.154 -> 0.135 and 16 -> 96 at 112x112 0.45 -> 0.42; the rest within noise.
constexpr int kRowsOuterK = 128;
constexpr int kAhead = 4;  // AVX-512: a residual is fetched this many register blocks ahead along its rows
constexpr int kScratchLd = kNC + 16;  // rows of residual_pass's scratch block: off multiples of 4 KiB
constexpr int kSmallM = 32;       // up to this many rows, a transposed B is packed one panel at a time (small_m)
constexpr int kSmallA = 65536;    // ... while A (m x k floats) stays in L2
constexpr int kDirectM = 48;         // direct_b: up to this many rows of A,
constexpr int kDirectMinA = 2048;    // ... with A of this many floats
constexpr int kDirectA = 8192;       // ... up to this many (in L1),
constexpr int kDirectB = 65536;      // ... and B of at least this many floats (past L1/L2 once packed)
constexpr int kDirectAhead = 16384;  // direct_b fetches B about this many (m k) panels ahead
constexpr int kDirectRowsAhead = 8;  // AVX-512 rows_direct: B's rows fetched this many steps ahead
constexpr int kRowsM = 4;         // up to this many rows, a row-major B streams by rows (small_m_rows)
constexpr int kSkew = 8;          // kernel_bt: blocks of 16 steps between column groups
// pack_b: rows of B fetched ahead of the row being packed. A pointwise conv's B is its input, read
// from memory a row (channel) at a time, each on a new page where the prefetchers stop; 4 rows
// ahead took ResNet-50's batch-32 1x1 convs at 56x56 and 28x28 from 17.5-18.8 to 16.9-17.0 ms
// (256 -> 64), 28.0-28.7 to 26.9-27.6 (256 -> 128) and 14.4-15.0 to 13.6-14.5 (512 -> 128).
constexpr int kPackAhead = 4;

// What kernel512w<.., Direct> fetches at each step: the line `on` floats past each panel's row, for the
// panels in the mask (none: nothing)
struct Fetch {
    int64_t on = 0;
    unsigned panels = 0;
};

// Per-thread packing buffers (grow-only).
struct Packs {
    float* a = nullptr;
    float* b = nullptr;
    float* c = nullptr;  // a block of C (kMC x kScratchLd) for residual_pass
    ~Packs() {
        std::free(a);
        std::free(b);
        std::free(c);
    }
};
thread_local Packs g_packs;

float* pack_buffer(float*& p, size_t floats) {
    if (!p) p = (float*)std::aligned_alloc(64, (floats * sizeof(float) + 63) & ~(size_t)63);
    return p;
}

#if defined(__AVX2__) && defined(__FMA__)
// The 8x8 block at s (rows s + r*lds, 8 floats each) transposed into d (rows d + q*ldd):
// d[q][r] = s[r][q].
inline void transpose8(const float* s, int64_t lds, float* d, int64_t ldd) {
    __m256 r[8];
    for (int q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(s + q * lds);
    transpose8x8(r);
    for (int q = 0; q < 8; q++) _mm256_storeu_ps(d + q * ldd, r[q]);
}
#endif

// B rows [p0, p0+kc), columns [j0, j0+nc) into panels of kNR columns:
// dst[(j / kNR) * kc * kNR + (p - p0) * kNR + j % kNR], zeros past nc.
// b: (k,n) with ldb, or (n,k) when trans_b
void pack_b(bool trans_b, const float* b, int ldb, int p0, int kc, int j0, int nc, float* dst) {
    const int panels = (nc + kNR - 1) / kNR, full = nc / kNR;
    if (!trans_b) {
        // row by row: each row of B is read once, front to back
        for (int p = 0; p < kc; p++) {
            const float* s = b + (int64_t)(p0 + p) * ldb + j0;
            float* o = dst + (int64_t)p * kNR;
#if defined(__AVX2__) && defined(__FMA__)
            if (p + kPackAhead < kc)
                for (int j = 0; j < nc; j += 16) _mm_prefetch((const char*)(s + (int64_t)kPackAhead * ldb + j), _MM_HINT_T0);
#endif
            for (int t = 0; t < full; t++) std::memcpy(o + (int64_t)t * kc * kNR, s + t * kNR, sizeof(float) * kNR);
            if (full < panels) {
                float* d = o + (int64_t)full * kc * kNR;
                const int w = nc - full * kNR;
                for (int j = 0; j < w; j++) d[j] = s[full * kNR + j];
                for (int j = w; j < kNR; j++) d[j] = 0.f;
            }
        }
        return;
    }
    // B's rows j are the panel's columns: 8x8 blocks transposed, the rest one by one
    for (int t = 0; t < panels; t++) {
        float* d = dst + (int64_t)t * kc * kNR;
        const int jb = j0 + t * kNR, w = std::min(kNR, nc - t * kNR);
        int j = 0;
#if defined(__AVX2__) && defined(__FMA__)
        const int kc8 = kc / 8 * 8;
        for (; j + 8 <= w; j += 8) {
            const float* s = b + (int64_t)(jb + j) * ldb + p0;
            for (int p = 0; p < kc8; p += 8) transpose8(s + p, ldb, d + (int64_t)p * kNR + j, kNR);
            for (int r = 0; r < 8; r++)
                for (int p = kc8; p < kc; p++) d[(int64_t)p * kNR + j + r] = s[(int64_t)r * ldb + p];
        }
#endif
        for (; j < w; j++) {
            const float* s = b + (int64_t)(jb + j) * ldb + p0;
            for (int p = 0; p < kc; p++) d[(int64_t)p * kNR + j] = s[p];
        }
        for (j = w; j < kNR; j++)
            for (int p = 0; p < kc; p++) d[(int64_t)p * kNR + j] = 0.f;
    }
}

// alpha * A rows [i0, i0+mc), columns [p0, p0+kc) into blocks of kMR rows:
// dst[(i / kMR) * kc * kMR + (p - p0) * kMR + i % kMR], zeros past mc.
// a: (m,k) with lda, or (k,m) when trans_a
void pack_a(bool trans_a, const float* a, int lda, float alpha, int i0, int mc, int p0, int kc, float* dst) {
    const int blocks = (mc + kMR - 1) / kMR;
    for (int t = 0; t < blocks; t++) {
        float* d = dst + (int64_t)t * kc * kMR;
        const int ib = i0 + t * kMR, h = std::min(kMR, mc - t * kMR);
        if (trans_a) {
            for (int p = 0; p < kc; p++) {
                const float* s = a + (int64_t)(p0 + p) * lda + ib;
                float* o = d + (int64_t)p * kMR;
                for (int i = 0; i < h; i++) o[i] = alpha * s[i];
                for (int i = h; i < kMR; i++) o[i] = 0.f;
            }
        } else if (h == kMR) {
            // six rows side by side, written front to back
            const float* s[kMR];
            for (int i = 0; i < kMR; i++) s[i] = a + (int64_t)(ib + i) * lda + p0;
            for (int p = 0; p < kc; p++) {
                float* o = d + (int64_t)p * kMR;
                for (int i = 0; i < kMR; i++) o[i] = alpha * s[i][p];
            }
        } else {
            for (int i = 0; i < h; i++) {
                const float* s = a + (int64_t)(ib + i) * lda + p0;
                for (int p = 0; p < kc; p++) d[(int64_t)p * kMR + i] = alpha * s[p];
            }
            for (int i = h; i < kMR; i++)
                for (int p = 0; p < kc; p++) d[(int64_t)p * kMR + i] = 0.f;
        }
    }
}

// The epilogue of one kernel's block of C: rows from the block's first, z at the block's first element.
struct Store {
    const float* bias;
    const float* z;
    int64_t ldz;
    int act;
    float lo, hi;
    bool stream;
};

// The epilogue of the kernel's block of C at row i, column j.
inline Store store_at(const GemmEpilogue& ep, int i, int64_t j) {
    return {ep.bias ? ep.bias + i : nullptr, ep.z ? ep.z + (int64_t)i * ep.ldz + j : nullptr, ep.ldz, ep.act, ep.lo, ep.hi,
            ep.stream};
}

#if defined(__AVX2__) && defined(__FMA__)
// The residual's block of R rows (H parts of `half` lanes each) is read once, in the stores: fetched
// now, it arrives while the products run instead of stalling the stores on memory (a ResNet
// block's 1x1 expansion reads a residual of its output's size, far past the caches). The block of
// the next R rows, which the next call of the row loop stores, is fetched into L2 as well: a call
// of 64 steps (ResNet-50's 64 -> 256 expansion) is shorter than a trip to memory (that layer at
// batch 32 on AVX-512: 21 -> 17-18.5 ms). On AVX2 direct_b's few-row products and the blocked
// path's products of one short k block read the residual in their stores; the blocked path adds
// it in residual_pass otherwise.
template <int R, int H>
inline void prefetch_residual(const Store* st, int half) {
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int h = 0; h < H; h++) {
            _mm_prefetch((const char*)(st->z + r * st->ldz + h * half), _MM_HINT_T0);
            _mm_prefetch((const char*)(st->z + (r + R) * st->ldz + h * half), _MM_HINT_T1);
        }
}

// Row r's 8 lanes (half h of the block; m its valid lanes) as add_bias, then apply_epilogue
// (conv2d_epilogue.h) would round them: c + b, + z, then Relu or Clip by compares (false for NaN,
// which stays NaN). The AVX2 twin of residual_act512.
inline __m256 finish256(__m256 v, const Store* st, int r, int h, __m256i m) {
    if (st->bias) v = _mm256_add_ps(v, _mm256_set1_ps(st->bias[r]));
    if (st->z) v = _mm256_add_ps(v, _mm256_maskload_ps(st->z + r * st->ldz + 8 * h, m));
    return act256(v, st->act, st->lo, st->hi);
}
#endif

// The residual and activation of ep for C's block of rows [i0, i0 + mc) and columns [j0, j0 + nc),
// from the kernels' stores with the bias alone, at s (row i at s + (i - i0) * lds: C's block itself,
// or a scratch copy): c + z, then Relu or Clip by compares, as finish256 rounds them (NaN stays
// NaN), into C; streamed past the caches when ep.stream and a row's run is 32-byte aligned.
void residual_pass(const GemmEpilogue& ep, const float* s, int64_t lds, float* c, int64_t ldc, int i0, int mc,
                   int64_t j0, int nc) {
    for (int i = i0; i < i0 + mc; i++, s += lds) {
        float* y = c + i * ldc + j0;
        const float* z = ep.z + i * ep.ldz + j0;
        int j = 0;
#if defined(__AVX2__) && defined(__FMA__)
        const bool stream = ep.stream && ((uintptr_t)y & 31) == 0;
        for (; j + 8 <= nc; j += 8) {
            const __m256 v = act256(_mm256_add_ps(_mm256_loadu_ps(s + j), _mm256_loadu_ps(z + j)), ep.act, ep.lo, ep.hi);
            if (stream) _mm256_stream_ps(y + j, v);
            else _mm256_storeu_ps(y + j, v);
        }
#endif
        for (; j < nc; j++) {
            float v = s[j] + z[j];
            if (ep.act == SALIENT_ACT_RELU) v = v < 0.f ? 0.f : v;
            else if (ep.act == SALIENT_ACT_CLIP) v = v < ep.lo ? ep.lo : (v > ep.hi ? ep.hi : v);
            y[j] = v;
        }
    }
}

// C[r][j], r < R, j < cols: load (or zero when !load), then for each of kc steps
// acc = fma(a_r, B[p*bs + j], acc), then store, where a_r = A[r*rs + p*ps], times
// alpha when Scale (rounded as pack_a rounds it). H 8-lane halves of the kNR
// columns are computed (H = 1 for a panel's last <= 8 columns); every lane's
// chain is the same whatever R, H and bs. B is a packed panel (bs = kNR, zeros
// past cols) or B itself (bs = ldb), then all 8*H columns must be readable.
template <int R, int H, bool Scale>
__attribute__((always_inline)) inline void kernel(int kc, const float* A, int64_t rs, int64_t ps, float alpha,
                                                  const float* B, int64_t bs, float* C, int64_t ldc, int cols,
                                                  bool load, const Store* st) {
#if defined(__AVX2__) && defined(__FMA__)
    alignas(32) static const int kLanes[24] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                               -1, -1, -1, -1, 0,  0,  0,  0,  0,  0,  0,  0};
    // masks of the valid columns in the two 8-lane halves
    const __m256i m0 = _mm256_loadu_si256((const __m256i*)(kLanes + 16 - std::min(cols, 8)));
    const __m256i m1 = _mm256_loadu_si256((const __m256i*)(kLanes + 16 - std::max(0, std::min(cols - 8, 8))));
    __m256 c0[R], c1[R];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        c0[r] = load ? _mm256_maskload_ps(C + r * ldc, m0) : _mm256_setzero_ps();
        c1[r] = load && H == 2 ? _mm256_maskload_ps(C + r * ldc + 8, m1) : _mm256_setzero_ps();
    }
    if (st && st->z) prefetch_residual<R, H>(st, 8);
    // A's row r at step p: A[r * rs + p * ps] (packed: rs 1, ps kMR; or A itself, row- or column-major)
    const float* a[R];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) a[r] = A + r * rs;
    const __m256 va = _mm256_set1_ps(alpha);
    for (int p = 0; p < kc; p++, B += bs) {
        const __m256 b0 = _mm256_loadu_ps(B), b1 = H == 2 ? _mm256_loadu_ps(B + 8) : b0;
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            __m256 av = _mm256_broadcast_ss(a[r]);
            if (Scale) av = _mm256_mul_ps(av, va);
            a[r] += ps;
            c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
            if (H == 2) c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
        }
    }
    if (st) {
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            c0[r] = finish256(c0[r], st, r, 0, m0);
            if (H == 2) c1[r] = finish256(c1[r], st, r, 1, m1);
        }
        if (st->stream && H == 2 && cols == 16 && ((uintptr_t)C & 63) == 0 && ((ldc * 4) & 63) == 0) {
#pragma GCC unroll 6
            for (int r = 0; r < R; r++) {
                _mm256_stream_ps(C + r * ldc, c0[r]);
                _mm256_stream_ps(C + r * ldc + 8, c1[r]);
            }
            return;
        }
    }
    if (cols == 8 * H) {
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            _mm256_storeu_ps(C + r * ldc, c0[r]);
            if (H == 2) _mm256_storeu_ps(C + r * ldc + 8, c1[r]);
        }
    } else {
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            _mm256_maskstore_ps(C + r * ldc, m0, c0[r]);
            if (H == 2) _mm256_maskstore_ps(C + r * ldc + 8, m1, c1[r]);
        }
    }
#else
    float acc[R][kNR];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < kNR; j++) acc[r][j] = load && j < cols ? C[r * ldc + j] : 0.f;
    for (int p = 0; p < kc; p++, B += bs)
        for (int r = 0; r < R; r++) {
            const float av = Scale ? alpha * A[r * rs + p * ps] : A[r * rs + p * ps];
            for (int j = 0; j < std::min(cols, 8 * H); j++) acc[r][j] = __builtin_fmaf(av, B[j], acc[r][j]);
        }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < cols; j++) {
            float v = acc[r][j];
            if (st) {  // as add_bias, then apply_epilogue
                if (st->bias) v = v + st->bias[r];
                if (st->z) v = v + st->z[r * st->ldz + j];
                if (st->act == SALIENT_ACT_RELU) v = v < 0.f ? 0.f : v;
                else if (st->act == SALIENT_ACT_CLIP) v = v < st->lo ? st->lo : (v > st->hi ? st->hi : v);
            }
            C[r * ldc + j] = v;
        }
#endif
}

using Kernel = void (*)(int, const float*, int64_t, int64_t, float, const float*, int64_t, float*, int64_t, int, bool,
                        const Store*);

// kernel<R, 2, false> on `count` full-width register blocks in one call: Across, a stripe of blocks
// side by side (a short k block; block t's B panel `step` floats on, its C and residual kNR columns
// on), else a column one above another on one B panel (block t's A `step` floats on, its C, bias
// and residual R rows on). A call a block spent as long setting up as multiplying (k = 16: 96 FMA
// cycles a block).
template <int R, bool Across>
void blocks(int kc, const float* A, int64_t rs, int64_t ps, const float* B, int64_t step, float* C, int64_t ldc,
            int count, bool load, const Store* st) {
    Store s;
    if (st) s = *st;
    for (int t = 0; t < count; t++) {
        kernel<R, 2, false>(kc, A, rs, ps, 1.f, B, kNR, C, ldc, kNR, load, st ? &s : nullptr);
        if (Across) {
            B += step, C += kNR;
            if (st && s.z) s.z += kNR;
        } else {
            A += step, C += R * ldc;
            if (st && s.bias) s.bias += R;
            if (st && s.z) s.z += R * s.ldz;
        }
    }
}

using Stripe = void (*)(int, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, int, bool,
                        const Store*);

// blocks<rows, true> for 1 <= rows <= kMR
Stripe pick_stripe(int rows) {
    switch (rows) {
        case 1: return blocks<1, true>;
        case 2: return blocks<2, true>;
        case 3: return blocks<3, true>;
        case 4: return blocks<4, true>;
        case 5: return blocks<5, true>;
        default: return blocks<6, true>;
    }
}

// kernel<rows, H, scale> for 1 <= rows <= kMR and 1 <= cols <= kNR
template <int R>
Kernel pick_rows(int cols, bool scale) {
    if (cols > 8) return scale ? kernel<R, 2, true> : kernel<R, 2, false>;
    return scale ? kernel<R, 1, true> : kernel<R, 1, false>;
}
Kernel pick(int rows, int cols, bool scale) {
    switch (rows) {
        case 1: return pick_rows<1>(cols, scale);
        case 2: return pick_rows<2>(cols, scale);
        case 3: return pick_rows<3>(cols, scale);
        case 4: return pick_rows<4>(cols, scale);
        case 5: return pick_rows<5>(cols, scale);
        default: return pick_rows<6>(cols, scale);
    }
}

#if SALIENT_HAVE_AVX512
SALIENT_AVX512_BEGIN
// Row r's 16 lanes (half h of the block) as add_bias, then apply_epilogue (conv2d_epilogue.h) would
// round them: c + b, + z, then the activation by compares (false for NaN, which stays NaN).
inline __m512 finish512(__m512 v, const Store* st, int r, int h, __mmask16 m) {
    if (st->bias) v = _mm512_add_ps(v, _mm512_set1_ps(st->bias[r]));
    return residual_act512(v, st->z ? st->z + r * st->ldz + 16 * h : nullptr, m, st->act, st->lo, st->hi);
}

// kernel<> on AVX-512 for small_m (no epilogue: its products store C alone): R rows by up to 2
// kNR-column panels, each 16 lanes wide, the first panel's B at B0 + p * bs, the second's at
// B1 + p * bs (H = 2; cols > kNR). Each lane runs the AVX2 kernel's chain, so the bits are the same.
// Loads and stores of C are masked to cols.
template <int R, int H, bool Scale>
void kernel512(int kc, const float* A, int64_t rs, int64_t ps, float alpha, const float* B0, const float* B1,
               int64_t bs, float* C, int64_t ldc, int cols, bool load) {
    const __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
    const __mmask16 m1 = cols >= 32 ? (__mmask16)0xFFFF : cols <= 16 ? (__mmask16)0 : (__mmask16)((1u << (cols - 16)) - 1);
    __m512 c0[R], c1[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        c0[r] = load ? _mm512_maskz_loadu_ps(m0, C + r * ldc) : _mm512_setzero_ps();
        c1[r] = load && H == 2 ? _mm512_maskz_loadu_ps(m1, C + r * ldc + 16) : _mm512_setzero_ps();
    }
    const float* a[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) a[r] = A + r * rs;
    const __m512 va = _mm512_set1_ps(alpha);
    for (int p = 0; p < kc; p++, B0 += bs, B1 += bs) {
        const __m512 b0 = _mm512_loadu_ps(B0), b1 = H == 2 ? _mm512_loadu_ps(B1) : b0;
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            __m512 av = _mm512_set1_ps(*a[r]);
            if (Scale) av = _mm512_mul_ps(av, va);
            a[r] += ps;
            c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
            if (H == 2) c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        _mm512_mask_storeu_ps(C + r * ldc, m0, c0[r]);
        if (H == 2) _mm512_mask_storeu_ps(C + r * ldc + 16, m1, c1[r]);
    }
}
SALIENT_AVX512_END
#endif

#if SALIENT_HAVE_AVX512
SALIENT_AVX512_BEGIN
// The blocked path's AVX-512 kernel: R rows by H kNR-column panels (H <= 4), panel h's B at
// B + h * pstride + p * kNR; the same chains as kernel512, so the same bits. Four panels keep 24
// accumulators where kernel512's two keep 12, and the step loop is unrolled: a 6 x 64 block of C ran
// at 197-205 GFLOP/s per core with its operands in L1, 6 x 32 at 185-190, and 6 x 32 not unrolled
// (kernel512 as it was) at 167-176 (Xeon, one core; the FMA peak 236).
// Direct: B read where it lies instead (row p at B + p * ldb, panel h 16 floats on, masked to cols),
// each step fetching, for each panel h in fetch.panels, the line fetch.on floats past that panel's row
// (gemm's rows_direct).
template <int R, int H, bool Direct = false>
void kernel512w(int kc, const float* A, int64_t rs, int64_t ps, const float* B, int64_t pstride, float* C, int64_t ldc,
                int cols, bool load, const Store* st, int64_t ldb = 0, Fetch fetch = {}) {
    __mmask16 m[H];
#pragma GCC unroll 4
    for (int h = 0; h < H; h++) {
        const int c = cols - 16 * h;
        m[h] = c >= 16 ? (__mmask16)0xFFFF : c <= 0 ? (__mmask16)0 : (__mmask16)((1u << c) - 1);
    }
    __m512 acc[R][H];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int h = 0; h < H; h++) acc[r][h] = load ? _mm512_maskz_loadu_ps(m[h], C + r * ldc + 16 * h) : _mm512_setzero_ps();
    if (st && st->z) prefetch_residual<R, H>(st, 16);
    const float* a[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) a[r] = A + r * rs;
    // one step: acc[r][h] = fma(A[r][p], B[p][panel h], acc[r][h])
    const auto step = [&](const float* bp, bool direct) {
        __m512 b[H];
#pragma GCC unroll 4
        for (int h = 0; h < H; h++) b[h] = direct ? _mm512_maskz_loadu_ps(m[h], bp + 16 * h) : _mm512_loadu_ps(bp + h * pstride);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const __m512 av = _mm512_set1_ps(*a[r]);
            a[r] += ps;
#pragma GCC unroll 4
            for (int h = 0; h < H; h++) acc[r][h] = _mm512_fmadd_ps(av, b[h], acc[r][h]);
        }
    };
    if (!Direct) {
#pragma GCC unroll 4
        for (int p = 0; p < kc; p++, B += kNR) step(B, false);
    } else if (fetch.panels) {
        for (int p = 0; p < kc; p++, B += ldb) {
#pragma GCC unroll 4
            for (int h = 0; h < kWide; h++)
                if (fetch.panels >> h & 1) _mm_prefetch((const char*)(B + fetch.on + 16 * h), _MM_HINT_T0);
            step(B, true);
        }
    } else {
#pragma GCC unroll 4
        for (int p = 0; p < kc; p++, B += ldb) step(B, true);
    }
    if (st) {
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int h = 0; h < H; h++) acc[r][h] = finish512(acc[r][h], st, r, h, m[h]);
    }
    if (st && st->stream && cols == 16 * H && ((uintptr_t)C & 63) == 0 && ((ldc * 4) & 63) == 0) {
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int h = 0; h < H; h++) _mm512_stream_ps(C + r * ldc + 16 * h, acc[r][h]);
        return;
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int h = 0; h < H; h++) _mm512_mask_storeu_ps(C + r * ldc + 16 * h, m[h], acc[r][h]);
}
SALIENT_AVX512_END

using Kernel512w = void (*)(int, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, int, bool,
                            const Store*, int64_t, Fetch);

template <int R, bool Direct>
Kernel512w pick512w_rows(int cols) {
    switch ((cols + kNR - 1) / kNR) {
        case 1: return kernel512w<R, 1, Direct>;
        case 2: return kernel512w<R, 2, Direct>;
        case 3: return kernel512w<R, 3, Direct>;
        default: return kernel512w<R, 4, Direct>;
    }
}
// kernel512w<rows, panels, Direct> for 1 <= rows <= kMR and 1 <= cols <= kWide kNR (Direct: B read
// where it lies)
template <bool Direct = false>
Kernel512w pick512w(int rows, int cols) {
    switch (rows) {
        case 1: return pick512w_rows<1, Direct>(cols);
        case 2: return pick512w_rows<2, Direct>(cols);
        case 3: return pick512w_rows<3, Direct>(cols);
        case 4: return pick512w_rows<4, Direct>(cols);
        case 5: return pick512w_rows<5, Direct>(cols);
        default: return pick512w_rows<6, Direct>(cols);
    }
}
#endif

using Kernel512 = void (*)(int, const float*, int64_t, int64_t, float, const float*, const float*, int64_t, float*,
                           int64_t, int, bool);

#if SALIENT_HAVE_AVX512
template <int R>
Kernel512 pick512_rows(int cols, bool scale) {
    if (cols > kNR) return scale ? kernel512<R, 2, true> : kernel512<R, 2, false>;
    return scale ? kernel512<R, 1, true> : kernel512<R, 1, false>;
}
// kernel512<rows, H, scale> for 1 <= rows <= kMR and 1 <= cols <= 2 kNR
Kernel512 pick512(int rows, int cols, bool scale) {
    switch (rows) {
        case 1: return pick512_rows<1>(cols, scale);
        case 2: return pick512_rows<2>(cols, scale);
        case 3: return pick512_rows<3>(cols, scale);
        case 4: return pick512_rows<4>(cols, scale);
        case 5: return pick512_rows<5>(cols, scale);
        default: return pick512_rows<6>(cols, scale);
    }
}
#endif

// C[i][j0..j0+n) for one row i of a row-major B, P steps p0 .. p0+P-1: acc = C (0
// when !load), then acc = fma(av[q], B[(p0+q)*ldb + j], acc) for q = 0 .. P-1 in
// order, then store. The P rows of B are read front to back, side by side.
template <int P>
void rows_step(const float* av, const float* B, int64_t ldb, float* C, int n, bool load) {
#if defined(__AVX2__) && defined(__FMA__)
    __m256 a[P];
#pragma GCC unroll 8
    for (int q = 0; q < P; q++) a[q] = _mm256_set1_ps(av[q]);
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 acc = load ? _mm256_loadu_ps(C + j) : _mm256_setzero_ps();
#pragma GCC unroll 8
        for (int q = 0; q < P; q++) acc = _mm256_fmadd_ps(a[q], _mm256_loadu_ps(B + q * ldb + j), acc);
        _mm256_storeu_ps(C + j, acc);
    }
    if (j < n) {
        alignas(32) static const int kLanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
        const __m256i mask = _mm256_loadu_si256((const __m256i*)(kLanes + 8 - (n - j)));
        __m256 acc = load ? _mm256_maskload_ps(C + j, mask) : _mm256_setzero_ps();
#pragma GCC unroll 8
        for (int q = 0; q < P; q++) acc = _mm256_fmadd_ps(a[q], _mm256_maskload_ps(B + q * ldb + j, mask), acc);
        _mm256_maskstore_ps(C + j, mask, acc);
    }
#else
    for (int j = 0; j < n; j++) {
        float acc = load ? C[j] : 0.f;
        for (int q = 0; q < P; q++) acc = __builtin_fmaf(av[q], B[q * ldb + j], acc);
        C[j] = acc;
    }
#endif
}

// Few rows times a row-major B (!trans_b): kRowSteps rows of B at a time, each
// row of C swept across all n columns, so B streams from memory front to back
// and C stays in L1.
constexpr int kRowSteps = 8;
void small_m_rows(bool trans_a, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
                  float beta, float* c, int ldc) {
    for (int p0 = 0; p0 < k; p0 += kRowSteps) {
        const int pc = std::min(kRowSteps, k - p0);
        const bool load = p0 > 0 || beta != 0.f;
        const float* bp = b + (int64_t)p0 * ldb;
        for (int i = 0; i < m; i++) {
            float av[kRowSteps];  // alpha * A[i][p0 + q], rounded as pack_a rounds it
            for (int q = 0; q < pc; q++)
                av[q] = alpha * (trans_a ? a[(int64_t)(p0 + q) * lda + i] : a[(int64_t)i * lda + p0 + q]);
            float* cr = c + (int64_t)i * ldc;
            switch (pc) {
                case 8: rows_step<8>(av, bp, ldb, cr, n, load); break;
                case 7: rows_step<7>(av, bp, ldb, cr, n, load); break;
                case 6: rows_step<6>(av, bp, ldb, cr, n, load); break;
                case 5: rows_step<5>(av, bp, ldb, cr, n, load); break;
                case 4: rows_step<4>(av, bp, ldb, cr, n, load); break;
                case 3: rows_step<3>(av, bp, ldb, cr, n, load); break;
                case 2: rows_step<2>(av, bp, ldb, cr, n, load); break;
                default: rows_step<1>(av, bp, ldb, cr, n, load); break;
            }
        }
    }
}

// C[r][l], r < R, l < cols <= 8G, for a transposed B (n,k): lane l is a column
// of C whose B values are the row s[l] (a valid row, repeated past cols). Per 4
// steps, each 8-column group's 4x8 block of B is transposed in registers (half-row
// loads into both 128-bit lanes, then 8 shuffles), so nothing is packed; then
// acc = fma(a_r, B, acc) step by step in order, as kernel<> does, where
// a_r = A[r*rs + p*ps] (times alpha when Scale). G groups give R*G independent
// chains to cover the FMA latency.
template <int R, int G, bool Scale>
void kernel_bt(int k, const float* A, int64_t rs, int64_t ps, float alpha, const float* const* s, float* C,
               int64_t ldc, int cols, bool load) {
#if defined(__AVX2__) && defined(__FMA__)
    alignas(32) static const int kLanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    __m256i mask[G];
    __m256 acc[R][G];
#pragma GCC unroll 4
    for (int g = 0; g < G; g++) {
        mask[g] = _mm256_loadu_si256((const __m256i*)(kLanes + 8 - std::max(0, std::min(8, cols - 8 * g))));
#pragma GCC unroll 6
        for (int r = 0; r < R; r++)
            acc[r][g] = load ? _mm256_maskload_ps(C + r * ldc + 8 * g, mask[g]) : _mm256_setzero_ps();
    }
    const float* a[R];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) a[r] = A + r * rs;
    const __m256 va = _mm256_set1_ps(alpha);
    // group g's rows l and l+4 at steps p+q .. p+q+3, side by side in the two 128-bit lanes,
    // transposed: step p+q+t's 8 columns, t = 0..3, each into the group's R chains
    auto block = [&](int g, int p) {
        const float* const* sg = s + 8 * g;
        const __m256 r04 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(sg[0] + p)), _mm_loadu_ps(sg[4] + p), 1);
        const __m256 r15 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(sg[1] + p)), _mm_loadu_ps(sg[5] + p), 1);
        const __m256 r26 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(sg[2] + p)), _mm_loadu_ps(sg[6] + p), 1);
        const __m256 r37 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(sg[3] + p)), _mm_loadu_ps(sg[7] + p), 1);
        const __m256 t0 = _mm256_unpacklo_ps(r04, r15), t1 = _mm256_unpackhi_ps(r04, r15);
        const __m256 t2 = _mm256_unpacklo_ps(r26, r37), t3 = _mm256_unpackhi_ps(r26, r37);
        const __m256 bt[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE),
                              _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xEE)};
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
#pragma GCC unroll 6
            for (int r = 0; r < R; r++) {
                __m256 av = _mm256_broadcast_ss(a[r] + (p + t) * ps);
                if (Scale) av = _mm256_mul_ps(av, va);
                acc[r][g] = _mm256_fmadd_ps(av, bt[t], acc[r][g]);
            }
    };
    // 16 steps (a cache line of each row) of one group at a time, group g kSkew
    // blocks of 16 steps behind group g-1: rows whose length is a multiple of 4 KB
    // share cache sets, so the groups' lines at the same step (and the lines
    // prefetched ahead of them) would evict one another. Measured on Zen 3, m = 1,
    // n = 1000, k = 2048: 0.40 ms with a skew of 1 block, 0.29 ms with 8.
    const int blocks = k / 16;
    for (int t = 0; t < blocks + kSkew * (G - 1); t++) {
#pragma GCC unroll 4
        for (int g = 0; g < G; g++) {
            const int blk = t - kSkew * g;
            if (blk < 0 || blk >= blocks) continue;
            block(g, 16 * blk);
            block(g, 16 * blk + 4);
            block(g, 16 * blk + 8);
            block(g, 16 * blk + 12);
        }
    }
    int p = 16 * blocks;
    for (; p + 4 <= k; p += 4) {
#pragma GCC unroll 4
        for (int g = 0; g < G; g++) block(g, p);
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) a[r] += p * ps;
    for (; p < k; p++) {
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            __m256 av = _mm256_broadcast_ss(a[r]);
            if (Scale) av = _mm256_mul_ps(av, va);
            a[r] += ps;
#pragma GCC unroll 4
            for (int g = 0; g < G; g++) {
                const float* const* sg = s + 8 * g;
                const __m256 bv = _mm256_setr_ps(sg[0][p], sg[1][p], sg[2][p], sg[3][p], sg[4][p], sg[5][p], sg[6][p], sg[7][p]);
                acc[r][g] = _mm256_fmadd_ps(av, bv, acc[r][g]);
            }
        }
    }
#pragma GCC unroll 4
    for (int g = 0; g < G; g++)
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            if (cols >= 8 * (g + 1)) _mm256_storeu_ps(C + r * ldc + 8 * g, acc[r][g]);
            else _mm256_maskstore_ps(C + r * ldc + 8 * g, mask[g], acc[r][g]);
        }
#else
    float acc[R][8 * G];
    for (int r = 0; r < R; r++)
        for (int l = 0; l < 8 * G; l++) acc[r][l] = load && l < cols ? C[r * ldc + l] : 0.f;
    for (int p = 0; p < k; p++)
        for (int r = 0; r < R; r++) {
            const float av = Scale ? alpha * A[r * rs + p * ps] : A[r * rs + p * ps];
            for (int l = 0; l < 8 * G; l++) acc[r][l] = __builtin_fmaf(av, s[l][p], acc[r][l]);
        }
    for (int r = 0; r < R; r++)
        for (int l = 0; l < cols; l++) C[r * ldc + l] = acc[r][l];
#endif
}

using KernelBt = void (*)(int, const float*, int64_t, int64_t, float, const float* const*, float*, int64_t, int, bool);

// Column groups per row count: at least 4 chains, at most 8 accumulators.
constexpr int kBtGroups[kMR + 1] = {0, 4, 4, 2, 2, 1, 1};

KernelBt pick_bt(int rows, bool scale) {
    switch (rows) {
        case 1: return scale ? kernel_bt<1, kBtGroups[1], true> : kernel_bt<1, kBtGroups[1], false>;
        case 2: return scale ? kernel_bt<2, kBtGroups[2], true> : kernel_bt<2, kBtGroups[2], false>;
        case 3: return scale ? kernel_bt<3, kBtGroups[3], true> : kernel_bt<3, kBtGroups[3], false>;
        case 4: return scale ? kernel_bt<4, kBtGroups[4], true> : kernel_bt<4, kBtGroups[4], false>;
        case 5: return scale ? kernel_bt<5, kBtGroups[5], true> : kernel_bt<5, kBtGroups[5], false>;
        default: return scale ? kernel_bt<6, kBtGroups[6], true> : kernel_bt<6, kBtGroups[6], false>;
    }
}

// Few rows times a transposed B: 8G columns of C (8G rows of B, read front to back
// side by side) over all of k at a time, G chosen by the rows of the block.
void small_m_bt(bool trans_a, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
                float beta, float* c, int ldc) {
    const bool scale = alpha != 1.f, load = beta != 0.f;
    for (int i0 = 0; i0 < m; i0 += kMR) {
        const int rows = std::min(kMR, m - i0), width = 8 * kBtGroups[rows];
        const KernelBt run = pick_bt(rows, scale);
        const float* ap = trans_a ? a + i0 : a + (int64_t)i0 * lda;
        for (int j0 = 0; j0 < n; j0 += width) {
            const int cols = std::min(width, n - j0);
            const float* s[32];
            for (int l = 0; l < width; l++) s[l] = b + (int64_t)(j0 + std::min(l, cols - 1)) * ldb;
            run(k, ap, trans_a ? 1 : lda, trans_a ? lda : 1, alpha, s, c + (int64_t)i0 * ldc + j0, ldc, cols, load);
        }
    }
}

// One panel of kNR columns of C at a time, over all of k, all rows: B read where it lies (full
// panels of a row-major B) or packed into one panel (pb, in L1); A where it lies, times alpha in the
// kernel; ep (alpha 1, beta 0) in the last k block's stores. With ahead > 0 the panel `ahead`
// panels on is fetched, a line of each of B's k rows (direct_b).
void panels(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
            int ldb, float beta, float* c, int ldc, float* pb, const GemmEpilogue* ep, int ahead) {
    const bool scale = alpha != 1.f;
    for (int j0 = 0; j0 < n; j0 += kNR) {
        const int cols = std::min(kNR, n - j0);
#if defined(__AVX2__) && defined(__FMA__)
        if (ahead > 0 && j0 + ahead * kNR < n)
            for (int p = 0; p < k; p++)
                _mm_prefetch((const char*)(b + (int64_t)p * ldb + j0 + ahead * kNR), _MM_HINT_T0);
#endif
        for (int p0 = 0; p0 < k; p0 += kKC) {
            const int kc = std::min(kKC, k - p0);
            const bool load = p0 > 0 || beta != 0.f, last = p0 + kc >= k;
            const float* bp;
            int64_t bs;
            if (!trans_b && cols == kNR) {
                bp = b + (int64_t)p0 * ldb + j0;
                bs = ldb;
            } else {
                pack_b(trans_b, b, ldb, p0, kc, j0, cols, pb);
                bp = pb;
                bs = kNR;
            }
            for (int i0 = 0; i0 < m; i0 += kMR) {
                const int rows = std::min(kMR, m - i0);
                const float* ap = trans_a ? a + (int64_t)p0 * lda + i0 : a + (int64_t)i0 * lda + p0;
                const int64_t rs = trans_a ? 1 : lda, ps = trans_a ? lda : 1;
                Store st;
                const Store* sp = last && ep ? &(st = store_at(*ep, i0, j0)) : nullptr;
                pick(rows, cols, scale)(kc, ap, rs, ps, alpha, bp, bs, c + (int64_t)i0 * ldc + j0, ldc, cols, load, sp);
            }
        }
    }
}

// Products with few rows (m <= kSmallM, e.g. a classifier at batch 1): each row of
// op(B) is used by m rows only, so packing all of B would cost more than the
// product. One panel of kNR columns at a time, over all of k: read where B lies
// (full panels of a row-major B), or packed into one panel that stays in L1 (B
// transposed, 8x8 blocks at a time, and the last columns); A is read where it lies,
// times alpha in the kernel. The same chains as the blocked path.
void small_m(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
             int ldb, float beta, float* c, int ldc, float* pb) {
    const bool scale = alpha != 1.f;
#if SALIENT_HAVE_AVX512
    if (isa::avx512()) {  // two panels (2 kNR columns) at a time, 16 lanes each
        for (int j0 = 0; j0 < n; j0 += 2 * kNR) {
            const int cols = std::min(2 * kNR, n - j0);
            for (int p0 = 0; p0 < k; p0 += kKC) {
                const int kc = std::min(kKC, k - p0);
                const bool load = p0 > 0 || beta != 0.f;
                const float* bp;
                int64_t bs, second;
                if (!trans_b && cols == 2 * kNR) {
                    bp = b + (int64_t)p0 * ldb + j0, bs = ldb, second = kNR;
                } else {
                    pack_b(trans_b, b, ldb, p0, kc, j0, cols, pb);
                    bp = pb, bs = kNR, second = (int64_t)kc * kNR;
                }
                for (int i0 = 0; i0 < m; i0 += kMR) {
                    const int rows = std::min(kMR, m - i0);
                    const float* ap = trans_a ? a + (int64_t)p0 * lda + i0 : a + (int64_t)i0 * lda + p0;
                    const int64_t rs = trans_a ? 1 : lda, ps = trans_a ? lda : 1;
                    pick512(rows, cols, scale)(kc, ap, rs, ps, alpha, bp, bp + second, bs, c + (int64_t)i0 * ldc + j0,
                                               ldc, cols, load);
                }
            }
        }
        return;
    }
#endif
    panels(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pb, nullptr, 0);
}

// A large row-major B times a small A (a pointwise conv's projection: m <= kDirectM output channels,
// B its input of k channels x n positions, streamed from memory): each value of B is used by m rows
// only, so packing B costs about as much as the product. Full panels of kNR columns are read where
// B lies, a cache line of each of its k rows, while A (m x k, at most kDirectA floats) stays in L1.
// B's rows are k streams far apart, more than the hardware prefetchers follow, so each panel's
// lines are fetched ahead, about kDirectAhead / (m k) panels (~kDirectAhead * 32 flops) ahead to
// cover a trip to memory. The same chains as the blocked path; ep applied in the last k block's stores.
// Measured on Zen 3 (AVX2), MobileNetV2's batch-32 projections, alternating pairs: 144 -> 24 at 56x56
// 1.16x, 96 -> 24 at 56x56 1.11x, 192 -> 32 and 144 -> 32 at 28x28 1.16-1.20x; at batch 1, whose
// input is in L3, 0.99-1.05x. Below kDirectMinA floats of A (MobileNetV2's 32 -> 16 at 112x112)
// the panels are too short for the fetches to arrive in time (0.6x), and the packed path stays.
void direct_b(bool trans_a, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
              float beta, float* c, int ldc, float* pb, const GemmEpilogue* ep) {
    panels(trans_a, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pb, ep,
           std::max(1, std::min(8, kDirectAhead / (m * k))));
}

}  // namespace

namespace {

// Whether gemm reads B where it lies (its rows_direct) rather than packing it: AVX-512, a small A (up
// to kDirectM rows) times a row-major B, alpha 1, no packer, and one k block or B in the caches.
inline bool reads_b_in_place(bool trans_b, float alpha, int m, int k, bool b_cached, bool packer) {
    return isa::avx512() && (b_cached || k <= kKC) && !packer && !trans_b && alpha == 1.f && m <= kDirectM;
}

// The product; with ep (alpha 1, beta 0), true when the kernels applied it as they stored C.
// With packer, B is what it packs (b unused, !trans_b): only the blocked path, whose packs
// sgemm_canonical_packer has allocated first.
bool gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
          int ldb, float beta, float* c, int ldc, const GemmEpilogue* ep, const BPacker* packer = nullptr) {
    if (m <= 0 || n <= 0) return true;
    // the chain starts from beta * C (from 0 when beta is 0: C may hold anything)
    if (beta != 0.f && beta != 1.f)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) c[(int64_t)i * ldc + j] *= beta;
    if (k <= 0 || alpha == 0.f) {
        if (beta == 0.f)
            for (int i = 0; i < m; i++) std::memset(c + (int64_t)i * ldc, 0, sizeof(float) * n);
        return false;
    }
    if (!trans_b && m <= kRowsM && !packer) {
        small_m_rows(trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return false;
    }
    // with a transposed B, A is read once per few columns: only while it stays in L2
    const bool a_fits = (int64_t)m * k <= kSmallA;
    if (trans_b && m <= kMR && a_fits && !packer) {
        small_m_bt(trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return false;
    }
    float* pa = pack_buffer(g_packs.a, (size_t)kMC * kKC);
    float* pb = pack_buffer(g_packs.b, (size_t)kNC * kKC);
    if (!pa || !pb) {  // no memory for the packs: the same chains, unblocked
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                float acc = beta == 0.f ? 0.f : c[(int64_t)i * ldc + j];
                for (int p = 0; p < k; p++) {
                    const float av = trans_a ? a[(int64_t)p * lda + i] : a[(int64_t)i * lda + p];
                    const float bv = trans_b ? b[(int64_t)j * ldb + p] : b[(int64_t)p * ldb + j];
                    acc = __builtin_fmaf(alpha * av, bv, acc);
                }
                c[(int64_t)i * ldc + j] = acc;
            }
        return false;
    }
    if (trans_b && m <= kSmallM && a_fits && !packer) {
        small_m(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pb);
        return false;
    }
    if (!packer && !trans_b && m <= kDirectM && m * k >= kDirectMinA && m * k <= kDirectA && (int64_t)k * n >= kDirectB &&
        !isa::avx512()) {
        direct_b(trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pb, ep);
        return ep != nullptr;
    }
    // With a residual on AVX2, the kernels store C with its bias alone and each block of kMC rows and
    // kNC columns gets the residual and activation in a pass right after its last k block, while it
    // is in L2 (residual_pass): the kernel's stores read the residual 16 lanes of each row at a time,
    // its rows far apart, a pattern the hardware prefetchers do not follow. Measured on Zen 3, cold
    // residuals, ResNet-50's 1x1 expansions with the Add and Relu: batch 32 64 -> 256 at 56x56 39.2 ->
    // 29.0 ms and 128 -> 512 at 28x28 28.8 -> 24.1; batch 8 9.5 -> 7.4-8.3 and 7.2 -> 6.0; batch 1
    // 1.15 -> 0.95 and 0.83 -> 0.75. AVX-512 keeps the residual in the stores (21 -> 17-18.5 ms on
    // the batch-32 64 -> 256 there), and so does a product of one short k block (k <= kRowsOuterK),
    // whose kMR-row stripes read each row of the residual front to back: the same layers with the
    // stripes, residual pass against stores, 64 -> 256 batch 1 0.87-0.94 -> 0.67-0.71 ms, batch 8
    // 7.6 -> 6.7-7.0, batch 32 31 -> 29; 128 -> 512 batch 1 0.76 -> 0.65-0.68, batch 32 25 -> 23.5.
    // A product of one k block stores each block of C in a scratch block (in L2) instead, and the
    // pass writes C once, streamed past the caches where the output is large (ep->stream), so C's
    // lines are not read before they are written.
    GemmEpilogue inner;
    const bool zpass = ep && ep->z && !isa::avx512() && k > kRowsOuterK;
    float* scratch = zpass && k <= kKC ? pack_buffer(g_packs.c, (size_t)kMC * kScratchLd) : nullptr;
    if (zpass) {
        inner = *ep;
        inner.z = nullptr, inner.act = -1, inner.stream = false;  // C (or the scratch block) is read back at once
    }
    const GemmEpilogue* kep = zpass ? &inner : ep;
    // AVX-512, a small A times a row-major B: packing B would cost about as much as the product, which
    // reads each of its panels from L1 or L2 for every kMR rows. Where B is in L2 (ep->b_near), the
    // first kMR rows fetch its rows kDirectRowsAhead steps ahead. Where it comes from L3 or memory (one
    // k block, or any B in the caches), each of the ceil(m / kMR) row blocks fetches its share of the
    // next block's kWide panels (panel h by row block h mod blocks), so that B streams in over the
    // whole block's time rather than in a burst at its first rows. Zen 4, 2 threads,
    // scripts/profile/conv_cold.cpp: MobileNetV2's projections at batch 32 from memory, packed ->
    // streamed, 144 -> 24 at 56x56 6.9-7.3 -> 4.5 ms (ONNX Runtime's profile: 4.5), 96 -> 24 4.3-4.5 ->
    // 3.4, 192 -> 32 at 28x28 2.86 -> 1.87; the first block's rows alone fetching the next block 5.1-5.2
    // and 3.7. In the caches (two inputs rotating), rows ahead -> streamed: 144 -> 32 at 28x28 batch 32
    // (14 MiB) 1.51-1.59 -> 1.33-1.40 ms, 144 -> 24 at 56x56 batch 8 (14 MiB) 1.17-1.22 -> 0.97-1.04,
    // batch 4 (7 MiB) 0.48-0.50 -> 0.44; batch 2 (3.5 MiB) 213 -> 216 us, 96 -> 24 at batch 4 (4.6 MiB)
    // 302 -> 303-326 us, so B up to kNearInputBytes keeps the rows ahead.
    const bool rows_direct = ep && reads_b_in_place(trans_b, alpha, m, k, ep->b_cached, packer != nullptr);
    const int row_blocks = (m + kMR - 1) / kMR;
    for (int j0 = 0; j0 < n; j0 += kNC) {
        const int nc = std::min(kNC, n - j0);
        for (int p0 = 0; p0 < k; p0 += kKC) {
            const int kc = std::min(kKC, k - p0);
            const bool load = p0 > 0 || beta != 0.f;
#if SALIENT_HAVE_AVX512
            if (rows_direct) {
                // B read where it lies: a block of kWide panels down this k block's rows, each kMR rows
                // of A in turn; the first of them fetches the rows ahead (from L2 or L3), the rest find
                // them in L1
                const bool last = p0 + kc >= k;
                for (int jr = 0; jr < nc; jr += kWide * kNR) {
                    const int cols = std::min(kWide * kNR, nc - jr);
                    const float* bp = b + (int64_t)p0 * ldb + j0 + jr;
                    for (int ir = 0; ir < m; ir += kMR) {
                        Store st;
                        const Store* sp = last && ep->any() ? &(st = store_at(*ep, ir, j0 + jr)) : nullptr;
                        const float* ap = trans_a ? a + (int64_t)p0 * lda + ir : a + (int64_t)ir * lda + p0;
                        Fetch f;
                        if (ep->b_near) {
                            if (ir == 0) f = {kDirectRowsAhead * ldb, (1u << ((cols + kNR - 1) / kNR)) - 1};
                        } else {
                            f.on = kWide * kNR;
                            for (int h = ir / kMR; h < kWide; h += row_blocks) f.panels |= 1u << h;
                        }
                        pick512w<true>(std::min(kMR, m - ir), cols)(kc, ap, trans_a ? 1 : lda, trans_a ? lda : 1, bp, 0,
                                                              c + (int64_t)ir * ldc + j0 + jr, ldc, cols, load, sp, ldb, f);
                    }
                }
                continue;
            }
#endif
            if (packer) packer->fn(packer->ctx, p0, kc, j0, nc, pb);
            else pack_b(trans_b, b, ldb, p0, kc, j0, nc, pb);
            for (int i0 = 0; i0 < m; i0 += kMC) {
                const int mc = std::min(kMC, m - i0);
                // with alpha 1, full blocks of kMR rows are read from A where it lies (its rows or
                // columns are the kernel's operand as they are); the rest is packed
                const bool direct = alpha == 1.f;
                const int packed0 = direct ? mc / kMR * kMR : 0;
                if (packed0 < mc) pack_a(trans_a, a, lda, alpha, i0 + packed0, mc - packed0, p0, kc, pa);
                const bool last = p0 + kc >= k;  // the kernels apply ep in this k block's stores
#if SALIENT_HAVE_AVX512
                if (isa::avx512()) {  // kWide panels (kWide kNR columns) at a time, 16 lanes each
                    constexpr int kCols = kWide * kNR;
                    const bool stripes = kc <= kRowsOuterK;
                    const int ncr = (nc + kCols - 1) / kCols * kCols;
                    const auto block512 = [&](int ir, int jr) {
                        const float* bp = pb + (int64_t)(jr / kNR) * kc * kNR;
                        const int cols = std::min(kCols, nc - jr);
                        const int i = i0 + ir;
                        float* cp = c + (int64_t)i * ldc + j0 + jr;
                        Store st;
                        const Store* sp = last && ep ? &(st = store_at(*ep, i, j0 + jr)) : nullptr;
                        if (sp && sp->z) {  // the residual of the block kAhead * 2 kNR columns on (prefetch never faults)
                            int64_t at = stripes ? kAhead * 2 * kNR : kCols;  // stripes: along these rows
                            if (stripes && jr + at >= ncr) at += kMR * sp->ldz - ncr;  // the next stripe's
                            for (int r = 0; r < kMR; r++) {
                                const float* z = sp->z + r * sp->ldz + at;
                                for (int h = 0; h < kWide; h++) _mm_prefetch((const char*)(z + h * kNR), _MM_HINT_T0);
                            }
                        }
                        if (ir < packed0) {
                            const Kernel512w run = pick512w(kMR, cols);
                            if (trans_a) run(kc, a + (int64_t)p0 * lda + i, 1, lda, bp, (int64_t)kc * kNR, cp, ldc, cols, load, sp, 0, Fetch{});
                            else run(kc, a + (int64_t)i * lda + p0, lda, 1, bp, (int64_t)kc * kNR, cp, ldc, cols, load, sp, 0, Fetch{});
                        } else {
                            const int rows = std::min(kMR, mc - ir);
                            pick512w(rows, cols)(kc, pa + (int64_t)((ir - packed0) / kMR) * kc * kMR, 1, kMR, bp,
                                                 (int64_t)kc * kNR, cp, ldc, cols, load, sp, 0, Fetch{});
                        }
                    };
                    // Short k blocks go a kMR-row stripe across the block's columns at a time, as on AVX2,
                    // so a residual's rows are read front to back and fetched ahead along them (prefetch
                    // never faults, so fetching past a row's end is harmless). ResNet-50's 64 -> 256
                    // expansion at 56x56 with its residual and ReLU, batch 32, 2 threads (Xeon, AVX-512),
                    // alternating: 25.8-26.9 -> 15.6-16.0 ms a call; with the fetches ahead only, along
                    // column panels, 16.6-17.7. Whole forward at batch 32: ResNet-50 32.2-33.0 -> 34.0-35.1
                    // img/s, MobileNetV2 234-243 -> 235-250; batch 1 and DenseNet-121 within noise.
                    if (stripes) {
                        for (int ir = 0; ir < mc; ir += kMR)
                            for (int jr = 0; jr < nc; jr += kCols) block512(ir, jr);
                    } else {
                        for (int jr = 0; jr < nc; jr += kCols)
                            for (int ir = 0; ir < mc; ir += kMR) block512(ir, jr);
                    }
                    continue;
                }
#endif
                // the register blocks' operands at rows ir and columns jr of this block: C (or the
                // scratch block), A's rows (where A lies, or packed) and the stores' epilogue
                const int64_t ldcp = scratch ? kScratchLd : ldc;
                const auto c_at = [&](int ir, int jr) {
                    return scratch ? scratch + (int64_t)ir * kScratchLd + jr : c + (int64_t)(i0 + ir) * ldc + j0 + jr;
                };
                struct Rows {
                    const float* p;
                    int64_t rs, ps;
                };
                const auto a_at = [&](int ir) -> Rows {
                    if (ir >= packed0) return {pa + (int64_t)((ir - packed0) / kMR) * kc * kMR, 1, kMR};
                    if (trans_a) return {a + (int64_t)p0 * lda + i0 + ir, 1, lda};
                    return {a + (int64_t)(i0 + ir) * lda + p0, lda, 1};
                };
                const auto store = [&](int ir, int jr, Store& st) -> const Store* {
                    return last && kep && kep->any() ? &(st = store_at(*kep, i0 + ir, j0 + jr)) : nullptr;
                };
                const auto tile = [&](int ir, int jr) {
                    const Rows ar = a_at(ir);
                    const int cols = std::min(kNR, nc - jr);
                    Store st;
                    pick(std::min(kMR, mc - ir), cols, false)(kc, ar.p, ar.rs, ar.ps, 1.f, pb + (int64_t)(jr / kNR) * kc * kNR,
                                                             kNR, c_at(ir, jr), ldcp, cols, load, store(ir, jr, st));
                };
                // Each tile's chains are the same in either order, so the bits are too. With a short k
                // block (the whole packed B block in L2), each kMR rows of C go across the block's
                // columns before the next: kMR streams of stores a line after another, where column
                // panels outermost store a line of each of the block's kMC rows in turn, a pattern the
                // hardware prefetchers do not follow on the way to memory. Full-width blocks go a
                // stripe or a column in one call (blocks).
                if (kc <= kRowsOuterK) {
                    const int full = nc / kNR;
                    for (int ir = 0; ir < mc; ir += kMR) {
                        if (full > 0) {
                            const Rows ar = a_at(ir);
                            Store st;
                            pick_stripe(std::min(kMR, mc - ir))(kc, ar.p, ar.rs, ar.ps, pb, (int64_t)kc * kNR, c_at(ir, 0),
                                                                ldcp, full, load, store(ir, 0, st));
                        }
                        for (int jr = full * kNR; jr < nc; jr += kNR) tile(ir, jr);
                    }
                } else {
                    // full blocks of rows: those read where A lies, then the packed ones
                    const int direct_blocks = packed0 / kMR, packed_blocks = (mc - packed0) / kMR;
                    for (int jr = 0; jr < nc; jr += kNR) {
                        int ir = 0;
                        if (jr + kNR <= nc)
                            for (const int count : {direct_blocks, packed_blocks}) {
                                if (count == 0) continue;
                                const Rows ar = a_at(ir);
                                const int64_t astep = ir >= packed0 ? (int64_t)kc * kMR : trans_a ? kMR : (int64_t)kMR * lda;
                                Store st;
                                blocks<kMR, false>(kc, ar.p, ar.rs, ar.ps, pb + (int64_t)(jr / kNR) * kc * kNR, astep,
                                                   c_at(ir, jr), ldcp, count, load, store(ir, jr, st));
                                ir += count * kMR;
                            }
                        for (; ir < mc; ir += kMR) tile(ir, jr);
                    }
                }
                if (last && zpass) {
                    if (scratch) residual_pass(*ep, scratch, kScratchLd, c, ldc, i0, mc, j0, nc);
                    else residual_pass(*ep, c + (int64_t)i0 * ldc + j0, ldc, c, ldc, i0, mc, j0, nc);
                }
            }
        }
    }
    return ep != nullptr;
}


#if SALIENT_HAVE_AVX512
// ---- A pointwise conv's product over the positions of the whole batch (AVX-512; blas.h's
// BatchPlanes): each 16-lane panel of a register block lies at one or two places of its tensor, lanes
// m1 at base + off1 + i * hw for row i and, where the panel runs past an image's last position into
// the next image, lanes m2 at base + off2 + i * hw, off2 taken back by the lanes before them so that
// the lane numbers carry over.
struct PanelCol {
    int64_t off1, off2;
    __mmask16 m1, m2;
};

inline __mmask16 first_lanes(int64_t v) {
    return v >= 16 ? (__mmask16)0xFFFF : v <= 0 ? (__mmask16)0 : (__mmask16)((1u << v) - 1);
}

// Where panels [q0, q0 + 16 count) of tensor t lie (q0 a multiple of 16), into col
void panel_cols(const BatchPlanes& t, int64_t q0, int count, PanelCol* col) {
    int64_t img = q0 / t.hw, pos = q0 - img * t.hw;
    const int64_t plane = t.rows * t.hw;
    for (int h = 0; h < count; h++) {
        const int64_t q = q0 + 16 * h;
        const int64_t v1 = std::min<int64_t>(std::min<int64_t>(16, t.hw - pos), t.n - q);
        PanelCol c{img * plane + pos, 0, first_lanes(v1), 0};
        if (v1 > 0 && v1 < 16 && q + v1 < t.n) {  // the panel runs on into the next image
            const int64_t v2 = std::min<int64_t>(16 - v1, t.n - q - v1);
            c.off2 = (img + 1) * plane - v1;
            c.m2 = (__mmask16)(first_lanes(v2) << v1);
        }
        col[h] = c;
        pos += 16;  // hw >= 16: at most one image boundary a panel
        if (pos >= t.hw) pos -= t.hw, img++;
    }
}

// The lines of `rows` rows (ld apart) of `count` panels at col, from z
inline void prefetch_panels(const float* z, const PanelCol* col, int count, int rows, int64_t ld) {
    for (int h = 0; h < count; h++)
        for (int r = 0; r < rows; r++) {
            _mm_prefetch((const char*)(z + col[h].off1 + r * ld), _MM_HINT_T0);
            if (col[h].m2) _mm_prefetch((const char*)(z + col[h].off2 + r * ld + 15), _MM_HINT_T0);
        }
}

SALIENT_AVX512_BEGIN
// Lanes m1 of p1 and m2 of p2, the others 0
inline __m512 load_split(const float* p1, __mmask16 m1, const float* p2, __mmask16 m2) {
    const __m512 v = _mm512_maskz_loadu_ps(m1, p1);
    return m2 ? _mm512_mask_loadu_ps(v, m2, p2) : v;
}

// R rows by H panels of C (A packed by batch_pack, its row r of step p at A[p kMR + r]; panel h of B at
// B + h * pstride + p * kNR): the chains of kernel512w, so the same bits. C (and the residual Z, laid out
// as C) at col[h], rows ld apart; with last, the epilogue as finish512 rounds it: + bias, + z, then the
// activation.
template <int R, int H>
void kernel512p(int kc, const float* A, const float* B, int64_t pstride, float* C, const float* Z,
                const PanelCol* col, int64_t ld, bool load, bool last, const float* bias, int act, float lo, float hi,
                bool stream) {
    __m512 acc[R][H];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int h = 0; h < H; h++)
            acc[r][h] = load ? load_split(C + col[h].off1 + r * ld, col[h].m1, C + col[h].off2 + r * ld, col[h].m2)
                             : _mm512_setzero_ps();
    fma_steps<R, H, kMR>(kc, A, B, kNR, pstride, acc);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int h = 0; h < H; h++) {
            __m512 v = acc[r][h];
            if (last) {
                if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[r]));
                if (Z) v = _mm512_add_ps(v, load_split(Z + col[h].off1 + r * ld, col[h].m1, Z + col[h].off2 + r * ld, col[h].m2));
                v = residual_act512(v, nullptr, 0, act, lo, hi);
            }
            float* c1 = C + col[h].off1 + r * ld;
            if (stream && col[h].m1 == 0xFFFF && !col[h].m2 && ((uintptr_t)c1 & 63) == 0) {
                _mm512_stream_ps(c1, v);
                continue;
            }
            _mm512_mask_storeu_ps(c1, col[h].m1, v);
            if (col[h].m2) _mm512_mask_storeu_ps(C + col[h].off2 + r * ld, col[h].m2, v);
        }
}

// Rows [p0, p0 + kc) of B for the panels at col into dst, panel t at dst + t * kc * kNR (pack_b's
// layout), the lanes past the batch's positions zero
void gather_panels(const BatchPlanes& b, const PanelCol* col, int count, int p0, int kc, float* dst) {
    // row by row, so each row of B is read front to back (the hardware prefetchers follow it)
    for (int p = 0; p < kc; p++) {
        const float* s = b.base + (int64_t)(p0 + p) * b.hw;
        float* d = dst + (int64_t)p * kNR;
        for (int t = 0; t < count; t++, d += (int64_t)kc * kNR)
            _mm512_storeu_ps(d, load_split(s + col[t].off1, col[t].m1, s + col[t].off2, col[t].m2));
    }
}
SALIENT_AVX512_END

using Kernel512p = void (*)(int, const float*, const float*, int64_t, float*, const float*, const PanelCol*,
                            int64_t, bool, bool, const float*, int, float, float, bool);

template <int R>
Kernel512p pick512p_rows(int panels) {
    switch (panels) {
        case 1: return kernel512p<R, 1>;
        case 2: return kernel512p<R, 2>;
        case 3: return kernel512p<R, 3>;
        default: return kernel512p<R, 4>;
    }
}
Kernel512p pick512p(int rows, int panels) {
    switch (rows) {
        case 1: return pick512p_rows<1>(panels);
        case 2: return pick512p_rows<2>(panels);
        case 3: return pick512p_rows<3>(panels);
        case 4: return pick512p_rows<4>(panels);
        case 5: return pick512p_rows<5>(panels);
        default: return pick512p_rows<6>(panels);
    }
}
#endif

}  // namespace

void sgemm_canonical(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                     const float* b, int ldb, float beta, float* c, int ldc) {
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nullptr);
}

bool sgemm_canonical_packer(int m, int n, int k, const float* a, int lda, const BPacker& b, float* c, int ldc,
                            const GemmEpilogue& ep) {
    if (m <= 0 || n <= 0) return true;
    if (!pack_buffer(g_packs.a, (size_t)kMC * kKC) || !pack_buffer(g_packs.b, (size_t)kNC * kKC)) return false;
    if (k <= 0) return false;
    gemm(false, false, m, n, k, 1.f, a, lda, nullptr, 0, 0.f, c, ldc, ep.any() ? &ep : nullptr, &b);
#if defined(__AVX2__) && defined(__FMA__)
    if (ep.stream) _mm_sfence();
#endif
    return true;
}

bool sgemm_canonical_ep(bool trans_a, bool trans_b, int m, int n, int k, const float* a, int lda, const float* b,
                        int ldb, float* c, int ldc, const GemmEpilogue& ep) {
    // with nothing to apply, the epilogue still says where B lies, for a product that reads B in place
    if (!ep.any() && !reads_b_in_place(trans_b, 1.f, m, k, ep.b_cached, false)) {
        gemm(trans_a, trans_b, m, n, k, 1.f, a, lda, b, ldb, 0.f, c, ldc, nullptr);
        return true;
    }
    const bool fused = gemm(trans_a, trans_b, m, n, k, 1.f, a, lda, b, ldb, 0.f, c, ldc, &ep);
#if defined(__AVX2__) && defined(__FMA__)
    if (fused && ep.stream) _mm_sfence();  // the streamed stores are visible before C is handed on
#endif
    return fused;
}


int64_t batch_packed_floats(int m, int k) { return (int64_t)(m + kMR - 1) / kMR * kMR * k; }

void batch_pack(const float* a, int m, int k, float* dst) {
    for (int i0 = 0; i0 < m; i0 += kMR)
        for (int p = 0; p < k; p++, dst += kMR)
            for (int r = 0; r < kMR; r++) dst[r] = i0 + r < m ? a[(int64_t)(i0 + r) * k + p] : 0.f;
}

bool sgemm_batch(int k, const float* a, const BatchPlanes& b, const BatchPlanes& c, const float* z, const float* bias,
                 int act, float lo, float hi, bool stream, int i0, int i1, int64_t q0, int64_t q1) {
#if SALIENT_HAVE_AVX512
    if (!isa::avx512()) return false;
    float* pb = pack_buffer(g_packs.b, (size_t)kNC * kKC);
    if (!pb) return false;
    PanelCol bcol[kNC / kNR], ccol[kNC / kNR];
    float* cbase = const_cast<float*>(c.base);
    const int64_t ldc = c.hw;
    for (int64_t j0 = q0; j0 < q1; j0 += kNC) {
        const int nc = (int)std::min<int64_t>(kNC, q1 - j0), np = (nc + kNR - 1) / kNR;
        panel_cols(c, j0, np, ccol);
        panel_cols(b, j0, np, bcol);
        for (int p0 = 0; p0 < k; p0 += kKC) {
            const int kc = std::min(kKC, k - p0);
            const bool load = p0 > 0, last = p0 + kc >= k;
            gather_panels(b, bcol, np, p0, kc, pb);
            const int64_t pstride = (int64_t)kc * kNR;
            for (int ib = i0; ib < i1; ib += kMC) {
                const int mc = std::min(kMC, i1 - ib);
                const auto tile = [&](int ir, int t) {
                    const int64_t i = ib + ir;
                    pick512p(std::min(kMR, mc - ir), std::min(kWide, np - t))(
                        kc, a + i * k + (int64_t)p0 * kMR, pb + t * pstride, pstride, cbase + i * ldc,
                        z ? z + i * ldc : nullptr, ccol + t, ldc, load, last, bias ? bias + i : nullptr, act, lo, hi,
                        stream && last);
                };
                // as the blocked path: a short k block a row stripe across the columns at a time, the
                // residual of the register block two on (along the stripe, or at the next one's start)
                // fetched as this one starts (the hardware prefetchers do not follow its rows)
                if (kc <= kRowsOuterK) {
                    const int span = (np + kWide - 1) / kWide * kWide;
                    for (int ir = 0; ir < mc; ir += kMR)
                        for (int t = 0; t < np; t += kWide) {
                            if (z && last) {
                                int fr = ir, ft = t + 2 * kWide;
                                if (ft >= span) fr += kMR, ft -= span;
                                if (fr < mc && ft < np)
                                    prefetch_panels(z + (ib + fr) * ldc, ccol + ft, std::min(kWide, np - ft),
                                                    std::min(kMR, mc - fr), ldc);
                            }
                            tile(ir, t);
                        }
                } else {
                    for (int t = 0; t < np; t += kWide)
                        for (int ir = 0; ir < mc; ir += kMR) tile(ir, t);
                }
            }
        }
    }
    if (stream) _mm_sfence();
    return true;
#else
    return false;
#endif
}

}  // namespace salient
