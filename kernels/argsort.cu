// argsort.cu: the order of every row of an (R,L) view from its largest value to its
// smallest (ties by ascending index, NaN last) and its inverse, the CUDA twin of
// native/cpu/argsort.cpp.
//
// A bitonic sorting network in its "flip" form (every comparator points the same way), run
// over the indices in global memory, one launch per network stage, one thread per
// comparator. The comparator compares (x[idx], idx) pairs, a strict total order, so the
// result equals the CPU's sort. Rows whose length L is not a power of two are padded
// virtually: the missing slots past L act as +inf-last elements, and in the flip form a
// comparator with a slot past L never swaps, so those comparators are skipped.
//
// FLOP/byte: P = next_pow2(L); log2(P)(log2(P)+1)/2 stages of P/2 comparators, each reading
// 2 indices and 2 values and writing 2 indices (24 B): for 224x224 maps 171 passes over
// ~1.5 MB per row. Bandwidth-bound; fine for the few rows of a metric run.
#include <cmath>
#include "common.cuh"
#include "primitives_cuda.h"

// ---- device helpers

// true when (va, ia) comes before (vb, ib): larger first, NaN after numbers, ties by index.
__device__ __forceinline__ bool argsort_before(float va, int64_t ia, float vb, int64_t ib) {
    const bool na = isnan(va), nb = isnan(vb);
    if (na || nb) return (na == nb) ? ia < ib : nb;
    if (va != vb) return va > vb;
    return ia < ib;
}

// ---- kernels

__global__ void argsort_init_kernel(float* __restrict__ order, int64_t r, int64_t l) {
    GRID_STRIDE(i, r * l) order[i] = (float)(i % l);
}

// One stage: comparator t of row `row` joins slots a < b, where for the flip step (flip != 0)
// of a merge of width k, b mirrors a inside its k-block, and for a half-cleaner step of
// distance j, b = a + j.
__global__ void argsort_stage_kernel(const float* __restrict__ x, float* __restrict__ order, int64_t r, int64_t l,
                                     int64_t half, int64_t k, int64_t j, int flip) {
    GRID_STRIDE(g, r * half) {
        const int64_t row = g / half, t = g % half;
        int64_t a, b;
        if (flip) {  // comparators of the flip: k/2 per block of k
            const int64_t hk = k / 2, blk = t / hk, off = t % hk;
            a = blk * k + off;
            b = blk * k + (k - 1 - off);
        } else {  // half-cleaner of distance j: j comparators per block of 2j
            const int64_t blk = t / j, off = t % j;
            a = blk * 2 * j + off;
            b = a + j;
        }
        if (b >= l) continue;  // a virtual +inf-last slot: never swapped
        float* o = order + row * l;
        const float* xr = x + row * l;
        const int64_t ia = (int64_t)o[a], ib = (int64_t)o[b];
        if (argsort_before(xr[ib], ib, xr[ia], ia)) {
            o[a] = (float)ib;
            o[b] = (float)ia;
        }
    }
}

__global__ void argsort_rank_kernel(const float* __restrict__ order, float* __restrict__ rank, int64_t r, int64_t l) {
    GRID_STRIDE(i, r * l) {
        const int64_t row = i / l, k = i % l;
        rank[row * l + (int64_t)order[i]] = (float)k;
    }
}

// ---- launchers

extern "C" int argsort_rows_cuda(const float* x, float* order, float* rank, int64_t r, int64_t l) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(order);
    SALIENT_CUDA_CHECK_PTR(rank);
    SALIENT_CUDA_CHECK(r > 0 && l > 0 && l <= (int64_t(1) << 24), "argsort_rows_cuda: bad sizes r=%lld l=%lld",
                       (long long)r, (long long)l);
    using salient_cuda::grid_for;
    argsort_init_kernel<<<grid_for(r * l), salient_cuda::kThreads>>>(order, r, l);
    SALIENT_CUDA_CHECK_LAUNCH();
    int64_t p = 1;
    while (p < l) p <<= 1;
    const int64_t half = p / 2;
    if (half > 0) {
        for (int64_t k = 2; k <= p; k <<= 1) {
            argsort_stage_kernel<<<grid_for(r * half), salient_cuda::kThreads>>>(x, order, r, l, half, k, 0, 1);
            SALIENT_CUDA_CHECK_LAUNCH();
            for (int64_t j = k / 4; j >= 1; j >>= 1) {
                argsort_stage_kernel<<<grid_for(r * half), salient_cuda::kThreads>>>(x, order, r, l, half, k, j, 0);
                SALIENT_CUDA_CHECK_LAUNCH();
            }
        }
    }
    argsort_rank_kernel<<<grid_for(r * l), salient_cuda::kThreads>>>(order, rank, r, l);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
