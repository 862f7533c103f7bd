// Per-channel affine maps and axpby, on the CPU.
#include "common.h"

extern "C" int channel_affine_cpu(const float* x, const float* scale, const float* shift, float* y,
                                  int64_t outer, int64_t channels, int64_t inner) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(scale);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(outer >= 0 && channels >= 0 && inner >= 0, "channel_affine_cpu: negative size");
    // x, y: (outer, channels, inner), scale, shift: (channels)
    const int64_t planes = outer * channels;
#pragma omp parallel for schedule(static) if (planes * inner > 32768)
    for (int64_t p = 0; p < planes; p++) {
        const int64_t c = p % channels;
        const float a = scale[c], b = shift ? shift[c] : 0.f;
        const float* xp = x + p * inner;
        float* yp = y + p * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; i++) yp[i] = xp[i] * a + b;
    }
    return SALIENT_OK;
}

extern "C" int channel_affine_act_cpu(const float* x, const float* scale, const float* shift, float* y,
                                      int64_t outer, int64_t channels, int64_t inner, int act, float alpha,
                                      float beta) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(scale);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(outer >= 0 && channels >= 0 && inner >= 0, "channel_affine_act_cpu: negative size");
    SALIENT_CHECK(act == SALIENT_ACT_RELU || act == SALIENT_ACT_CLIP,
                  "channel_affine_act_cpu: activation %d cannot be fused (Relu %d or Clip %d)", act, SALIENT_ACT_RELU,
                  SALIENT_ACT_CLIP);
    // x, y: (outer, channels, inner), scale, shift: (channels); the affine value exactly as
    // channel_affine_cpu computes it, then the activation as activation_forward_cpu does (NaN stays NaN)
    const int64_t planes = outer * channels;
#pragma omp parallel for schedule(static) if (planes * inner > 32768)
    for (int64_t p = 0; p < planes; p++) {
        const int64_t c = p % channels;
        const float a = scale[c], b = shift ? shift[c] : 0.f;
        const float* xp = x + p * inner;
        float* yp = y + p * inner;
        if (act == SALIENT_ACT_RELU) {
#pragma omp simd
            for (int64_t i = 0; i < inner; i++) {
                const float v = xp[i] * a + b;
                yp[i] = v < 0.f ? 0.f : v;
            }
        } else {
#pragma omp simd
            for (int64_t i = 0; i < inner; i++) {
                const float v = xp[i] * a + b;
                yp[i] = v < alpha ? alpha : (v > beta ? beta : v);
            }
        }
    }
    return SALIENT_OK;
}

extern "C" int axpby_cpu(float alpha, const float* x, float beta, float* y, int64_t n) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(n >= 0, "axpby_cpu: negative length %lld", (long long)n);
    // x, y: (n)
    if (beta == 0.f) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) y[i] = alpha * x[i];
    } else {
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) y[i] = alpha * x[i] + beta * y[i];
    }
    return SALIENT_OK;
}
