// concat.cu: one input of a Concat copied into its slot of the output, and the slice that
// is Concat's VJP; the CUDA twins of native/cpu/concat.cpp.
//
// FLOP/byte: pure copies (8 B moved per element); each thread moves one element of the
// smaller tensor, so reads and writes are coalesced along `inner`.
#include "common.cuh"

// ---- device helpers
//
// (none)

// ---- kernels

// y[o, offset + j, i] = x[o, j, i]; x: (outer, x_axis, inner), y: (outer, y_axis, inner)
__global__ void concat_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t total,
                                      int64_t x_axis, int64_t y_axis, int64_t inner, int64_t offset) {
    GRID_STRIDE(t, total) {
        const int64_t i = t % inner, oj = t / inner, j = oj % x_axis, o = oj / x_axis;
        y[(o * y_axis + offset + j) * inner + i] = x[t];
    }
}

// dst[o, j, i] = src[o, offset + j, i]; src: (outer, src_axis, inner), dst: (outer, dst_axis, inner)
__global__ void slice_axis_kernel(const float* __restrict__ src, float* __restrict__ dst, int64_t total,
                                  int64_t src_axis, int64_t dst_axis, int64_t inner, int64_t offset) {
    GRID_STRIDE(t, total) {
        const int64_t i = t % inner, oj = t / inner, j = oj % dst_axis, o = oj / dst_axis;
        dst[t] = src[(o * src_axis + offset + j) * inner + i];
    }
}

// ---- launchers

extern "C" int concat_forward_cuda(const float* x, float* y, int64_t outer, int64_t x_axis, int64_t y_axis,
                                   int64_t inner, int64_t offset) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(outer >= 0 && x_axis >= 0 && y_axis >= 0 && inner >= 0, "concat_forward_cuda: negative size");
    SALIENT_CUDA_CHECK(offset >= 0 && offset + x_axis <= y_axis,
                       "concat_forward_cuda: slot [%lld, %lld) outside the output axis of %lld", (long long)offset,
                       (long long)(offset + x_axis), (long long)y_axis);
    const int64_t total = outer * x_axis * inner;
    if (total == 0) return SALIENT_OK;
    concat_forward_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, y, total, x_axis, y_axis,
                                                                                    inner, offset);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int slice_axis_cuda(const float* src, float* dst, int64_t outer, int64_t src_axis, int64_t dst_axis,
                               int64_t inner, int64_t offset) {
    SALIENT_CUDA_CHECK_PTR(src);
    SALIENT_CUDA_CHECK_PTR(dst);
    SALIENT_CUDA_CHECK(outer >= 0 && src_axis >= 0 && dst_axis >= 0 && inner >= 0, "slice_axis_cuda: negative size");
    SALIENT_CUDA_CHECK(offset >= 0 && offset + dst_axis <= src_axis,
                       "slice_axis_cuda: slice [%lld, %lld) outside the source axis of %lld", (long long)offset,
                       (long long)(offset + dst_axis), (long long)src_axis);
    const int64_t total = outer * dst_axis * inner;
    if (total == 0) return SALIENT_OK;
    slice_axis_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(src, dst, total, src_axis, dst_axis,
                                                                                inner, offset);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
