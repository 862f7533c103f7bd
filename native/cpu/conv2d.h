// Shared by the conv2d CPU files: the checked geometry and small index helpers.
#pragma once
#include <algorithm>
#include <climits>
#include <cstdint>
#include <vector>
#include "common.h"
#include "isa.h"

namespace salient {
namespace conv {

// The geometry and its common checks are salient_host.h's (shared with the CUDA engine).
using host::ConvGeom;

// The common checks, then the CPU engine's limits (BLAS ints, the im2col buffer).
inline int check_conv(const char* fn, ConvGeom& g) {
    if (int rc = host::check_conv_geometry(fn, g)) return rc;
    int64_t crs = (int64_t)(g.c / g.groups) * g.r * g.s;
    int64_t ohw = (int64_t)g.oh * g.ow;
    SALIENT_CHECK(crs < INT_MAX && ohw < INT_MAX && (int64_t)g.h * g.w < INT_MAX,
                  "%s: plane or filter too large for BLAS ints", fn);
    SALIENT_CHECK(crs * ohw < (int64_t(1) << 34), "%s: im2col buffer of %lld floats is too large", fn,
                  (long long)(crs * ohw));
    return SALIENT_OK;
}

// Valid output columns [lo, hi) for which q*stride + off lies in [0, size).
inline void valid_range(int off, int stride, int size, int out, int& lo, int& hi) {
    lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
    hi = size - off <= 0 ? 0 : (size - off + stride - 1) / stride;
    lo = std::min(lo, out);
    hi = std::max(lo, std::min(hi, out));
}

// A 1x1 conv's geometry: n images of c channels of h x wd onto k, stride 1, no padding (unchecked)
inline ConvGeom pointwise_geom(int n, int c, int h, int wd, int k) {
    return ConvGeom{n, c, h, wd, k, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0};
}

inline bool is_pointwise(const ConvGeom& g) {
    return g.r == 1 && g.s == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.pb == 0 && g.pr == 0;
}

// A conv input up to this size is taken to be in the caches: the layer before has just written it (a
// larger one was streamed past them, or no longer fits). The kernels that read their input where it
// lies instead of copying it take only these (GemmEpilogue::b_cached, the stride-2 depthwise rows);
// from memory the copies' sequential reads win (measured at each use), except for projections onto at
// most 48 channels of one k block, which stream their input in place (gemm_canonical.cpp's rows_direct).
constexpr int64_t kCachedInputBytes = int64_t(16) << 20;

// A conv input up to this size is taken to be in the cores' L2 caches (GemmEpilogue::b_near).
constexpr int64_t kNearInputBytes = int64_t(4) << 20;

inline int64_t input_bytes(const ConvGeom& g) { return (int64_t)g.n * g.c * g.h * g.w * (int64_t)sizeof(float); }
inline bool input_in_caches(const ConvGeom& g) { return input_bytes(g) <= kCachedInputBytes; }
inline bool input_near(const ConvGeom& g) { return input_bytes(g) <= kNearInputBytes; }

// 3x3 stride-1 convs by Winograd F(2x2, 3x3), conv2d_winograd.cpp: whether it
// applies with nt threads, and the forward and data gradient through it.
bool winograd_applies(const ConvGeom& g, int nt);
int winograd_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, int nt);

// Direct depthwise (groups == c) loops, conv2d_depthwise.cpp.
void depthwise_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g);
void depthwise_backward_data(const float* dy, const float* w, float* dx, const ConvGeom& g);

#if SALIENT_HAVE_AVX512
struct Epilogue;

// Depthwise 3x3 convs a band of output rows at a time (conv2d_depthwise.cpp), for a conv that makes its
// input rows a band at a time (conv2d.cpp's pointwise-depthwise pair): AVX-512, k == c, stride 1 with
// pads 1 on planes the flat kernel takes, or stride 2 onto rows of 12 outputs and more. Each output as
// the whole-plane path computes it (the flat kernel, the stride-2 rows), so the same bits.
bool depthwise_rows_applies(const ConvGeom& g);
// Bands start at multiples of this many output rows (the flat kernel's vectors of 16 outputs)
int depthwise_rows_step(const ConvGeom& g);
class __attribute__((visibility("hidden"))) DepthwiseRows {  // (hidden, as ConvGeom is)
  public:
    explicit DepthwiseRows(const ConvGeom& g);
    // output rows [p0, p1) of one plane (yp: the plane), input row ih at xp + ih * g.w for the rows
    // their windows read; wk the channel's 9 weights; e without a residual
    void run(const float* xp, const float* wk, float bias, float* yp, const Epilogue& e, int p0, int p1) const;

  private:
    ConvGeom g_;
    std::vector<uint16_t> masks_;  // the flat kernel's lane masks of the plane (__mmask16s; stride 1)
};
#endif

}  // namespace conv
}  // namespace salient
