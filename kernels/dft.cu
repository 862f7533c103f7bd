// dft.cu: the orthonormal complex DFT along the rows of planes (P,H,2,K) of split complex rows, the
// CUDA twin of native/cpu/dft.cpp: one thread per output column element (p, m, k), the direct sum
// over j in order with native/dft.h's twiddles, kept in shared memory per block (the CPU's radix-2 FFT
// rounds differently for H a power of two; its direct sum is this one).
//
// FLOP/byte: 8·H FLOP per 8·H B read (x's two floats per j, from cache): latency- and
// bandwidth-bound, and small next to the model the image feeds (feature visualisation's H ≤ 512).
#include "common.cuh"
#include "primitives_cuda.h"
#include "../native/dft.h"

// ---- kernels

// Twiddles of rows up to this long are computed once per block into shared memory (8 KiB); longer rows
// compute each one where it is used (correct, and slower: a double-precision cos and sin per term).
constexpr int kTable = 1024;

__global__ void dft_rows_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t h, int64_t k, int sign,
                                float scale, int64_t total) {
    __shared__ float tc[kTable];
    __shared__ float ts[kTable];
    const bool table = h <= kTable;
    if (table) {
        for (int64_t r = threadIdx.x; r < h; r += blockDim.x) salient_dft::twiddle(r, h, sign, &tc[r], &ts[r]);
        __syncthreads();
    }
    GRID_STRIDE(e, total) {  // e = (p, m, i)
        const int64_t i = e % k, m = (e / k) % h, p = e / (k * h);
        const float* xp = x + p * h * 2 * k;
        float yr = 0.f, yi = 0.f;
        int64_t r = 0;  // (j * m) mod h, stepped by m
        for (int64_t j = 0; j < h; j++) {
            float cr, ci;
            if (table) cr = tc[r], ci = ts[r];
            else salient_dft::twiddle(r, h, sign, &cr, &ci);
            const float xr = xp[j * 2 * k + i], xi = xp[j * 2 * k + k + i];
            yr += cr * xr - ci * xi;
            yi += cr * xi + ci * xr;
            r += m;
            if (r >= h) r -= h;
        }
        float* yp = y + (p * h + m) * 2 * k;
        yp[i] = yr * scale;
        yp[k + i] = yi * scale;
    }
}

// ---- launchers

extern "C" int dft_rows_cuda(const float* x, float* y, int64_t planes, int64_t h, int64_t k, int sign) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(planes > 0 && h > 0 && k > 0, "dft_rows_cuda: bad sizes");
    SALIENT_CUDA_CHECK(h <= (int64_t(1) << 20), "dft_rows_cuda: %lld rows is beyond this transform", (long long)h);
    SALIENT_CUDA_CHECK(sign == 1 || sign == -1, "dft_rows_cuda: sign must be 1 or -1, got %d", sign);
    const int64_t total = planes * h * k;
    dft_rows_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, y, h, k, sign,
                                                                              (float)(1.0 / sqrt((double)h)), total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
