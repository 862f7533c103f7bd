// resample.cu: the geometric transforms of feature visualisation, the CUDA twin of
// native/cpu/resample.cpp: per-image crop/pad windows and per-image affine bilinear
// resampling with its adjoint. The per-pixel math is native/resample.h, shared with the CPU.
//
// FLOP/byte: crop_pad is a copy (4 B read, 4 B written per output). The forward resample does
// ~20 FLOP per 16 B gathered (4 taps, cached); the backward is a gather over the ~3x3 to 4x4
// output pixels that reach an input pixel (~10 FLOP and 4 B per candidate). All bandwidth- or
// latency-bound and small next to the model they feed (one 3x~140x140 image per objective).
#include "common.cuh"
#include "primitives_cuda.h"
#include "../native/resample.h"

// ---- device helpers
//
// (salient_resample::sample / gather / invert from resample.h)

// ---- kernels

__global__ void crop_pad_kernel(const float* __restrict__ x, const float* __restrict__ offsets, float fill,
                                float* __restrict__ y, int64_t c, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                                int64_t total) {
    GRID_STRIDE(e, total) {
        const int64_t j = e % ow, i = (e / ow) % oh, p = e / (ow * oh), b = p / c;
        const int64_t si = i + (int64_t)offsets[2 * b], sj = j + (int64_t)offsets[2 * b + 1];
        y[e] = (si >= 0 && si < ih && sj >= 0 && sj < iw) ? x[(p * ih + si) * iw + sj] : fill;
    }
}

__global__ void affine_resample_forward_kernel(const float* __restrict__ x, const float* __restrict__ theta,
                                               float* __restrict__ y, int64_t c, int64_t ih, int64_t iw, int64_t oh,
                                               int64_t ow, int64_t total) {
    GRID_STRIDE(e, total) {
        const int64_t j = e % ow, i = (e / ow) % oh, p = e / (ow * oh);
        y[e] = salient_resample::sample(x + p * ih * iw, ih, iw, theta + 6 * (p / c), i, j);
    }
}

__global__ void affine_resample_backward_kernel(const float* __restrict__ dy, const float* __restrict__ theta,
                                                float* __restrict__ dx, int64_t c, int64_t ih, int64_t iw, int64_t oh,
                                                int64_t ow, int64_t total) {
    GRID_STRIDE(e, total) {
        const int64_t q = e % iw, pi = (e / iw) % ih, p = e / (iw * ih);
        const float* t = theta + 6 * (p / c);
        float inv[4];
        salient_resample::invert(t, inv);  // checked non-singular by the launcher's caller (OpChecks)
        dx[e] = salient_resample::gather(dy + p * oh * ow, oh, ow, t, inv, pi, q);
    }
}

// ---- launchers

extern "C" int crop_pad_cuda(const float* x, const float* offsets, float fill, float* y, int64_t n, int64_t c,
                             int64_t ih, int64_t iw, int64_t oh, int64_t ow) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(offsets);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(n > 0 && c > 0 && ih > 0 && iw > 0 && oh > 0 && ow > 0, "crop_pad_cuda: bad sizes");
    const int64_t total = n * c * oh * ow;
    crop_pad_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, offsets, fill, y, c, ih, iw, oh, ow,
                                                                               total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int affine_resample_forward_cuda(const float* x, const float* theta, float* y, int64_t n, int64_t c,
                                            int64_t ih, int64_t iw, int64_t oh, int64_t ow) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(theta);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(n > 0 && c > 0 && ih > 0 && iw > 0 && oh > 0 && ow > 0, "affine_resample_forward_cuda: bad sizes");
    const int64_t total = n * c * oh * ow;
    affine_resample_forward_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, theta, y, c, ih, iw,
                                                                                              oh, ow, total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int affine_resample_backward_cuda(const float* dy, const float* theta, float* dx, int64_t n, int64_t c,
                                             int64_t ih, int64_t iw, int64_t oh, int64_t ow) {
    SALIENT_CUDA_CHECK_PTR(dy);
    SALIENT_CUDA_CHECK_PTR(theta);
    SALIENT_CUDA_CHECK_PTR(dx);
    SALIENT_CUDA_CHECK(n > 0 && c > 0 && ih > 0 && iw > 0 && oh > 0 && ow > 0, "affine_resample_backward_cuda: bad sizes");
    const int64_t total = n * c * ih * iw;
    affine_resample_backward_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(dy, theta, dx, c, ih, iw,
                                                                                               oh, ow, total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
