// SGEMM for the CPU engine: the canonical SGEMM (gemm_canonical.cpp), in which
// every element of C is one fixed chain of fused multiply-adds over k whatever
// the call's shape, runs single-threaded inside salient's own OpenMP workers.
// So any split of a product into calls (by images, rows, columns or threads)
// gives every element the same bits: the engine's determinism contract. The
// OpenBLAS library stays loaded for the double-precision LAPACK-style work
// (principal.cpp); its thread pool is pinned to one thread (runtime.cpp).
#pragma once
#include <cstdint>

namespace salient {

// Row-major C = alpha * op(A) op(B) + beta * C, split into blocks of rows or
// columns of C over the OpenMP threads (each block one single-threaded sgemm).
// Serial when the product is small or when called inside a parallel region.
void sgemm_parallel(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                    const float* b, int ldb, float beta, float* c, int ldc);

// Row-major C = alpha * op(A) op(B) + beta * C in the calling thread, each element
// acc = beta * C (0 when beta is 0), then acc = fma(alpha * A[i][p], B[p][j], acc) for p = 0 .. k-1.
void sgemm_canonical(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                     const float* b, int ldb, float beta, float* c, int ldc);

// What sgemm_canonical_ep applies to each element of C after its chain (beta is 0): the row's
// bias, then the residual, then the activation, each rounded as its own op would round it:
//   c = acc;  c = c + bias[i] (bias set);  c = c + z[i * ldz + j] (z set);
//   c = Relu(c) or Clip(c, lo, hi) (act SALIENT_ACT_RELU / SALIENT_ACT_CLIP; -1 none), NaN kept.
// On the blocked path it is applied in registers as the kernel stores C, so the output is not read
// back (a pointwise conv's bias pass alone cost 30 % of its time); with a residual on AVX2, the
// residual and activation go in a pass over each block of C right after its last k block, while the
// block is in L2 (gemm_canonical.cpp: residual_pass). Where sgemm_canonical_ep returns false the
// caller applies it in passes over C after the product (conv2d.cpp: add_bias, apply_epilogue). The
// bits are the same every way.
struct GemmEpilogue {
    const float* bias = nullptr;
    const float* z = nullptr;
    int64_t ldz = 0;
    int act = -1;
    float lo = 0.f, hi = 0.f;
    // C's final values bypass the caches (non-temporal stores, where a row's 16 lanes are whole and
    // 64-byte aligned): for outputs far larger than the caches, which would only evict what the
    // product reads and cost a read of each line before it is written
    bool stream = false;
    // Not applied at the stores but a hint to the product: B was just written and is in the caches
    // (a small conv input), so on AVX-512 a product of at most 48 rows of A reads it where it lies
    // instead of packing it. The same chains either way.
    bool b_cached = false;
    // A hint to that product too: B is small enough to be in the cores' L2 caches, so it fetches B's
    // rows a few steps ahead, where a larger B, from L3 or memory, streams in the next block's panels
    bool b_near = false;
    bool any() const { return bias || z || act >= 0; }
};

// C = op(A) op(B) (alpha 1, beta 0) in the calling thread, with ep applied in the kernel's stores
// where it can be: true when C holds the result with ep applied (or ep is empty), false when C
// holds the plain product and the caller still has to apply ep.
bool sgemm_canonical_ep(bool trans_a, bool trans_b, int m, int n, int k, const float* a, int lda, const float* b,
                        int ldb, float* c, int ldc, const GemmEpilogue& ep);

// B given by what packs it rather than where it lies (an im2col conv's column matrix, built straight
// into the GEMM's panels): fn(ctx, p0, kc, j0, nc, dst) writes rows [p0, p0+kc) and columns
// [j0, j0+nc) of B into panels of 16 columns, dst[(j - j0) / 16 * kc * 16 + (p - p0) * 16 + (j - j0) % 16],
// with zeros past nc in the last panel.
struct BPacker {
    void (*fn)(const void* ctx, int p0, int kc, int j0, int nc, float* dst);
    const void* ctx;
};

// C = A B (A row-major, not transposed; alpha 1, beta 0) with B from `b`, on the blocked path, with
// ep applied in the kernel's stores: the same chains, so the same bits, as sgemm_canonical_ep on the
// B that `b` packs. False, with nothing written, when the packing buffers cannot be allocated (or k is 0).
bool sgemm_canonical_packer(int m, int n, int k, const float* a, int lda, const BPacker& b, float* c, int ldc,
                            const GemmEpilogue& ep);

// The positions of a batch of images, n of hw >= 16 positions each (N = n hw), as the columns of a
// pointwise conv's operand (NCHW, `rows` channels): column q, row i at
// base[(q / hw) rows hw + i hw + q % hw].
struct BatchPlanes {
    const float* base;
    int64_t rows, hw, n;
};

// A (m x k, row-major) packed for sgemm_batch into batch_packed_floats(m, k) floats: blocks of 6 rows,
// p-major (block b's row r, column p at dst[(b k + p) 6 + r]), the rows past m zero.
int64_t batch_packed_floats(int m, int k);
void batch_pack(const float* a, int m, int k, float* dst);

// C = A B over the positions of a whole batch: rows [i0, i1) of C (i0 a multiple of 6) and columns
// [q0, q1) (q0 a multiple of 16, q1 <= N), A packed by batch_pack, B (k x N) and C (with the residual z
// laid out as C), then + bias, + z and the activation (act -1, SALIENT_ACT_RELU or SALIENT_ACT_CLIP(lo,
// hi)) as the blocked path's stores round them. Each element is the chain of sgemm_canonical, so the
// bits are those of a product image by image. Where stream, C's whole aligned panels bypass the
// caches. AVX-512 only: false, with nothing written, without it or without memory for the packs.
bool sgemm_batch(int k, const float* a, const BatchPlanes& b, const BatchPlanes& c, const float* z, const float* bias,
                 int act, float lo, float hi, bool stream, int i0, int i1, int64_t q0, int64_t q1);

// C = A B with A's rows on the vector lanes (gemm_lanes.cpp), for products with few columns and a
// constant A (a pointwise conv's weights on a small plane): A (m x k, row-major, lda) packed once by
// lanes_pack into lanes_packed_floats(m, k) floats (64-byte aligned): panels of kLanes rows, p-major,
// dst[(i / kLanes) * kLanes * k + p * kLanes + i % kLanes], zeros past m.
constexpr int kLanes = 32;
int64_t lanes_packed_floats(int m, int k);
void lanes_pack(const float* a, int64_t lda, int m, int k, float* dst);

// Rows [i0, i1) and columns [j0, j1) of C (i0 a multiple of kLanes; row-major, ldc) = the packed A
// times B (k rows, row-major, ldb), with ep (bias, residual z, activation; not stream) applied as sgemm_canonical_ep
// rounds it: the same chains and the same bits. With images > 1, as many products side by side, the
// next one's B, C and ep's z bimg, cimg and cimg floats on, each slice of A used by all of them in
// turn. False, with nothing written, where the instruction
// set has no such kernel (a build without AVX2) or there is no memory for the k blocks' partial sums.
bool sgemm_lanes(const float* ap, int m, int k, int i0, int i1, const float* b, int64_t ldb, int j0, int j1, float* c,
                 int64_t ldc, const GemmEpilogue& ep, int images = 1, int64_t bimg = 0, int64_t cimg = 0);
// The columns sgemm_lanes takes at a time for a range of n: 7 where n is a multiple of 7 (planes of
// 7x7, 14x14, 28x28), else 8. A split of the columns in multiples of it keeps the blocks whole.
int lanes_columns(int n);

// Single-threaded sgemm in the calling thread.
inline void sgemm_serial(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                         const float* b, int ldb, float beta, float* c, int ldc) {
    sgemm_canonical(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace salient
