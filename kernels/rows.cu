// rows.cu: sum, mean, max and min of every row of an (R,L) view, the CUDA twin of
// native/cpu/rows.cpp. One block per row; the block strides over the row and reduces
// through common.cuh's block reductions.
//
// FLOP/byte: one FLOP per 4 B read; bandwidth-bound. Used on per-image tensors
// (a few rows of up to ~150k floats).
#include "common.cuh"
#include "primitives_cuda.h"

// ---- device helpers
//
// (block_sum / block_max / block_min from common.cuh)

// ---- kernels

__global__ void reduce_rows_kernel(int op, const float* __restrict__ x, float* __restrict__ y, int64_t r, int64_t l) {
    __shared__ float fscratch[32];
    __shared__ double dscratch[32];
    for (int64_t i = blockIdx.x; i < r; i += gridDim.x) {
        const float* xi = x + i * l;
        if (op == SALIENT_CUDA_REDUCE_SUM || op == SALIENT_CUDA_REDUCE_MEAN) {
            double t = 0;
            for (int64_t j = threadIdx.x; j < l; j += blockDim.x) t += xi[j];
            t = block_sum(t, dscratch);
            if (threadIdx.x == 0) y[i] = (float)(op == SALIENT_CUDA_REDUCE_MEAN ? t / (double)l : t);
        } else if (op == SALIENT_CUDA_REDUCE_MAX) {
            float t = -INFINITY;
            for (int64_t j = threadIdx.x; j < l; j += blockDim.x) t = fmaxf(t, xi[j]);
            t = block_max(t, fscratch);
            if (threadIdx.x == 0) y[i] = t;
        } else {
            float t = INFINITY;
            for (int64_t j = threadIdx.x; j < l; j += blockDim.x) t = fminf(t, xi[j]);
            t = block_min(t, fscratch);
            if (threadIdx.x == 0) y[i] = t;
        }
    }
}

// ---- launchers

extern "C" int reduce_rows_cuda(int op, const float* x, float* y, int64_t r, int64_t l) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(op >= SALIENT_CUDA_REDUCE_SUM && op <= SALIENT_CUDA_REDUCE_MEAN, "reduce_rows_cuda: unknown op %d", op);
    SALIENT_CUDA_CHECK(r > 0 && l > 0, "reduce_rows_cuda: bad sizes r=%lld l=%lld", (long long)r, (long long)l);
    const unsigned blocks = (unsigned)(r < 65535 ? r : 65535);
    reduce_rows_kernel<<<blocks, salient_cuda::kThreads>>>(op, x, y, r, l);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
