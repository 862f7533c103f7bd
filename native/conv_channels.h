// conv_channels.h: one output channel per image of a 2-D conv (conv2d_forward_channels_cpu and its
// CUDA twin in kernels/conv2d.cu), shared by g++ and nvcc so that both engines write the same bits.
//
// Feature visualisation maximises channel c_n of a layer in image n; where that layer is a conv's
// output (with its bias, residual sum and Relu), the other channels of the conv are never read, and
// computing c_n alone costs 1/k of the conv. Output (p, q) of channel k in image n is the chain
//
//   acc = 0;  for ci in k's group, r, s (in that order, taps outside the input skipped):
//       acc = fmaf(w[k, ci, r, s], x[n, ci, p*sh - pt + r*dh, q*sw - pl + s*dw], acc)
//
// then y = act((acc + bias[k]) + z[n, k, p, q]) (bias and z optional; act Relu or Clip, NaN passing
// through both, as the fused conv epilogues compute them). Every other channel of image n is 0.
#pragma once
#include <stdint.h>
#include "salient.h"

#if defined(__CUDACC__)
#define SALIENT_CC_HD __host__ __device__ __forceinline__
#else
#define SALIENT_CC_HD inline
#endif

namespace salient_conv_channels {

// A conv epilogue's activation: act < 0 none, SALIENT_ACT_RELU, or SALIENT_ACT_CLIP to [lo, hi]; NaN passes
// through both (the CPU's fused epilogues, conv2d_epilogue.h, compute the same).
SALIENT_CC_HD float activate(float v, int act, float lo, float hi) {
    if (act == SALIENT_ACT_RELU) return v < 0.f ? 0.f : v;
    if (act == SALIENT_ACT_CLIP) return v < lo ? lo : (v > hi ? hi : v);
    return v;
}

// act((acc + bias) + z), bias and z optional.
SALIENT_CC_HD float finish(float acc, const float* bias, int k, const float* z, int act, float lo, float hi) {
    float v = bias ? acc + bias[k] : acc;
    if (z) v = v + *z;
    return activate(v, act, lo, hi);
}

}  // namespace salient_conv_channels
