// softmax.cu: softmax over the middle axis of (outer, dim, inner) and its VJP, the CUDA
// twins of native/cpu/softmax.cpp.
//
// FLOP/byte: ~5 FLOP and 3 passes over 4 B per element (max, exp-sum, scale): memory
// bound. With inner == 1 (logits (N, classes)) one block owns a row and reduces with warp
// shuffles; otherwise each thread owns one (outer, inner) column, which is coalesced
// across threads because consecutive threads touch consecutive `inner` positions.
#include <cfloat>
#include "common.cuh"

// ---- device helpers
//
// block_max / block_sum live in common.cuh.

// ---- kernels

// One block per row o: y[o,:] = softmax(x[o,:]); x, y: (outer, dim)
__global__ void softmax_forward_row_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t outer,
                                           int64_t dim) {
    __shared__ float scratch[32];
    for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
        const float* xr = x + o * dim;
        float* yr = y + o * dim;
        float mx = -INFINITY;
        for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) mx = fmaxf(mx, xr[d]);
        mx = block_max(mx, scratch);
        float sum = 0.f;
        for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
            float e = expf(xr[d] - mx);
            yr[d] = e;
            sum += e;
        }
        sum = block_sum(sum, scratch);
        const float inv = 1.f / sum;
        for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) yr[d] *= inv;
    }
}

// One thread per column (o, i); x, y: (outer, dim, inner)
__global__ void softmax_forward_col_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t outer,
                                           int64_t dim, int64_t inner) {
    GRID_STRIDE(col, outer * inner) {
        const int64_t o = col / inner, i = col % inner;
        const float* xp = x + o * dim * inner + i;
        float* yp = y + o * dim * inner + i;
        float mx = -INFINITY;
        for (int64_t d = 0; d < dim; d++) mx = fmaxf(mx, xp[d * inner]);
        float sum = 0.f;
        for (int64_t d = 0; d < dim; d++) {
            float e = expf(xp[d * inner] - mx);
            yp[d * inner] = e;
            sum += e;
        }
        const float inv = 1.f / sum;
        for (int64_t d = 0; d < dim; d++) yp[d * inner] *= inv;
    }
}

// dx = y * (dy - sum_d dy*y), one block per row
__global__ void softmax_backward_row_kernel(const float* __restrict__ y, const float* __restrict__ dy,
                                            float* __restrict__ dx, int64_t outer, int64_t dim) {
    __shared__ float scratch[32];
    for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
        const int64_t base = o * dim;
        float dot = 0.f;
        for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) dot += dy[base + d] * y[base + d];
        dot = block_sum(dot, scratch);
        for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) dx[base + d] = y[base + d] * (dy[base + d] - dot);
    }
}

__global__ void softmax_backward_col_kernel(const float* __restrict__ y, const float* __restrict__ dy,
                                            float* __restrict__ dx, int64_t outer, int64_t dim, int64_t inner) {
    GRID_STRIDE(col, outer * inner) {
        const int64_t o = col / inner, i = col % inner;
        const int64_t base = o * dim * inner + i;
        float dot = 0.f;
        for (int64_t d = 0; d < dim; d++) dot += dy[base + d * inner] * y[base + d * inner];
        for (int64_t d = 0; d < dim; d++) {
            const int64_t j = base + d * inner;
            dx[j] = y[j] * (dy[j] - dot);
        }
    }
}

// ---- launchers

static unsigned row_grid(int64_t outer) { return (unsigned)(outer < 65535 * 16 ? outer : 65535 * 16); }

extern "C" int softmax_forward_cuda(const float* x, float* y, int64_t outer, int64_t dim, int64_t inner) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(outer >= 0 && dim >= 0 && inner >= 0, "softmax_forward_cuda: negative size");
    if (outer == 0 || dim == 0 || inner == 0) return SALIENT_OK;
    if (inner == 1 && dim >= 32)
        softmax_forward_row_kernel<<<row_grid(outer), salient_cuda::kThreads>>>(x, y, outer, dim);
    else
        softmax_forward_col_kernel<<<salient_cuda::grid_for(outer * inner), salient_cuda::kThreads>>>(x, y, outer,
                                                                                                     dim, inner);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int softmax_backward_cuda(const float* y, const float* dy, float* dx, int64_t outer, int64_t dim,
                                     int64_t inner) {
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK_PTR(dy);
    SALIENT_CUDA_CHECK_PTR(dx);
    SALIENT_CUDA_CHECK(outer >= 0 && dim >= 0 && inner >= 0, "softmax_backward_cuda: negative size");
    if (outer == 0 || dim == 0 || inner == 0) return SALIENT_OK;
    if (inner == 1 && dim >= 32)
        softmax_backward_row_kernel<<<row_grid(outer), salient_cuda::kThreads>>>(y, dy, dx, outer, dim);
    else
        softmax_backward_col_kernel<<<salient_cuda::grid_for(outer * inner), salient_cuda::kThreads>>>(y, dy, dx,
                                                                                                      outer, dim, inner);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
