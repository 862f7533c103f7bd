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

#if defined(__CUDACC__)
#define SALIENT_CC_HD __host__ __device__ __forceinline__
#else
#define SALIENT_CC_HD inline
#endif

namespace salient_conv_channels {

// act((acc + bias) + z): act < 0 none, 0 Relu (salient.h's SALIENT_ACT_RELU), 2 Clip to [lo, hi].
SALIENT_CC_HD float finish(float acc, const float* bias, int k, const float* z, int act, float lo, float hi) {
    float v = bias ? acc + bias[k] : acc;
    if (z) v = v + *z;
    if (act == 0) return v < 0.f ? 0.f : v;                       // NaN stays NaN
    if (act == 2) return v < lo ? lo : (v > hi ? hi : v);          // NaN stays NaN
    return v;
}

}  // namespace salient_conv_channels
