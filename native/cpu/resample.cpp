// The geometric transforms of feature visualisation (Lucid's standard transforms), on the CPU:
// per-image crop/pad windows and per-image affine bilinear resampling with its adjoint.
// The per-pixel math is native/resample.h, shared with kernels/resample.cu.
#include "common.h"
#include "primitives.h"
#include "resample.h"

// y[n,c,i,j] = x[n,c,i+oy[n],j+ox[n]] inside x, else fill. A pad (negative offsets, larger y),
// a crop (positive offsets, smaller y) or both; with the offsets negated and fill 0 it is its
// own adjoint.
extern "C" int crop_pad_cpu(const float* x, const float* offsets, float fill, float* y, int64_t n, int64_t c,
                            int64_t ih, int64_t iw, int64_t oh, int64_t ow) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(offsets);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(n > 0 && c > 0 && ih > 0 && iw > 0 && oh > 0 && ow > 0,
                  "crop_pad_cpu: bad sizes n=%lld c=%lld in %lldx%lld out %lldx%lld", (long long)n, (long long)c,
                  (long long)ih, (long long)iw, (long long)oh, (long long)ow);
    // x: (N,C,ih,iw), offsets: (N,2) = (oy, ox) integers as floats, y: (N,C,oh,ow)
#pragma omp parallel for schedule(static) if (n * c * oh * ow > 65536)
    for (int64_t p = 0; p < n * c; p++) {
        const int64_t b = p / c;
        const int64_t oy = (int64_t)offsets[2 * b], ox = (int64_t)offsets[2 * b + 1];
        const float* xp = x + p * ih * iw;
        float* yp = y + p * oh * ow;
        for (int64_t i = 0; i < oh; i++) {
            const int64_t si = i + oy;
            for (int64_t j = 0; j < ow; j++) {
                const int64_t sj = j + ox;
                yp[i * ow + j] = (si >= 0 && si < ih && sj >= 0 && sj < iw) ? xp[si * iw + sj] : fill;
            }
        }
    }
    return SALIENT_OK;
}

// y: (N,C,oh,ow) = x: (N,C,ih,iw) sampled bilinearly at theta[n] (N,6) of each output pixel, zeros outside.
// An output row of an image at a time, its source points and weights found once for all C planes
// (salient_resample::taps); each plane's value is the one sample() computes.
extern "C" int affine_resample_forward_cpu(const float* x, const float* theta, float* y, int64_t n, int64_t c,
                                           int64_t ih, int64_t iw, int64_t oh, int64_t ow) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(theta);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(n > 0 && c > 0 && ih > 0 && iw > 0 && oh > 0 && ow > 0, "affine_resample_forward_cpu: bad sizes");
#pragma omp parallel for schedule(static) if (n * c * oh * ow > 16384)
    for (int64_t r = 0; r < n * oh; r++) {
        const int64_t b = r / oh, i = r % oh;
        const float* t = theta + 6 * b;
        const float* xb = x + b * c * ih * iw;
        float* yb = y + b * c * oh * ow + i * ow;
        for (int64_t j = 0; j < ow; j++) {
            salient_resample::Taps k;
            if (!salient_resample::taps(ih, iw, t, i, j, &k)) {
                for (int64_t ch = 0; ch < c; ch++) yb[ch * oh * ow + j] = 0.f;
                continue;
            }
            for (int64_t ch = 0; ch < c; ch++) yb[ch * oh * ow + j] = salient_resample::apply(xb + ch * ih * iw, iw, k);
        }
    }
    return SALIENT_OK;
}

// dx: (N,C,ih,iw) = the adjoint of the forward applied to dy: (N,C,oh,ow); dx is overwritten.
extern "C" int affine_resample_backward_cpu(const float* dy, const float* theta, float* dx, int64_t n, int64_t c,
                                            int64_t ih, int64_t iw, int64_t oh, int64_t ow) {
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(theta);
    SALIENT_CHECK_PTR(dx);
    SALIENT_CHECK(n > 0 && c > 0 && ih > 0 && iw > 0 && oh > 0 && ow > 0, "affine_resample_backward_cpu: bad sizes");
    for (int64_t b = 0; b < n; b++) {
        float inv[4];
        SALIENT_CHECK(salient_resample::invert(theta + 6 * b, inv), "affine_resample_backward_cpu: singular map of image %lld",
                      (long long)b);
    }
    // an image's C planes per thread, each scattered in scatter()'s fixed order (resample.h), the
    // taps of an output pixel found once for all of them
#pragma omp parallel for schedule(static) if (n * c * ih * iw > 16384)
    for (int64_t b = 0; b < n; b++)
        salient_resample::scatter_planes(dy + b * c * oh * ow, oh, ow, theta + 6 * b, dx + b * c * ih * iw, ih, iw, c);
    return SALIENT_OK;
}
