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
#include "conv2d.h"
#include "salient.h"

namespace salient {
namespace conv {

struct Epilogue {
    int kind = -1;  // -1: none, SALIENT_ACT_RELU or SALIENT_ACT_CLIP
    float lo = 0.f, hi = 0.f;
    // the residual: output element y[i] of the conv's output tensor `base` gets z[i] added first
    const float* z = nullptr;
    const float* base = nullptr;
    bool any() const { return kind >= 0 || z; }
};

// y[i] = act(y[i] + z[i]) (the sum when e.z is set) for i in [0, n); y points into e.base's tensor
inline void apply_epilogue(const Epilogue& e, float* y, int64_t n) {
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

}  // namespace conv
}  // namespace salient
