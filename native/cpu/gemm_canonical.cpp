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
// FLOPs: 2*m*n*k; B is packed once per (n, k) block.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include "blas.h"

namespace salient {

namespace {

constexpr int kMR = 6, kNR = 16;  // register block of C
constexpr int kKC = 256;          // k block: a B panel (kKC x kNR) stays in L1
constexpr int kMC = 96;           // rows of packed A per block (kMC x kKC in L2)
constexpr int kNC = 512;          // columns of packed B per block

// Per-thread packing buffers (grow-only).
struct Packs {
    float* a = nullptr;
    float* b = nullptr;
    ~Packs() {
        std::free(a);
        std::free(b);
    }
};
thread_local Packs g_packs;

float* pack_buffer(float*& p, size_t floats) {
    if (!p) p = (float*)std::aligned_alloc(64, (floats * sizeof(float) + 63) & ~(size_t)63);
    return p;
}

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
    for (int t = 0; t < panels; t++) {
        float* d = dst + (int64_t)t * kc * kNR;
        const int jb = j0 + t * kNR, w = std::min(kNR, nc - t * kNR);
        for (int j = 0; j < w; j++) {
            const float* s = b + (int64_t)(jb + j) * ldb + p0;
            for (int p = 0; p < kc; p++) d[(int64_t)p * kNR + j] = s[p];
        }
        for (int j = w; j < kNR; j++)
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

// C[r][j], r < rows, j < cols: load (or zero when !load), then for each of kc steps
// acc = fma(A[p*kMR + r], B[p*kNR + j], acc), then store. H 8-lane halves of the
// kNR columns are computed (H = 1 for a panel's last <= 8 columns); every lane's
// chain is the same whatever H.
template <int H>
inline void kernel(int kc, const float* A, int64_t rs, int64_t ps, const float* B, float* C, int64_t ldc, int rows,
                   int cols, bool load) {
#if defined(__AVX2__) && defined(__FMA__)
    alignas(32) static const int kLanes[24] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                               -1, -1, -1, -1, 0,  0,  0,  0,  0,  0,  0,  0};
    // masks of the valid columns in the two 8-lane halves
    const __m256i m0 = _mm256_loadu_si256((const __m256i*)(kLanes + 16 - std::min(cols, 8)));
    const __m256i m1 = _mm256_loadu_si256((const __m256i*)(kLanes + 16 - std::max(0, std::min(cols - 8, 8))));
    __m256 c[12];
    for (int r = 0; r < kMR; r++) {
        const bool ld = load && r < rows;
        c[2 * r] = ld ? _mm256_maskload_ps(C + r * ldc, m0) : _mm256_setzero_ps();
        c[2 * r + 1] = ld && H == 2 ? _mm256_maskload_ps(C + r * ldc + 8, m1) : _mm256_setzero_ps();
    }
    __m256 c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3], c4 = c[4], c5 = c[5], c6 = c[6], c7 = c[7], c8 = c[8],
           c9 = c[9], c10 = c[10], c11 = c[11];
    // A's row r at step p: A[r * rs + p * ps] (packed: rs 1, ps kMR; or A itself, row- or column-major)
    const float *a0 = A, *a1 = A + rs, *a2 = A + 2 * rs, *a3 = A + 3 * rs, *a4 = A + 4 * rs, *a5 = A + 5 * rs;
    if (H == 2) {
        for (int p = 0; p < kc; p++, a0 += ps, a1 += ps, a2 += ps, a3 += ps, a4 += ps, a5 += ps, B += kNR) {
            const __m256 b0 = _mm256_load_ps(B), b1 = _mm256_load_ps(B + 8);
            __m256 a = _mm256_broadcast_ss(a0);
            c0 = _mm256_fmadd_ps(a, b0, c0), c1 = _mm256_fmadd_ps(a, b1, c1);
            a = _mm256_broadcast_ss(a1);
            c2 = _mm256_fmadd_ps(a, b0, c2), c3 = _mm256_fmadd_ps(a, b1, c3);
            a = _mm256_broadcast_ss(a2);
            c4 = _mm256_fmadd_ps(a, b0, c4), c5 = _mm256_fmadd_ps(a, b1, c5);
            a = _mm256_broadcast_ss(a3);
            c6 = _mm256_fmadd_ps(a, b0, c6), c7 = _mm256_fmadd_ps(a, b1, c7);
            a = _mm256_broadcast_ss(a4);
            c8 = _mm256_fmadd_ps(a, b0, c8), c9 = _mm256_fmadd_ps(a, b1, c9);
            a = _mm256_broadcast_ss(a5);
            c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11);
        }
    } else {
        for (int p = 0; p < kc; p++, a0 += ps, a1 += ps, a2 += ps, a3 += ps, a4 += ps, a5 += ps, B += kNR) {
            const __m256 b0 = _mm256_load_ps(B);
            c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a0), b0, c0);
            c2 = _mm256_fmadd_ps(_mm256_broadcast_ss(a1), b0, c2);
            c4 = _mm256_fmadd_ps(_mm256_broadcast_ss(a2), b0, c4);
            c6 = _mm256_fmadd_ps(_mm256_broadcast_ss(a3), b0, c6);
            c8 = _mm256_fmadd_ps(_mm256_broadcast_ss(a4), b0, c8);
            c10 = _mm256_fmadd_ps(_mm256_broadcast_ss(a5), b0, c10);
        }
    }
    const __m256 acc[12] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11};
    if (cols == 8 * H) {
        for (int r = 0; r < rows; r++) {
            _mm256_storeu_ps(C + r * ldc, acc[2 * r]);
            if (H == 2) _mm256_storeu_ps(C + r * ldc + 8, acc[2 * r + 1]);
        }
    } else {
        for (int r = 0; r < rows; r++) {
            _mm256_maskstore_ps(C + r * ldc, m0, acc[2 * r]);
            if (H == 2) _mm256_maskstore_ps(C + r * ldc + 8, m1, acc[2 * r + 1]);
        }
    }
#else
    float acc[kMR][kNR];
    for (int r = 0; r < kMR; r++)
        for (int j = 0; j < kNR; j++) acc[r][j] = load && r < rows && j < cols ? C[r * ldc + j] : 0.f;
    for (int p = 0; p < kc; p++, B += kNR)
        for (int r = 0; r < kMR; r++)
            for (int j = 0; j < kNR; j++) acc[r][j] = __builtin_fmaf(A[r * rs + p * ps], B[j], acc[r][j]);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) C[r * ldc + j] = acc[r][j];
#endif
}

}  // namespace

void sgemm_canonical(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                     const float* b, int ldb, float beta, float* c, int ldc) {
    if (m <= 0 || n <= 0) return;
    // the chain starts from beta * C (from 0 when beta is 0: C may hold anything)
    if (beta != 0.f && beta != 1.f)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) c[(int64_t)i * ldc + j] *= beta;
    if (k <= 0 || alpha == 0.f) {
        if (beta == 0.f)
            for (int i = 0; i < m; i++) std::memset(c + (int64_t)i * ldc, 0, sizeof(float) * n);
        return;
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
        return;
    }
    for (int j0 = 0; j0 < n; j0 += kNC) {
        const int nc = std::min(kNC, n - j0);
        for (int p0 = 0; p0 < k; p0 += kKC) {
            const int kc = std::min(kKC, k - p0);
            const bool load = p0 > 0 || beta != 0.f;
            pack_b(trans_b, b, ldb, p0, kc, j0, nc, pb);
            for (int i0 = 0; i0 < m; i0 += kMC) {
                const int mc = std::min(kMC, m - i0);
                // with alpha 1, full blocks of kMR rows are read from A where it lies (its rows or
                // columns are the kernel's operand as they are); the rest is packed
                const bool direct = alpha == 1.f;
                const int packed0 = direct ? mc / kMR * kMR : 0;
                if (packed0 < mc) pack_a(trans_a, a, lda, alpha, i0 + packed0, mc - packed0, p0, kc, pa);
                for (int jr = 0; jr < nc; jr += kNR) {
                    const float* bp = pb + (int64_t)(jr / kNR) * kc * kNR;
                    const int cols = std::min(kNR, nc - jr);
                    auto run = cols > 8 ? kernel<2> : kernel<1>;
                    for (int ir = 0; ir < mc; ir += kMR) {
                        const int i = i0 + ir;
                        float* cp = c + (int64_t)i * ldc + j0 + jr;
                        if (ir < packed0) {
                            if (trans_a) run(kc, a + (int64_t)p0 * lda + i, 1, lda, bp, cp, ldc, kMR, cols, load);
                            else run(kc, a + (int64_t)i * lda + p0, lda, 1, bp, cp, ldc, kMR, cols, load);
                        } else {
                            run(kc, pa + (int64_t)((ir - packed0) / kMR) * kc * kMR, 1, kMR, bp, cp, ldc,
                                std::min(kMR, mc - ir), cols, load);
                        }
                    }
                }
            }
        }
    }
}

}  // namespace salient
