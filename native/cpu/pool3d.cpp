// 3-D max and average pooling, forward and data gradient, on the CPU.
//
//   max: y[n,c,z,p,q] = max_{t,r,s} x[n,c, z*sd - pf + t*dd, p*sh - pt + r*dh, q*sw - pl + s*dw]  (pads -inf)
//   avg: y[n,c,z,p,q] = (1/cnt) * sum_{t,r,s} x[...]                                              (pads 0)
//
// The window arithmetic (scan order, NaN rule, divisor) is pool3d_window.h, shared with
// kernels/pool3d.cu. Direct loops: the forward is parallel over (plane, output depth), the
// backward scatters each window's gradient into its own plane, parallel over the n*c planes
// (planes never share an input element, so there are no races).
//
// FLOPs: ker_vol compares or adds per output; memory-bound.
#include <cstring>
#include "common.h"
#include "pool3d_window.h"

namespace {

using salient::host::Vol3Geom;
namespace v3 = salient::vol3;

// y: (n*c, od, oh, ow) from x: (n*c, d, h, w); avg < 0: max pooling, else include_pad
void forward(const float* x, float* y, const Vol3Geom& g, int avg) {
    const int64_t planes = (int64_t)g.n * g.c, ivol = g.in_vol(), ovol = g.out_vol();
    const int64_t items = planes * g.out[0];
#pragma omp parallel for schedule(static) if (items * g.out[1] * g.out[2] * g.ker_vol() > 100000)
    for (int64_t it = 0; it < items; it++) {
        const int64_t pl = it / g.out[0];
        const int z = (int)(it % g.out[0]);
        const float* xv = x + pl * ivol;
        float* yz = y + pl * ovol + (int64_t)z * g.out[1] * g.out[2];
        for (int p = 0; p < g.out[1]; p++)
            for (int q = 0; q < g.out[2]; q++) {
                float v;
                if (avg < 0) {
                    v3::window_argmax(xv, g, z, p, q, &v);
                } else {
                    const int cnt = v3::avg_divisor(g, z, p, q, avg);
                    v = cnt > 0 ? v3::window_sum(xv, g, z, p, q) / (float)cnt : 0.f;
                }
                yz[(int64_t)p * g.out[2] + q] = v;
            }
    }
}

// dx: (n*c, d, h, w) overwritten; max (avg < 0) routes dy to each window's first maximum,
// avg spreads dy/cnt over the window's input positions.
void backward(const float* x, const float* dy, float* dx, const Vol3Geom& g, int avg) {
    const int64_t planes = (int64_t)g.n * g.c, ivol = g.in_vol(), ovol = g.out_vol();
#pragma omp parallel for schedule(static) if (planes * ovol * g.ker_vol() > 100000)
    for (int64_t pl = 0; pl < planes; pl++) {
        float* dxv = dx + pl * ivol;
        const float* dyv = dy + pl * ovol;
        std::memset(dxv, 0, sizeof(float) * (size_t)ivol);
        for (int z = 0; z < g.out[0]; z++)
            for (int p = 0; p < g.out[1]; p++)
                for (int q = 0; q < g.out[2]; q++) {
                    const float d = dyv[((int64_t)z * g.out[1] + p) * g.out[2] + q];
                    if (avg < 0) {
                        float best;
                        const int64_t at = v3::window_argmax(x + pl * ivol, g, z, p, q, &best);
                        if (at >= 0) dxv[at] += d;
                        continue;
                    }
                    const int cnt = v3::avg_divisor(g, z, p, q, avg);
                    if (cnt <= 0) continue;
                    const float share = d / (float)cnt;
                    for (int t = 0; t < g.ker[0]; t++) {
                        const int iz = z * g.stride[0] - g.pad0[0] + t * g.dil[0];
                        if (iz < 0 || iz >= g.in[0]) continue;
                        for (int r = 0; r < g.ker[1]; r++) {
                            const int ih = p * g.stride[1] - g.pad0[1] + r * g.dil[1];
                            if (ih < 0 || ih >= g.in[1]) continue;
                            float* row = dxv + ((int64_t)iz * g.in[1] + ih) * g.in[2];
                            for (int s = 0; s < g.ker[2]; s++) {
                                const int iw = q * g.stride[2] - g.pad0[2] + s * g.dil[2];
                                if (iw >= 0 && iw < g.in[2]) row[iw] += share;
                            }
                        }
                    }
                }
    }
}

}  // namespace

extern "C" int maxpool3d_forward_cpu(const float* x, float* y, const int32_t* geom) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    Vol3Geom g;
    if (int rc = salient::host::unpack_pool3d(__func__, geom, g)) return rc;
    forward(x, y, g, -1);
    return SALIENT_OK;
}

extern "C" int maxpool3d_backward_cpu(const float* x, const float* dy, float* dx, const int32_t* geom) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(dx);
    Vol3Geom g;
    if (int rc = salient::host::unpack_pool3d(__func__, geom, g)) return rc;
    backward(x, dy, dx, g, -1);
    return SALIENT_OK;
}

extern "C" int avgpool3d_forward_cpu(const float* x, float* y, const int32_t* geom, int count_include_pad) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    Vol3Geom g;
    if (int rc = salient::host::unpack_pool3d(__func__, geom, g)) return rc;
    forward(x, y, g, count_include_pad ? 1 : 0);
    return SALIENT_OK;
}

extern "C" int avgpool3d_backward_cpu(const float* dy, float* dx, const int32_t* geom, int count_include_pad) {
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(dx);
    Vol3Geom g;
    if (int rc = salient::host::unpack_pool3d(__func__, geom, g)) return rc;
    backward(nullptr, dy, dx, g, count_include_pad ? 1 : 0);
    return SALIENT_OK;
}
