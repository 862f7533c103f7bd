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
#include "isa.h"
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
SALIENT_AVX512_END
#endif

}  // namespace

bool implicit_applies(const Vol3Geom& g) {
    if (g.ker_vol() == 1) return false;  // pointwise: the input is already the column matrix
    if (g.out[2] < 12) return false;     // short rows would leave most of the kernel's 16 lanes idle
    const Padded P = padded(g);
    return (int64_t)g.n * g.c * P.chan() <= kMaxCopy && (int64_t)g.cg * g.ker_vol() <= (int64_t(1) << 20);
}

int implicit_forward(const float* x, const float* w, const float* bias, float* y, const Vol3Geom& g, int nt,
                     const Epilogue& e) {
    const Padded P = padded(g);
    // AVX-512: blocks of kMR512 output channels by kNB512 * 16 outputs, else kMR by kNR outputs
#if SALIENT_HAVE_AVX512
    const bool wide = isa::avx512();
#else
    const bool wide = false;
#endif
    // (one zmm of outputs where a row has no more: a second would be idle lanes)
    const bool two = g.out[2] > 16;
    const int mr = wide ? kMR512 : kMR, nr = wide ? (two ? 16 * kNB512 : 16) : kNR;
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
