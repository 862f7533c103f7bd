// gemm.cu: dense products, the CUDA twins of native/cpu/dense.cpp:
//   gemm:   y = alpha * op(a) op(b) + beta * c (ONNX Gemm; c broadcast from (1|m, 1|n));
//   matmul: y[b] = a[b] @ b[b] with numpy batch broadcasting (ONNX MatMul).
// cuBLAS is not part of the toolkit this engine builds against, so this is a tiled SGEMM:
// 64x64 outputs per block, 16-deep slices of A and B in shared memory, 4x4 outputs per
// thread, exact FP32 FMAs.
//
// FLOP/byte: 2*m*n*k FLOP on 4*(m*k + k*n + m*n) B. In a CNN these are the classifier heads
// (ResNet-50: 64x2048 @ 2048x1000 = 0.26 GFLOP at batch 64, 9 MB), ~0.1% of the network's
// FLOPs; the tile reuses each loaded element 64 times, 16 FLOP per byte of L2 traffic.
#include "common.cuh"

// ---- device helpers

struct MatmulBatch {
    int rank;
    int64_t out[SALIENT_CUDA_MAX_RANK], sa[SALIENT_CUDA_MAX_RANK], sb[SALIENT_CUDA_MAX_RANK];
};

constexpr int GBM = 64, GBN = 64, GBK = 16, GTM = 4, GTN = 4, GNT = (GBM / GTM) * (GBN / GTN);

// ---- kernels

// One 64x64 tile of y = alpha * op(a) op(b) + beta * c per block; blockIdx.z walks the batch.
// a: (m,k) or (k,m) if trans_a; b: (k,n) or (n,k) if trans_b; y: (m,n) per batch entry.
__global__ void __launch_bounds__(GNT)
gemm_kernel(const float* __restrict__ a, const float* __restrict__ b, const float* __restrict__ c, int64_t c_rows,
            int64_t c_cols, float* __restrict__ y, int64_t M, int64_t N, int64_t K, int trans_a, int trans_b,
            float alpha, float beta, int64_t batch, MatmulBatch mb) {
    __shared__ __align__(16) float As[GBK][GBM];
    __shared__ __align__(16) float Bs[GBK][GBN];
    const int tid = threadIdx.x;
    const int ty = tid / (GBN / GTN), tx = tid % (GBN / GTN);
    const int64_t m0 = (int64_t)blockIdx.y * GBM, n0 = (int64_t)blockIdx.x * GBN;

    for (int64_t z = blockIdx.z; z < batch; z += gridDim.z) {
        // batch offsets (matmul): decompose z over the broadcast batch shape
        int64_t ia = 0, ib = 0, rem = z;
        for (int d = mb.rank - 1; d >= 0; d--) {
            const int64_t j = rem % mb.out[d];
            rem /= mb.out[d];
            ia += j * mb.sa[d];
            ib += j * mb.sb[d];
        }
        const float* ap = a + ia * M * K;
        const float* bp = b + ib * K * N;
        float* yp = y + z * M * N;

        float acc[GTM][GTN];
#pragma unroll
        for (int i = 0; i < GTM; i++)
#pragma unroll
            for (int j = 0; j < GTN; j++) acc[i][j] = 0.f;

        for (int64_t k0 = 0; k0 < K; k0 += GBK) {
            // A tile (GBM x GBK) into As[k][m], coalesced along the contiguous axis of a
#pragma unroll
            for (int e = tid; e < GBM * GBK; e += GNT) {
                int mm, kk;
                if (trans_a) { kk = e / GBM; mm = e % GBM; } else { mm = e / GBK; kk = e % GBK; }
                const int64_t gm = m0 + mm, gk = k0 + kk;
                float v = 0.f;
                if (gm < M && gk < K) v = trans_a ? ap[gk * M + gm] : ap[gm * K + gk];
                As[kk][mm] = v;
            }
            // B tile (GBK x GBN) into Bs[k][n]
#pragma unroll
            for (int e = tid; e < GBK * GBN; e += GNT) {
                int kk, nn;
                if (trans_b) { nn = e / GBK; kk = e % GBK; } else { kk = e / GBN; nn = e % GBN; }
                const int64_t gk = k0 + kk, gn = n0 + nn;
                float v = 0.f;
                if (gk < K && gn < N) v = trans_b ? bp[gn * K + gk] : bp[gk * N + gn];
                Bs[kk][nn] = v;
            }
            __syncthreads();
#pragma unroll
            for (int kk = 0; kk < GBK; kk++) {
                const float4 av = *reinterpret_cast<const float4*>(&As[kk][ty * GTM]);
                const float4 bv = *reinterpret_cast<const float4*>(&Bs[kk][tx * GTN]);
                const float ar[4] = {av.x, av.y, av.z, av.w}, br[4] = {bv.x, bv.y, bv.z, bv.w};
#pragma unroll
                for (int i = 0; i < GTM; i++)
#pragma unroll
                    for (int j = 0; j < GTN; j++) acc[i][j] = fmaf(ar[i], br[j], acc[i][j]);
            }
            __syncthreads();
        }

        const bool use_c = c != nullptr && beta != 0.f;
#pragma unroll
        for (int i = 0; i < GTM; i++) {
            const int64_t gm = m0 + ty * GTM + i;
            if (gm >= M) continue;
#pragma unroll
            for (int j = 0; j < GTN; j++) {
                const int64_t gn = n0 + tx * GTN + j;
                if (gn >= N) continue;
                float v = alpha * acc[i][j];
                if (use_c) v += beta * c[(c_rows == 1 ? 0 : gm) * c_cols + (c_cols == 1 ? 0 : gn)];
                yp[gm * N + gn] = v;
            }
        }
    }
}

// ---- launchers

static int launch_gemm(const float* a, const float* b, const float* c, int64_t c_rows, int64_t c_cols, float* y,
                       int64_t m, int64_t n, int64_t k, int trans_a, int trans_b, float alpha, float beta,
                       int64_t batch, const MatmulBatch& mb) {
    const int64_t gx = salient_cuda::ceil_div(n, GBN), gy = salient_cuda::ceil_div(m, GBM);
    SALIENT_CUDA_CHECK(gx < (1LL << 31) && gy <= 65535, "gemm_cuda: %lld x %lld output exceeds the grid", (long long)m,
                       (long long)n);
    dim3 grid((unsigned)gx, (unsigned)gy, (unsigned)(batch < 65535 ? batch : 65535));
    gemm_kernel<<<grid, GNT>>>(a, b, c, c_rows, c_cols, y, m, n, k, trans_a, trans_b, alpha, beta, batch, mb);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int gemm_cuda(const float* a, const float* b, const float* c, int64_t c_rows, int64_t c_cols, float* y,
                         int64_t m, int64_t n, int64_t k, int trans_a, int trans_b, float alpha, float beta) {
    SALIENT_CUDA_CHECK_PTR(a);
    SALIENT_CUDA_CHECK_PTR(b);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(m >= 0 && n >= 0 && k >= 0, "gemm_cuda: negative size (m=%lld n=%lld k=%lld)", (long long)m,
                       (long long)n, (long long)k);
    SALIENT_CUDA_CHECK(c == nullptr || ((c_rows == 1 || c_rows == m) && (c_cols == 1 || c_cols == n)),
                       "gemm_cuda: c of (%lld,%lld) does not broadcast to (%lld,%lld)", (long long)c_rows,
                       (long long)c_cols, (long long)m, (long long)n);
    if (m == 0 || n == 0) return SALIENT_OK;
    MatmulBatch mb{};
    mb.rank = 0;
    // k == 0 falls out of the kernel: the reduction is empty and y = beta * c (or 0)
    return launch_gemm(a, b, c, c_rows, c_cols, y, m, n, k, trans_a, trans_b, alpha, beta, 1, mb);
}

extern "C" int matmul_cuda(const float* a, const int64_t* a_batch, const float* b, const int64_t* b_batch,
                           int batch_rank, float* y, int64_t m, int64_t n, int64_t k) {
    SALIENT_CUDA_CHECK_PTR(a);
    SALIENT_CUDA_CHECK_PTR(b);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(batch_rank >= 0 && batch_rank <= SALIENT_CUDA_MAX_RANK,
                       "matmul_cuda: batch rank %d outside [0, %d]", batch_rank, SALIENT_CUDA_MAX_RANK);
    SALIENT_CUDA_CHECK(batch_rank == 0 || (a_batch != nullptr && b_batch != nullptr), "matmul_cuda: batch shape is null");
    SALIENT_CUDA_CHECK(m >= 0 && n >= 0 && k >= 0, "matmul_cuda: negative size");
    MatmulBatch mb{};
    mb.rank = batch_rank;
    int64_t batch = 1, acc_a = 1, acc_b = 1;
    for (int d = 0; d < batch_rank; d++) {
        SALIENT_CUDA_CHECK(a_batch[d] >= 0 && b_batch[d] >= 0, "matmul_cuda: negative batch dim");
        SALIENT_CUDA_CHECK(a_batch[d] == b_batch[d] || a_batch[d] == 1 || b_batch[d] == 1,
                           "matmul_cuda: batch dims %lld and %lld do not broadcast (axis %d)", (long long)a_batch[d],
                           (long long)b_batch[d], d);
        mb.out[d] = a_batch[d] == 1 ? b_batch[d] : a_batch[d];
        batch *= mb.out[d];
    }
    for (int d = batch_rank - 1; d >= 0; d--) {
        mb.sa[d] = a_batch[d] == 1 ? 0 : acc_a;
        mb.sb[d] = b_batch[d] == 1 ? 0 : acc_b;
        acc_a *= a_batch[d];
        acc_b *= b_batch[d];
    }
    if (batch == 0 || m == 0 || n == 0) return SALIENT_OK;
    return launch_gemm(a, b, nullptr, 1, 1, y, m, n, k, 0, 0, 1.f, 0.f, batch, mb);
}
