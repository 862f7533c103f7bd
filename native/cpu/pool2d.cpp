// 2-D max and average pooling, forward and data gradient, on the CPU.
//
//   max:  y[n,c,p,q] = max_{r,s} x[n,c, p*sh - pt + r*dh, q*sw - pl + s*dw]   (pads are -inf)
//   avg:  y[n,c,p,q] = (1/cnt) * sum_{r,s} x[...]                             (pads are 0)
//
// Max pooling follows PyTorch's CPU kernel: a window position replaces the
// running maximum when `v > max || isnan(v)`, scanning the window in row-major
// order, so without NaNs the FIRST maximum wins and receives the gradient.
// Average pooling's divisor `cnt` is the number of window positions inside the
// input (count_include_pad = 0) or inside the padded input (count_include_pad
// = 1, as ONNX and PyTorch: the part of a ceil-mode window beyond the padded
// input never counts). Everything is parallel over the n*c planes.
#include <cmath>
#include <cstring>
#include <limits>
#include "common.h"

namespace {

struct PoolGeom {
    int n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, oh, ow;
};

int check_pool(const char* fn, const PoolGeom& g) {
    SALIENT_CHECK(g.n > 0 && g.c > 0 && g.h > 0 && g.w > 0 && g.kh > 0 && g.kw > 0 && g.oh > 0 && g.ow > 0,
                  "%s: non-positive size (n=%d c=%d h=%d w=%d kernel=%dx%d out=%dx%d)", fn, g.n, g.c, g.h, g.w,
                  g.kh, g.kw, g.oh, g.ow);
    SALIENT_CHECK(g.sh > 0 && g.sw > 0 && g.dh > 0 && g.dw > 0, "%s: strides and dilations must be positive", fn);
    SALIENT_CHECK(g.pt >= 0 && g.pl >= 0 && g.pb >= 0 && g.pr >= 0, "%s: negative pad", fn);
    // windows past the input are legal (they pool nothing) but an output far larger than the
    // input is a corrupt size
    SALIENT_CHECK((int64_t)(g.oh - 1) * g.sh <= (int64_t)g.h + g.pt + g.pb + (int64_t)g.dh * (g.kh - 1) &&
                      (int64_t)(g.ow - 1) * g.sw <= (int64_t)g.w + g.pl + g.pr + (int64_t)g.dw * (g.kw - 1),
                  "%s: output %dx%d does not fit the padded %dx%d input", fn, g.oh, g.ow, g.h, g.w);
    return SALIENT_OK;
}

// Index in the (h,w) plane of the winning position of window (p,q), or -1 if
// the window holds no input position. Writes the max (or -inf) to *best.
inline int64_t window_argmax(const float* xp, const PoolGeom& g, int p, int q, float* best_out) {
    float best = -std::numeric_limits<float>::infinity();
    int64_t idx = -1;
    for (int r = 0; r < g.kh; r++) {
        int ih = p * g.sh - g.pt + r * g.dh;
        if (ih < 0 || ih >= g.h) continue;
        for (int s = 0; s < g.kw; s++) {
            int iw = q * g.sw - g.pl + s * g.dw;
            if (iw < 0 || iw >= g.w) continue;
            float v = xp[(int64_t)ih * g.w + iw];
            if (idx < 0 || v > best || std::isnan(v)) {
                best = v;
                idx = (int64_t)ih * g.w + iw;
            }
        }
    }
    *best_out = best;
    return idx;
}

// Number of positions t in [0, k) with lo <= start + t*d < hi.
inline int count_in(int start, int k, int d, int lo, int hi) {
    int cnt = 0;
    for (int t = 0; t < k; t++) {
        int i = start + t * d;
        cnt += (i >= lo && i < hi);
    }
    return cnt;
}

inline int avg_divisor(const PoolGeom& g, int p, int q, int include_pad) {
    int h0 = p * g.sh - g.pt, w0 = q * g.sw - g.pl;
    if (include_pad)
        return count_in(h0, g.kh, g.dh, -g.pt, g.h + g.pb) * count_in(w0, g.kw, g.dw, -g.pl, g.w + g.pr);
    return count_in(h0, g.kh, g.dh, 0, g.h) * count_in(w0, g.kw, g.dw, 0, g.w);
}

}  // namespace

#define POOL_GEOM PoolGeom g{n, c, h, wd, kh, kw, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dil_h, dil_w, oh, ow}

extern "C" int maxpool2d_forward_cpu(const float* x, float* y, int n, int c, int h, int wd, int kh, int kw,
                                     int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                     int pad_right, int dil_h, int dil_w, int oh, int ow) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    POOL_GEOM;
    if (int rc = check_pool(__func__, g)) return rc;
    // x: (n,c,h,w), y: (n,c,oh,ow)
    const int64_t planes = (int64_t)n * c;
#pragma omp parallel for schedule(static) if (planes * oh * ow * kh * kw > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float* xp = x + pl * (int64_t)h * wd;
        float* yp = y + pl * (int64_t)oh * ow;
        for (int p = 0; p < oh; p++)
            for (int q = 0; q < ow; q++) {
                float best;
                window_argmax(xp, g, p, q, &best);
                yp[(int64_t)p * ow + q] = best;
            }
    }
    return SALIENT_OK;
}

extern "C" int maxpool2d_backward_cpu(const float* x, const float* dy, float* dx, int n, int c, int h, int wd,
                                      int kh, int kw, int stride_h, int stride_w, int pad_top, int pad_left,
                                      int pad_bottom, int pad_right, int dil_h, int dil_w, int oh, int ow) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(dx);
    POOL_GEOM;
    if (int rc = check_pool(__func__, g)) return rc;
    // x, dx: (n,c,h,w), dy: (n,c,oh,ow)
    const int64_t planes = (int64_t)n * c;
#pragma omp parallel for schedule(static) if (planes * oh * ow * kh * kw > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float* xp = x + pl * (int64_t)h * wd;
        const float* dyp = dy + pl * (int64_t)oh * ow;
        float* dxp = dx + pl * (int64_t)h * wd;
        std::memset(dxp, 0, sizeof(float) * (size_t)h * wd);
        for (int p = 0; p < oh; p++)
            for (int q = 0; q < ow; q++) {
                float best;
                int64_t idx = window_argmax(xp, g, p, q, &best);
                if (idx >= 0) dxp[idx] += dyp[(int64_t)p * ow + q];
            }
    }
    return SALIENT_OK;
}

extern "C" int avgpool2d_forward_cpu(const float* x, float* y, int n, int c, int h, int wd, int kh, int kw,
                                     int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                     int pad_right, int dil_h, int dil_w, int oh, int ow, int count_include_pad) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    POOL_GEOM;
    if (int rc = check_pool(__func__, g)) return rc;
    // x: (n,c,h,w), y: (n,c,oh,ow)
    const int64_t planes = (int64_t)n * c;
#pragma omp parallel for schedule(static) if (planes * oh * ow * kh * kw > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float* xp = x + pl * (int64_t)h * wd;
        float* yp = y + pl * (int64_t)oh * ow;
        for (int p = 0; p < oh; p++)
            for (int q = 0; q < ow; q++) {
                float sum = 0.f;
                for (int r = 0; r < kh; r++) {
                    int ih = p * stride_h - pad_top + r * dil_h;
                    if (ih < 0 || ih >= h) continue;
                    for (int s = 0; s < kw; s++) {
                        int iw = q * stride_w - pad_left + s * dil_w;
                        if (iw >= 0 && iw < wd) sum += xp[(int64_t)ih * wd + iw];
                    }
                }
                int cnt = avg_divisor(g, p, q, count_include_pad);
                yp[(int64_t)p * ow + q] = cnt > 0 ? sum / (float)cnt : 0.f;
            }
    }
    return SALIENT_OK;
}

extern "C" int avgpool2d_backward_cpu(const float* dy, float* dx, int n, int c, int h, int wd, int kh, int kw,
                                      int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                      int pad_right, int dil_h, int dil_w, int oh, int ow, int count_include_pad) {
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(dx);
    POOL_GEOM;
    if (int rc = check_pool(__func__, g)) return rc;
    // dy: (n,c,oh,ow), dx: (n,c,h,w)
    const int64_t planes = (int64_t)n * c;
#pragma omp parallel for schedule(static) if (planes * oh * ow * kh * kw > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float* dyp = dy + pl * (int64_t)oh * ow;
        float* dxp = dx + pl * (int64_t)h * wd;
        std::memset(dxp, 0, sizeof(float) * (size_t)h * wd);
        for (int p = 0; p < oh; p++)
            for (int q = 0; q < ow; q++) {
                int cnt = avg_divisor(g, p, q, count_include_pad);
                if (cnt == 0) continue;
                float v = dyp[(int64_t)p * ow + q] / (float)cnt;
                for (int r = 0; r < kh; r++) {
                    int ih = p * stride_h - pad_top + r * dil_h;
                    if (ih < 0 || ih >= h) continue;
                    for (int s = 0; s < kw; s++) {
                        int iw = q * stride_w - pad_left + s * dil_w;
                        if (iw >= 0 && iw < wd) dxp[(int64_t)ih * wd + iw] += v;
                    }
                }
            }
    }
    return SALIENT_OK;
}
