// Depthwise conv2d (groups == c, k = c*m) as direct loops, forward and data
// gradient: parallel over planes, the inner loop over output columns is
// contiguous for stride 1 and vectorises. FLOPs: 2 * n * k * oh * ow * r * s.
#include <cstring>
#include "conv2d.h"

namespace salient {
namespace conv {

// Depthwise forward: plane (n, kk) reads input channel kk / m only.
// x: (n,c,h,w), w: (k,1,r,s), bias: (k) or NULL, y: (n,k,oh,ow), k = c*m
void depthwise_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g) {
    const int m = g.k / g.c;
    const int64_t planes = (int64_t)g.n * g.k;
#pragma omp parallel for schedule(static) if (planes * g.oh * g.ow * g.r * g.s > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const int kk = (int)(pl % g.k);
        const int64_t nn = pl / g.k;
        const float* xp = x + (nn * g.c + kk / m) * (int64_t)g.h * g.w;
        const float* wk = w + (int64_t)kk * g.r * g.s;
        float* yp = y + pl * (int64_t)g.oh * g.ow;
        const float b = bias ? bias[kk] : 0.f;
        for (int p = 0; p < g.oh; p++) {
            float* yrow = yp + (int64_t)p * g.ow;
            for (int q = 0; q < g.ow; q++) yrow[q] = b;
            for (int r = 0; r < g.r; r++) {
                int ih = p * g.sh - g.pt + r * g.dh;
                if (ih < 0 || ih >= g.h) continue;
                const float* xrow = xp + (int64_t)ih * g.w;
                for (int s = 0; s < g.s; s++) {
                    const float wv = wk[r * g.s + s];
                    int off_w = s * g.dw - g.pl, lo, hi;
                    valid_range(off_w, g.sw, g.w, g.ow, lo, hi);
                    const float* xs = xrow + off_w;
                    if (g.sw == 1) {
#pragma omp simd
                        for (int q = lo; q < hi; q++) yrow[q] += wv * xs[q];
                    } else {
                        const int sw = g.sw;
#pragma omp simd
                        for (int q = lo; q < hi; q++) yrow[q] += wv * xs[(int64_t)q * sw];
                    }
                }
            }
        }
    }
}

// Depthwise data gradient: input plane (n, cc) gathers from output planes cc*m .. cc*m+m-1.
// dy: (n,k,oh,ow), w: (k,1,r,s), dx: (n,c,h,w)
void depthwise_backward_data(const float* dy, const float* w, float* dx, const ConvGeom& g) {
    const int m = g.k / g.c;
    const int64_t planes = (int64_t)g.n * g.c;
#pragma omp parallel for schedule(static) if (planes * g.oh * g.ow * g.r * g.s * m > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const int cc = (int)(pl % g.c);
        const int64_t nn = pl / g.c;
        float* xp = dx + pl * (int64_t)g.h * g.w;
        std::memset(xp, 0, sizeof(float) * (size_t)g.h * g.w);
        for (int j = 0; j < m; j++) {
            const int kk = cc * m + j;
            const float* wk = w + (int64_t)kk * g.r * g.s;
            const float* yp = dy + (nn * g.k + kk) * (int64_t)g.oh * g.ow;
            for (int p = 0; p < g.oh; p++) {
                const float* yrow = yp + (int64_t)p * g.ow;
                for (int r = 0; r < g.r; r++) {
                    int ih = p * g.sh - g.pt + r * g.dh;
                    if (ih < 0 || ih >= g.h) continue;
                    float* xrow = xp + (int64_t)ih * g.w;
                    for (int s = 0; s < g.s; s++) {
                        const float wv = wk[r * g.s + s];
                        int off_w = s * g.dw - g.pl, lo, hi;
                        valid_range(off_w, g.sw, g.w, g.ow, lo, hi);
                        float* xs = xrow + off_w;
                        if (g.sw == 1) {
#pragma omp simd
                            for (int q = lo; q < hi; q++) xs[q] += wv * yrow[q];
                        } else {
                            const int sw = g.sw;
                            for (int q = lo; q < hi; q++) xs[(int64_t)q * sw] += wv * yrow[q];
                        }
                    }
                }
            }
        }
    }
}

}  // namespace conv
}  // namespace salient
