// What a forward conv applies to its outputs while they are still in cache:
// optionally a residual sum, y = y + z (conv2d_forward_sum_cpu: a ResNet block's
// Add), then optionally Relu or Clip (conv2d_forward_act_cpu), exactly as
// binary_cpu's Add and activation_forward_cpu compute them (one float add, then
// the activation; NaN propagates through both, as in PyTorch). Each conv path
// applies it to the block of outputs its work item has just written, so the
// separate passes over the whole tensor (and their reads back from memory) go away.
#pragma once
#include <algorithm>
#include <cstdint>
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#include "conv2d.h"
#include "salient.h"

namespace salient {
namespace conv {

// What a pointwise conv (conv2d_forward_pre_cpu) applies to its input as it reads it: each value
// x[c][i] is taken as act(fma(x, scale[c], shift[c])), exactly what channel_affine_act_cpu (act
// Relu or Clip) or channel_affine_cpu (act < 0) would have written, where the conv packs or copies
// its B. DenseNet's BatchNormalization and Relu before each 1x1 conv (its input is a concat, so it
// cannot fold into a conv) then cost no pass over the activations of their own.
struct Prologue {
    const float* scale = nullptr;  // (c)
    const float* shift = nullptr;  // (c) or null: 0
    int kind = -1;                 // -1: none, SALIENT_ACT_RELU or SALIENT_ACT_CLIP
    float lo = 0.f, hi = 0.f;
};

// d[i] = the prologue of channel c's value s[i], i in [0, n)
inline void apply_prologue(const Prologue& p, int64_t c, const float* s, float* d, int64_t n) {
    const float a = p.scale[c], b = p.shift ? p.shift[c] : 0.f;
    if (p.kind == SALIENT_ACT_RELU) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float v = __builtin_fmaf(s[i], a, b);
            d[i] = v < 0.f ? 0.f : v;  // NaN stays NaN
        }
    } else if (p.kind == SALIENT_ACT_CLIP) {
        const float lo = p.lo, hi = p.hi;
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float v = __builtin_fmaf(s[i], a, b);
            d[i] = v < lo ? lo : (v > hi ? hi : v);  // NaN stays NaN
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) d[i] = __builtin_fmaf(s[i], a, b);
    }
}

struct Epilogue {
    int kind = -1;  // -1: none, SALIENT_ACT_RELU or SALIENT_ACT_CLIP
    float lo = 0.f, hi = 0.f;
    // the residual: output element y[i] of the conv's output tensor `base` gets z[i] added first
    const float* z = nullptr;
    const float* base = nullptr;
    // the input's prologue (pointwise convs only), or null
    const Prologue* pre = nullptr;
    // a backward's Relu mask: y[i] = 0 where mask[i] <= 0 (mask indexed as z; NaN passes), else y[i]
    // or, with z, y[i] + z[i]
    const float* mask = nullptr;
    bool any() const { return kind >= 0 || z || mask; }
};

// y[i] = act(y[i] + z[i]) (the sum when e.z is set) for i in [0, n); y points into e.base's tensor
inline void apply_epilogue(const Epilogue& e, float* y, int64_t n) {
    if (e.mask) {
        const float* m = e.mask + (y - e.base);
        // 8 lanes at a time, the select explicit: GCC compiled these loops (inlined into the conv paths) to
        // a scalar loop with a branch per element, which the Relu's mask mispredicts half the time (a
        // 64-channel 35x35 data gradient with its mask and sum took 27 ms instead of 14)
        const float* z = e.z ? e.z + (y - e.base) : nullptr;
        int64_t i = 0;
#if defined(__AVX2__)
        const __m256 zero = _mm256_setzero_ps();
        for (; i + 8 <= n; i += 8) {
            __m256 v = _mm256_loadu_ps(y + i);
            if (z) v = _mm256_add_ps(v, _mm256_loadu_ps(z + i));
            const __m256 off = _mm256_cmp_ps(_mm256_loadu_ps(m + i), zero, _CMP_LE_OQ);  // NaN passes
            _mm256_storeu_ps(y + i, _mm256_blendv_ps(v, zero, off));
        }
#endif
        for (; i < n; i++) {
            // the gradient's other contributions added first (the tape's fan-in sum), then the Relu
            const float v = z ? y[i] + z[i] : y[i];
            y[i] = m[i] <= 0.f ? 0.f : v;  // activation_backward_cpu's Relu
        }
        return;
    }
    if (e.z) {
        const float* z = e.z + (y - e.base);
        if (e.kind == SALIENT_ACT_RELU) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++) {
                const float v = y[i] + z[i];
                y[i] = v < 0.f ? 0.f : v;  // NaN stays NaN
            }
        } else if (e.kind == SALIENT_ACT_CLIP) {
            const float lo = e.lo, hi = e.hi;
#pragma omp simd
            for (int64_t i = 0; i < n; i++) {
                const float v = y[i] + z[i];
                y[i] = v < lo ? lo : (v > hi ? hi : v);  // NaN stays NaN
            }
        } else {
#pragma omp simd
            for (int64_t i = 0; i < n; i++) y[i] = y[i] + z[i];
        }
        return;
    }
    if (e.kind == SALIENT_ACT_RELU) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = y[i] < 0.f ? 0.f : y[i];  // NaN stays NaN
    } else if (e.kind == SALIENT_ACT_CLIP) {
        const float lo = e.lo, hi = e.hi;
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = y[i] < lo ? lo : (y[i] > hi ? hi : y[i]);  // NaN stays NaN
    }
}

// The epilogue of a fused conv entry point, its arguments checked first: act Relu or Clip, or
// none (act < 0) where none_ok; with a residual z, the output y (ny floats) may overlap neither z
// (ny floats) nor the input x (nx floats), since each output is written before the residual at the
// same place is read.
inline int make_epilogue(const char* fn, int act, float lo, float hi, bool none_ok, const float* z, const float* y,
                         int64_t ny, const float* x, int64_t nx, Epilogue& e) {
    SALIENT_CHECK((none_ok && act < 0) || act == SALIENT_ACT_RELU || act == SALIENT_ACT_CLIP,
                  "%s: activation %d cannot be fused (%sRelu %d or Clip %d)", fn, act, none_ok ? "none < 0, " : "",
                  SALIENT_ACT_RELU, SALIENT_ACT_CLIP);
    if (z) {
        const uintptr_t ya = (uintptr_t)y, ye = ya + sizeof(float) * (uintptr_t)ny;
        const uintptr_t za = (uintptr_t)z, ze = za + sizeof(float) * (uintptr_t)ny;
        const uintptr_t xa = (uintptr_t)x, xe = xa + sizeof(float) * (uintptr_t)nx;
        SALIENT_CHECK(ze <= ya || ye <= za, "%s: the residual overlaps the output", fn);
        SALIENT_CHECK(xe <= ya || ye <= xa, "%s: the input overlaps the output", fn);
    }
    e.kind = act < 0 ? -1 : act;
    e.lo = lo;
    e.hi = hi;
    e.z = z;
    e.base = y;
    return SALIENT_OK;
}

// rows blocks of len floats, ld apart
inline void apply_epilogue(const Epilogue& e, float* y, int64_t rows, int64_t len, int64_t ld) {
    if (!e.any()) return;
    for (int64_t i = 0; i < rows; i++) apply_epilogue(e, y + i * ld, len);
}

// The conv paths with an epilogue (conv2d.h declares them without one).
int winograd_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, int nt,
                     const Epilogue& e);
void depthwise_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g,
                       const Epilogue& e);
// A stem's 3x3 stride-2 conv from a few channels onto 16k, its outputs on the lanes (conv2d_stem.cpp)
bool stem_applies(const ConvGeom& g, const Epilogue& e);
int stem_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, int nt,
                 const Epilogue& e);
// the data gradient, an epilogue (a Relu mask, Epilogue::mask) applied to each part of dx as it is written
int winograd_backward_data(const float* dy, const float* w, float* dx, const ConvGeom& g, int nt, const Epilogue& e);

}  // namespace conv
}  // namespace salient
