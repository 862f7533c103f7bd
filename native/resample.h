// resample.h: the per-pixel math of the feature-visualisation transforms, shared by the CPU
// engine (native/cpu/resample.cpp, g++) and its CUDA twin (kernels/resample.cu, nvcc), so
// that both compute the same taps and weights.
//
// An affine resample maps output pixel (i, j) (row, column; pixel centres at integers) to
// the input point  sx = t[0]*j + t[1]*i + t[2],  sy = t[3]*j + t[4]*i + t[5]  and samples
// the input there bilinearly, with zeros outside (torch.nn.functional.grid_sample with
// padding_mode="zeros", written in pixel coordinates). Its adjoint, the backward, is
// written as a gather on CUDA: input pixel (p, q) collects w * dy[i, j] from every output
// pixel whose bilinear footprint contains it, visiting them in a fixed order, so the result
// does not depend on thread scheduling (no atomics); the CPU scatters each image's planes in that same
// order on one thread. Both are deterministic.
#pragma once
#include <stdint.h>
#include <math.h>

#if defined(__CUDACC__)
#define SALIENT_RS_HD __host__ __device__ __forceinline__
#else
#define SALIENT_RS_HD inline
#endif

namespace salient_resample {

// The source point of output pixel (i, j) under t (6 floats).
SALIENT_RS_HD void source_point(const float* t, int64_t i, int64_t j, float* sx, float* sy) {
    *sx = t[0] * (float)j + t[1] * (float)i + t[2];
    *sy = t[3] * (float)j + t[4] * (float)i + t[5];
}

// Bilinear weight of input pixel index p for the coordinate s (0 when p is not one of the
// two taps floor(s), floor(s)+1): the same floats the forward multiplies with.
SALIENT_RS_HD float tap_weight(float s, int64_t p) {
    const float f0 = floorf(s);
    const float fr = s - f0;
    const int64_t i0 = (int64_t)f0;
    if (p == i0) return 1.f - fr;
    if (p == i0 + 1) return fr;
    return 0.f;
}

// y[i, j] for one (H, W) plane x.
SALIENT_RS_HD float sample(const float* x, int64_t h, int64_t w, const float* t, int64_t i, int64_t j) {
    float sx, sy;
    source_point(t, i, j, &sx, &sy);
    if (!(sx > -1.f && sx < (float)w && sy > -1.f && sy < (float)h)) return 0.f;  // also rejects NaN
    const float fx0 = floorf(sx), fy0 = floorf(sy);
    const int64_t x0 = (int64_t)fx0, y0 = (int64_t)fy0;
    const float ax = sx - fx0, ay = sy - fy0;
    float v = 0.f;
    if (y0 >= 0) {
        if (x0 >= 0) v += (1.f - ay) * (1.f - ax) * x[y0 * w + x0];
        if (x0 + 1 < w) v += (1.f - ay) * ax * x[y0 * w + x0 + 1];
    }
    if (y0 + 1 < h) {
        if (x0 >= 0) v += ay * (1.f - ax) * x[(y0 + 1) * w + x0];
        if (x0 + 1 < w) v += ay * ax * x[(y0 + 1) * w + x0 + 1];
    }
    return v;
}

// dx[p, q] for one plane: sum over the output pixels (oh, ow plane dy) whose taps include
// (p, q). `inv` is the inverse of t's linear part, (a, b; c, d), used only to bound the
// search to the parallelogram that can reach (p, q); every candidate is tested with the
// forward's own weights.
SALIENT_RS_HD float gather(const float* dy, int64_t oh, int64_t ow, const float* t, const float* inv, int64_t p,
                           int64_t q) {
    // output points whose source lies in the open square (q-1, q+1) x (p-1, p+1)
    float jmin = 1e30f, jmax = -1e30f, imin = 1e30f, imax = -1e30f;
    for (int c = 0; c < 4; c++) {
        const float ux = (float)q + ((c & 1) ? 1.f : -1.f) - t[2];
        const float uy = (float)p + ((c & 2) ? 1.f : -1.f) - t[5];
        const float jj = inv[0] * ux + inv[1] * uy, ii = inv[2] * ux + inv[3] * uy;
        jmin = fminf(jmin, jj);
        jmax = fmaxf(jmax, jj);
        imin = fminf(imin, ii);
        imax = fmaxf(imax, ii);
    }
    int64_t j0 = (int64_t)floorf(jmin) - 1, j1 = (int64_t)ceilf(jmax) + 1;
    int64_t i0 = (int64_t)floorf(imin) - 1, i1 = (int64_t)ceilf(imax) + 1;
    if (j0 < 0) j0 = 0;
    if (i0 < 0) i0 = 0;
    if (j1 > ow - 1) j1 = ow - 1;
    if (i1 > oh - 1) i1 = oh - 1;
    float acc = 0.f;
    for (int64_t i = i0; i <= i1; i++)
        for (int64_t j = j0; j <= j1; j++) {
            float sx, sy;
            source_point(t, i, j, &sx, &sy);
            if (!(sx > -1.f && sx < 1e30f && sy > -1.f && sy < 1e30f)) continue;
            const float wx = tap_weight(sx, q);
            if (wx == 0.f) continue;
            const float wy = tap_weight(sy, p);
            if (wy == 0.f) continue;
            acc += wy * wx * dy[i * ow + j];
        }
    return acc;
}

// The taps of output pixel (i, j) as sample() and scatter_planes() find them: the top-left tap (x0, y0),
// the four bilinear weights (rows y0, y0+1 by columns x0, x0+1, each the product sample() forms)
// and which taps lie inside the plane. False when the source point is outside (the value is 0).
struct Taps {
    int64_t x0, y0;
    float w[2][2];
    bool in[2][2];
};

SALIENT_RS_HD bool taps(int64_t h, int64_t w, const float* t, int64_t i, int64_t j, Taps* k) {
    float sx, sy;
    source_point(t, i, j, &sx, &sy);
    if (!(sx > -1.f && sx < (float)w && sy > -1.f && sy < (float)h)) return false;  // also rejects NaN
    const float fx0 = floorf(sx), fy0 = floorf(sy);
    k->x0 = (int64_t)fx0;
    k->y0 = (int64_t)fy0;
    const float ax = sx - fx0, ay = sy - fy0;
    k->w[0][0] = (1.f - ay) * (1.f - ax);
    k->w[0][1] = (1.f - ay) * ax;
    k->w[1][0] = ay * (1.f - ax);
    k->w[1][1] = ay * ax;
    const bool top = k->y0 >= 0, bottom = k->y0 + 1 < h, left = k->x0 >= 0, right = k->x0 + 1 < w;
    k->in[0][0] = top && left;
    k->in[0][1] = top && right;
    k->in[1][0] = bottom && left;
    k->in[1][1] = bottom && right;
    return true;
}

// sample()'s value for one plane x of width w from its taps: the same products, summed in the same order.
SALIENT_RS_HD float apply(const float* x, int64_t w, const Taps& k) {
    const int64_t o = k.y0 * w + k.x0;
    float v = 0.f;
    if (k.in[0][0]) v += k.w[0][0] * x[o];
    if (k.in[0][1]) v += k.w[0][1] * x[o + 1];
    if (k.in[1][0]) v += k.w[1][0] * x[o + w];
    if (k.in[1][1]) v += k.w[1][1] * x[o + w + 1];
    return v;
}

// dx for the c planes (h, w) of one image as a scatter (dy: c planes of (oh, ow), one map t): every
// output pixel (i, j), in row-major order, adds w * dy[i, j] to each of its taps with a non-zero
// weight w, computed as the forward computes it, its source point and weights found once for all
// planes. Each input pixel so receives the products gather() sums, in the same order (output pixels
// by row, then column), from zero; the scatter visits each output pixel once instead of searching a
// window per input pixel (18x faster on 140x140 planes). The two can still differ in the last bits
// where the compiler contracts the source point's products differently. One image is one thread's,
// so the result does not depend on the threads (the CPU engine's adjoint); dx is overwritten.
SALIENT_RS_HD void scatter_planes(const float* dy, int64_t oh, int64_t ow, const float* t, float* dx, int64_t h, int64_t w,
                                  int64_t c) {
    for (int64_t k = 0; k < c * h * w; k++) dx[k] = 0.f;
    for (int64_t i = 0; i < oh; i++)
        for (int64_t j = 0; j < ow; j++) {
            float sx, sy;
            source_point(t, i, j, &sx, &sy);
            if (!(sx > -1.f && sx < (float)w && sy > -1.f && sy < (float)h)) continue;  // also rejects NaN
            const float fx0 = floorf(sx), fy0 = floorf(sy);
            const int64_t x0 = (int64_t)fx0, y0 = (int64_t)fy0;
            const float wx[2] = {tap_weight(sx, x0), tap_weight(sx, x0 + 1)};
            const float wy[2] = {tap_weight(sy, y0), tap_weight(sy, y0 + 1)};
            for (int a = 0; a < 2; a++) {
                const int64_t p = y0 + a;
                if (p < 0 || p >= h || wy[a] == 0.f) continue;
                for (int cc = 0; cc < 2; cc++) {
                    const int64_t q = x0 + cc;
                    if (q < 0 || q >= w || wx[cc] == 0.f) continue;
                    const float wt = wy[a] * wx[cc];
                    for (int64_t ch = 0; ch < c; ch++) dx[ch * h * w + p * w + q] += wt * dy[ch * oh * ow + i * ow + j];
                }
            }
        }
}

// The inverse (a, b; c, d) of t's linear part; false when it is singular.
SALIENT_RS_HD bool invert(const float* t, float* inv) {
    const float det = t[0] * t[4] - t[1] * t[3];
    if (!(fabsf(det) > 1e-12f)) return false;
    inv[0] = t[4] / det;
    inv[1] = -t[1] / det;
    inv[2] = -t[3] / det;
    inv[3] = t[0] / det;
    return true;
}

}  // namespace salient_resample
