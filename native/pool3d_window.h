// pool3d_window.h: the window arithmetic of 3-D pooling, written once for both engines
// (native/cpu/pool3d.cpp and kernels/pool3d.cu; __host__ __device__ under nvcc).
//   max: the first maximum in depth-row-column scan order, a NaN replacing it (PyTorch's rule
//        `v > max || isnan(v)`), so without NaNs the FIRST maximum wins the gradient;
//   avg: the divisor counts window positions inside the input (count_include_pad = 0) or
//        inside the padded input (= 1, ONNX; a ceil-mode window's overhang never counts).
#pragma once
#include <cmath>
#include <cstdint>
#include "salient_host.h"

#ifdef __CUDACC__
#define SALIENT_HD __host__ __device__ __forceinline__
#else
#define SALIENT_HD inline
#endif

namespace salient {
namespace vol3 {

using host::Vol3Geom;

// Offset in the (d,h,w) volume of the first maximum of output window (z,p,q), or -1 when the
// window holds no input position; *best gets the maximum (-inf when none).
// xv: (d,h,w)
SALIENT_HD int64_t window_argmax(const float* xv, const Vol3Geom& g, int z, int p, int q, float* best) {
    float b = -INFINITY;
    int64_t at = -1;
    for (int t = 0; t < g.ker[0]; t++) {
        const int iz = z * g.stride[0] - g.pad0[0] + t * g.dil[0];
        if (iz < 0 || iz >= g.in[0]) continue;
        for (int r = 0; r < g.ker[1]; r++) {
            const int ih = p * g.stride[1] - g.pad0[1] + r * g.dil[1];
            if (ih < 0 || ih >= g.in[1]) continue;
            const int64_t row = ((int64_t)iz * g.in[1] + ih) * g.in[2];
            for (int s = 0; s < g.ker[2]; s++) {
                const int iw = q * g.stride[2] - g.pad0[2] + s * g.dil[2];
                if (iw < 0 || iw >= g.in[2]) continue;
                const float v = xv[row + iw];
                if (at < 0 || v > b || v != v) {
                    b = v;
                    at = row + iw;
                }
            }
        }
    }
    *best = b;
    return at;
}

// Positions start + j*dil, j < ker, that lie in [lo, hi).
SALIENT_HD int count_in(int start, int ker, int dil, int lo, int hi) {
    int cnt = 0;
    for (int j = 0; j < ker; j++) {
        const int i = start + j * dil;
        cnt += (i >= lo && i < hi);
    }
    return cnt;
}

// The average's divisor for output window (z,p,q).
SALIENT_HD int avg_divisor(const Vol3Geom& g, int z, int p, int q, int include_pad) {
    const int o[3] = {z, p, q};
    int cnt = 1;
    for (int a = 0; a < 3; a++) {
        const int start = o[a] * g.stride[a] - g.pad0[a];
        cnt *= include_pad ? count_in(start, g.ker[a], g.dil[a], -g.pad0[a], g.in[a] + g.pad1[a])
                           : count_in(start, g.ker[a], g.dil[a], 0, g.in[a]);
    }
    return cnt;
}

// Sum of the input positions of output window (z,p,q); xv: (d,h,w)
SALIENT_HD float window_sum(const float* xv, const Vol3Geom& g, int z, int p, int q) {
    float sum = 0.f;
    for (int t = 0; t < g.ker[0]; t++) {
        const int iz = z * g.stride[0] - g.pad0[0] + t * g.dil[0];
        if (iz < 0 || iz >= g.in[0]) continue;
        for (int r = 0; r < g.ker[1]; r++) {
            const int ih = p * g.stride[1] - g.pad0[1] + r * g.dil[1];
            if (ih < 0 || ih >= g.in[1]) continue;
            const int64_t row = ((int64_t)iz * g.in[1] + ih) * g.in[2];
            for (int s = 0; s < g.ker[2]; s++) {
                const int iw = q * g.stride[2] - g.pad0[2] + s * g.dil[2];
                if (iw >= 0 && iw < g.in[2]) sum += xv[row + iw];
            }
        }
    }
    return sum;
}

// Output index along axis a of the window that reads input position i at tap j, or -1 when
// no window does (i + pad0 - j*dil not a non-negative multiple of the stride below out).
SALIENT_HD int window_of(const Vol3Geom& g, int a, int i, int j) {
    const int v = i + g.pad0[a] - j * g.dil[a];
    if (v < 0 || v % g.stride[a] != 0) return -1;
    const int o = v / g.stride[a];
    return o < g.out[a] ? o : -1;
}

}  // namespace vol3
}  // namespace salient
