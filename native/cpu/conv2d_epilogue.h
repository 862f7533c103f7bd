// The activation a forward conv applies to its outputs while they are still in
// cache (conv2d_forward_act_cpu): Relu or Clip, exactly as activation_forward_cpu
// computes them (Relu maps NaN to 0, Clip keeps it). Each conv path applies it
// to the block of outputs its work item has just written, so the separate pass
// over the whole tensor (and its read back from memory) goes away.
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
};

// y[i] = act(y[i]) for i in [0, n)
inline void apply_epilogue(const Epilogue& e, float* y, int64_t n) {
    if (e.kind == SALIENT_ACT_RELU) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = y[i] > 0.f ? y[i] : 0.f;
    } else if (e.kind == SALIENT_ACT_CLIP) {
        const float lo = e.lo, hi = e.hi;
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = std::min(std::max(y[i], lo), hi);
    }
}

// rows blocks of len floats, ld apart
inline void apply_epilogue(const Epilogue& e, float* y, int64_t rows, int64_t len, int64_t ld) {
    if (e.kind < 0) return;
    for (int64_t i = 0; i < rows; i++) apply_epilogue(e, y + i * ld, len);
}

// The conv paths with an epilogue (conv2d.h declares them without one).
int winograd_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, int nt,
                     const Epilogue& e);
void depthwise_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g,
                       const Epilogue& e);

}  // namespace conv
}  // namespace salient
