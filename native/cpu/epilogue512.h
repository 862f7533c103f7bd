// A fused conv's epilogue on 16 lanes (AVX-512): the residual, then the activation, rounded as
// conv2d_epilogue.h's apply_epilogue rounds them, for the kernels that apply it in their stores
// (gemm_canonical.cpp's GEMM kernel, conv3d_implicit.cpp's implicit GEMM); and the activation on
// 8 lanes (AVX2: that GEMM kernel's stores, the pointwise conv's prologue in conv2d.cpp).
#pragma once
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include "isa.h"
#include "salient.h"

namespace salient {

#if defined(__AVX2__) && defined(__FMA__)
// Relu or Clip(lo, hi) of v (act; any other value: none) by compares, which are false for NaN, so NaN
// stays NaN
inline __m256 act256(__m256 v, int act, float lo, float hi) {
    if (act == SALIENT_ACT_RELU) return _mm256_blendv_ps(v, _mm256_setzero_ps(), _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
    if (act == SALIENT_ACT_CLIP) {
        const __m256 l = _mm256_set1_ps(lo), h = _mm256_set1_ps(hi);
        const __m256 below = _mm256_cmp_ps(v, l, _CMP_LT_OQ), above = _mm256_cmp_ps(v, h, _CMP_GT_OQ);
        return _mm256_blendv_ps(_mm256_blendv_ps(v, h, above), l, below);
    }
    return v;
}
#endif

#if SALIENT_HAVE_AVX512
SALIENT_AVX512_BEGIN
// v + z (the m lanes of z loaded; no sum where z is null), then Relu or Clip(lo, hi) (act; any other
// value: none) by compares, which are false for NaN, so NaN stays NaN
inline __m512 residual_act512(__m512 v, const float* z, __mmask16 m, int act, float lo, float hi) {
    if (z) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, z));
    if (act == SALIENT_ACT_RELU) {
        v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, _mm512_setzero_ps());
    } else if (act == SALIENT_ACT_CLIP) {
        const __m512 l = _mm512_set1_ps(lo), h = _mm512_set1_ps(hi);
        const __mmask16 below = _mm512_cmp_ps_mask(v, l, _CMP_LT_OQ), above = _mm512_cmp_ps_mask(v, h, _CMP_GT_OQ);
        v = _mm512_mask_blend_ps(below, _mm512_mask_blend_ps(above, v, h), l);
    }
    return v;
}
SALIENT_AVX512_END
#endif

}  // namespace salient
