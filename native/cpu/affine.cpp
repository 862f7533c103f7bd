// Per-channel affine maps and axpby, on the CPU.
#include "common.h"

namespace {

// y[o,c,i] = act(x[o,c,i] * scale[c] + shift[c]) over the planes, one fused multiply-add (the pointwise
// conv's prologue, conv2d_epilogue.h, computes the same), act applied to each affine value (an
// identity for the plain map); x, y: (outer, channels, inner), scale, shift: (channels)
template <class Act>
void affine_planes(const float* x, const float* scale, const float* shift, float* y, int64_t outer, int64_t channels,
                   int64_t inner, Act act) {
    const int64_t planes = outer * channels;
#pragma omp parallel for schedule(static) if (planes * inner > 32768)
    for (int64_t p = 0; p < planes; p++) {
        const int64_t c = p % channels;
        const float a = scale[c], b = shift ? shift[c] : 0.f;
        const float* xp = x + p * inner;
        float* yp = y + p * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; i++) yp[i] = act(__builtin_fmaf(xp[i], a, b));
    }
}

}  // namespace

extern "C" int channel_affine_cpu(const float* x, const float* scale, const float* shift, float* y,
                                  int64_t outer, int64_t channels, int64_t inner) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(scale);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(outer >= 0 && channels >= 0 && inner >= 0, "channel_affine_cpu: negative size");
    affine_planes(x, scale, shift, y, outer, channels, inner, [](float v) { return v; });
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
    // the affine value exactly as channel_affine_cpu computes it, then the activation as
    // activation_forward_cpu does (NaN stays NaN)
    if (act == SALIENT_ACT_RELU)
        affine_planes(x, scale, shift, y, outer, channels, inner, [](float v) { return v < 0.f ? 0.f : v; });
    else
        affine_planes(x, scale, shift, y, outer, channels, inner,
                      [alpha, beta](float v) { return v < alpha ? alpha : (v > beta ? beta : v); });
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
