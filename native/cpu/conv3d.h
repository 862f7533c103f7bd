// Shared by the conv3d CPU files: the fast paths that conv3d.cpp dispatches to.
#pragma once
#include "common.h"
#include "conv2d_epilogue.h"

namespace salient {
namespace conv3 {

using host::Vol3Geom;

// Whether conv3d_winograd.cpp takes this geometry (forward, or the data gradient).
bool winograd_applies(const Vol3Geom& g, bool backward);
int winograd_forward(const float* x, const float* w, const float* bias, float* y, const Vol3Geom& g, int nt,
                     const conv::Epilogue& e);
int winograd_backward_data(const float* dy, const float* w, float* dx, const Vol3Geom& g, int nt);

// The implicit-GEMM forward over a padded copy of the input (conv3d_implicit.cpp), for convs with
// a window that the Winograd path does not take.
bool implicit_applies(const Vol3Geom& g);
int implicit_forward(const float* x, const float* w, const float* bias, float* y, const Vol3Geom& g, int nt,
                     const conv::Epilogue& e);

// A 2-D stem on AVX2 (a few input channels, stride 2): implicit_forward's 16-output kernels, the
// same chains as im2col + sgemm (stem2d_applies).
bool stem2d_applies(const Vol3Geom& g);

// A 2-D conv (depth 1) on the direct kernel, each output's chain from zero with the bias added
// after it, as the 2-D im2col + sgemm path runs it, so the two give the same bits: where it is
// faster (direct2d_applies, AVX-512 only).
bool direct2d_applies(const Vol3Geom& g, int nt);
int direct2d_forward(const float* x, const float* w, const float* bias, float* y, const Vol3Geom& g, int nt,
                     const conv::Epilogue& e);

}  // namespace conv3
}  // namespace salient
