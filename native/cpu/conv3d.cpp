// 3-D convolution, forward and data gradient, on the CPU.
//
//   y[n,k,z,p,q] = bias[k] + sum_{c in group(k), t, r, s} w[k,c,t,r,s]
//                  * x[n,c, z*sd - pf + t*dd, p*sh - pt + r*dh, q*sw - pl + s*dw]
//   dx = conv3d^T(dy): the adjoint of the map x -> y (bias excluded).
//
// vol2col + OpenBLAS sgemm, the 3-D form of conv2d.cpp's im2col (Chellapilla et al. 2006):
// a work item is (image, group, block of output depth slices); its column matrix
// col[((c*KD + t)*KH + r)*KW + s, (z - z0)*oh*ow + p*ow + q] holds the window taps of those
// slices, and one single-threaded sgemm W_g (kg, cg*kd*kh*kw) x col writes the block of y.
// The data gradient is col = W_g^T dy_block, then col2vol (the adjoint of vol2col) adds it
// into dx; items of one (image, group) overlap in dx, so they run in one thread, or, with fewer
// (image, group) pairs than threads, col2vol splits the channels over the threads.
// Blocks hold enough slices for ~kTargetCols GEMM columns and at most kMaxCol floats of col.
//
// FLOPs: 2 * n * k * od * oh * ow * (c/groups) * kd * kh * kw for either pass.
#include <algorithm>
#include <cstring>
#include <omp.h>
#include "blas.h"
#include "common.h"
#include "conv2d.h"
#include "conv2d_epilogue.h"
#include "conv3d.h"
#include "workspace.h"

namespace {

using salient::host::Vol3Geom;
using salient::conv::Epilogue;
using salient::conv::valid_range;

constexpr int64_t kTargetCols = 1024;
constexpr int64_t kMaxCol = int64_t(1) << 22;

// Output depth slices [z0, z1) of the column matrix of one group's channels.
// x: (cg, d, h, w), col: (cg*kd*kh*kw, (z1-z0)*oh*ow)
void vol2col(const float* x, float* col, const Vol3Geom& g, int z0, int z1) {
    const int OH = g.out[1], OW = g.out[2];
    const int64_t ohw = (int64_t)OH * OW, ld = (z1 - z0) * ohw, plane = (int64_t)g.in[1] * g.in[2];
    const int64_t rows = (int64_t)g.cg * g.ker_vol();
    for (int64_t row = 0; row < rows; row++) {
        const int s = (int)(row % g.ker[2]), r = (int)((row / g.ker[2]) % g.ker[1]);
        const int t = (int)((row / ((int64_t)g.ker[2] * g.ker[1])) % g.ker[0]);
        const int64_t c = row / g.ker_vol();
        const int off_w = s * g.dil[2] - g.pad0[2];
        int lo, hi;
        valid_range(off_w, g.stride[2], g.in[2], OW, lo, hi);
        for (int z = z0; z < z1; z++) {
            float* dz = col + row * ld + (z - z0) * ohw;
            const int iz = z * g.stride[0] - g.pad0[0] + t * g.dil[0];
            if (iz < 0 || iz >= g.in[0]) {
                std::memset(dz, 0, sizeof(float) * (size_t)ohw);
                continue;
            }
            const float* src = x + (c * g.in[0] + iz) * plane;
            for (int p = 0; p < OH; p++) {
                float* d = dz + (int64_t)p * OW;
                const int ih = p * g.stride[1] - g.pad0[1] + r * g.dil[1];
                if (ih < 0 || ih >= g.in[1]) {
                    std::memset(d, 0, sizeof(float) * OW);
                    continue;
                }
                const float* srow = src + (int64_t)ih * g.in[2] + off_w;
                for (int q = 0; q < lo; q++) d[q] = 0.f;
                if (g.stride[2] == 1) {
                    std::memcpy(d + lo, srow + lo, sizeof(float) * (hi - lo));
                } else {
                    const int sw = g.stride[2];
                    for (int q = lo; q < hi; q++) d[q] = srow[(int64_t)q * sw];
                }
                for (int q = hi; q < OW; q++) d[q] = 0.f;
            }
        }
    }
}

// x[c, ...] += the column rows of channels [c0, c1) for output slices [z0, z1) (the adjoint of vol2col).
// col: ((c1-c0)*kd*kh*kw, (z1-z0)*oh*ow), its first row channel c0's; x: (cg, d, h, w)
void col2vol(const float* col, float* x, const Vol3Geom& g, int z0, int z1, int c0, int c1) {
    const int OH = g.out[1], OW = g.out[2];
    const int64_t ohw = (int64_t)OH * OW, ld = (z1 - z0) * ohw, plane = (int64_t)g.in[1] * g.in[2];
    for (int c = c0; c < c1; c++)
        for (int t = 0; t < g.ker[0]; t++)
            for (int r = 0; r < g.ker[1]; r++)
                for (int s = 0; s < g.ker[2]; s++) {
                    const int64_t row = (((int64_t)(c - c0) * g.ker[0] + t) * g.ker[1] + r) * g.ker[2] + s;
                    const int off_w = s * g.dil[2] - g.pad0[2];
                    int lo, hi;
                    valid_range(off_w, g.stride[2], g.in[2], OW, lo, hi);
                    for (int z = z0; z < z1; z++) {
                        const int iz = z * g.stride[0] - g.pad0[0] + t * g.dil[0];
                        if (iz < 0 || iz >= g.in[0]) continue;
                        const float* sz = col + row * ld + (z - z0) * ohw;
                        float* dst = x + ((int64_t)c * g.in[0] + iz) * plane;
                        for (int p = 0; p < OH; p++) {
                            const int ih = p * g.stride[1] - g.pad0[1] + r * g.dil[1];
                            if (ih < 0 || ih >= g.in[1]) continue;
                            float* drow = dst + (int64_t)ih * g.in[2] + off_w;
                            const float* srow = sz + (int64_t)p * OW;
                            if (g.stride[2] == 1) {
#pragma omp simd
                                for (int q = lo; q < hi; q++) drow[q] += srow[q];
                            } else {
                                const int sw = g.stride[2];
                                for (int q = lo; q < hi; q++) drow[(int64_t)q * sw] += srow[q];
                            }
                        }
                    }
                }
}

// Output depth slices per work item: ~kTargetCols columns, col within kMaxCol floats. A function
// of one image's geometry only, so an image's work is cut the same way at any batch size and
// thread count.
int slices_per_block(const Vol3Geom& g) {
    const int64_t ohw = (int64_t)g.out[1] * g.out[2], crs = (int64_t)g.cg * g.ker_vol();
    int64_t zr = std::min<int64_t>(g.out[0], std::max<int64_t>(1, (kTargetCols + ohw - 1) / ohw));
    zr = std::min(zr, std::max<int64_t>(1, kMaxCol / std::max<int64_t>(1, crs * ohw)));
    return (int)zr;
}

int threads_for(const Vol3Geom& g) {
    const double flops = 2.0 * g.n * g.k * (double)g.out_vol() * g.cg * g.ker_vol();
    return flops < 2e6 ? 1 : omp_get_max_threads();
}

// x: (n,c,d,h,w), w: (k,cg,kd,kh,kw), bias: (k) or NULL, y: (n,k,od,oh,ow)
// Items (image, group, block of output slices); each runs one single-threaded sgemm of a shape
// fixed by the geometry, so the threads and the batch only decide who computes an item.
int forward(const float* x, const float* w, const float* bias, float* y, const Vol3Geom& g, const Epilogue& e) {
    const int nt = threads_for(g);
    if (salient::conv3::winograd_applies(g, false)) return salient::conv3::winograd_forward(x, w, bias, y, g, nt, e);
    if (salient::conv3::implicit_applies(g)) return salient::conv3::implicit_forward(x, w, bias, y, g, nt, e);
    const int zr = slices_per_block(g);
    const int blocks = (g.out[0] + zr - 1) / zr;
    const int64_t crs = (int64_t)g.cg * g.ker_vol(), ohw = (int64_t)g.out[1] * g.out[2], ovol = g.out_vol();
    const int64_t items = (int64_t)g.n * g.groups * blocks;
    int err = 0;
#pragma omp parallel num_threads((int)std::min<int64_t>(nt, items))
    {
        float* col = salient::thread_workspace(crs * zr * ohw, 0);
        if (!col) {
#pragma omp atomic write
            err = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            if (!col) continue;
            const int b = (int)(it % blocks), gi = (int)((it / blocks) % g.groups);
            const int64_t nn = it / ((int64_t)blocks * g.groups);
            const int z0 = b * zr, z1 = std::min(g.out[0], z0 + zr);
            const int64_t len = (z1 - z0) * ohw;
            const float* xg = x + (nn * g.c + (int64_t)gi * g.cg) * g.in_vol();          // (cg,d,h,w)
            const float* wg = w + (int64_t)gi * g.kg * crs;                               // (kg,crs)
            float* yb = y + (nn * g.k + (int64_t)gi * g.kg) * ovol + z0 * ohw;            // (kg,len), ld ovol
            vol2col(xg, col, g, z0, z1);
            if (bias)
                for (int kk = 0; kk < g.kg; kk++)
                    std::fill(yb + kk * ovol, yb + kk * ovol + len, bias[gi * g.kg + kk]);
            salient::sgemm_serial(false, false, g.kg, (int)len, (int)crs, 1.f, wg, (int)crs, col, (int)len,
                                  bias ? 1.f : 0.f, yb, (int)ovol);
            salient::conv::apply_epilogue(e, yb, g.kg, len, ovol);
        }
    }
    if (err) return salient::fail(SALIENT_ENOMEM, "conv3d_forward_cpu: out of memory for the vol2col workspace");
    return SALIENT_OK;
}

// Input channels per data-gradient item: up to kChannelBlocks blocks per (image, group).
constexpr int kChannelBlocks = 4;

// dy: (n,k,od,oh,ow), w: (k,cg,kd,kh,kw), dx: (n,c,d,h,w)
// Items (image, group, block of input channels): col rows of those channels = W_g[:, c0:c1]^T dy
// per block of output slices, then col2vol into those channels of dx, which only this item
// writes. The blocks are fixed by the geometry (as in forward), so an image's dx is the same bits
// at any batch size and thread count.
int backward_data(const float* dy, const float* w, float* dx, const Vol3Geom& g) {
    const int nt = threads_for(g);
    if (salient::conv3::winograd_applies(g, true)) return salient::conv3::winograd_backward_data(dy, w, dx, g, nt);
    const int zr = slices_per_block(g);
    const int blocks = (g.out[0] + zr - 1) / zr;
    const int64_t kvol = g.ker_vol(), crs = (int64_t)g.cg * kvol, ohw = (int64_t)g.out[1] * g.out[2], ovol = g.out_vol();
    const int cblocks = std::min(g.cg, kChannelBlocks), per = (g.cg + cblocks - 1) / cblocks;
    const int64_t items = (int64_t)g.n * g.groups * cblocks;
    int err = 0;
#pragma omp parallel num_threads((int)std::min<int64_t>(nt, items))
    {
        float* col = salient::thread_workspace(per * kvol * zr * ohw, 0);
        if (!col) {
#pragma omp atomic write
            err = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            if (!col) continue;
            const int cb = (int)(it % cblocks);
            const int64_t pair = it / cblocks;
            const int gi = (int)(pair % g.groups);
            const int64_t nn = pair / g.groups;
            const int c0 = cb * per, c1 = std::min(g.cg, c0 + per);
            if (c0 >= c1) continue;
            float* dxg = dx + (nn * g.c + (int64_t)gi * g.cg) * g.in_vol();  // (cg,d,h,w)
            std::memset(dxg + c0 * g.in_vol(), 0, sizeof(float) * (size_t)((c1 - c0) * g.in_vol()));
            const float* wg = w + (int64_t)gi * g.kg * crs + c0 * kvol;      // (kg, crs) from column c0*kvol
            for (int b = 0; b < blocks; b++) {
                const int z0 = b * zr, z1 = std::min(g.out[0], z0 + zr);
                const int64_t len = (z1 - z0) * ohw;
                const float* dyb = dy + (nn * g.k + (int64_t)gi * g.kg) * ovol + z0 * ohw;  // (kg,len), ld ovol
                salient::sgemm_serial(true, false, (int)((c1 - c0) * kvol), (int)len, g.kg, 1.f, wg, (int)crs, dyb,
                                      (int)ovol, 0.f, col, (int)len);
                col2vol(col, dxg, g, z0, z1, c0, c1);
            }
        }
    }
    if (err) return salient::fail(SALIENT_ENOMEM, "conv3d_backward_data_cpu: out of memory for the col2vol workspace");
    return SALIENT_OK;
}

// The engine's own limits on top of the common checks: BLAS ints.
int check_blas(const char* fn, const Vol3Geom& g) {
    const int64_t crs = (int64_t)g.cg * g.ker_vol();
    SALIENT_CHECK(crs < INT_MAX / 2 && g.out_vol() < INT_MAX, "%s: volume or filter too large for BLAS ints", fn);
    SALIENT_CHECK(crs * g.out[1] * g.out[2] < (int64_t(1) << 34), "%s: vol2col slice of %lld floats is too large", fn,
                  (long long)(crs * g.out[1] * g.out[2]));
    return SALIENT_OK;
}

}  // namespace

namespace {

// The forwards: y = act(conv3d(x, w) + bias [+ z]) (act < 0: none), arguments checked before any memory is touched.
int forward_entry(const char* fn, const float* x, const float* w, const float* bias, const float* z, float* y,
                  const int32_t* geom, int act, float alpha, float beta) {
    Vol3Geom g;
    if (int rc = salient::host::unpack_conv3d(fn, geom, g)) return rc;
    if (int rc = check_blas(fn, g)) return rc;
    Epilogue e;
    if (int rc = salient::conv::make_epilogue(fn, act, alpha, beta, true, z, y, (int64_t)g.n * g.k * g.out_vol(), x,
                                              (int64_t)g.n * g.c * g.in_vol(), e))
        return rc;
    return forward(x, w, bias, y, g, e);
}

}  // namespace

extern "C" int conv3d_forward_cpu(const float* x, const float* w, const float* bias, float* y, const int32_t* geom,
                                  int act, float alpha, float beta) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(w);
    SALIENT_CHECK_PTR(y);
    return forward_entry(__func__, x, w, bias, nullptr, y, geom, act, alpha, beta);
}

extern "C" int conv3d_forward_sum_cpu(const float* x, const float* w, const float* bias, const float* z, float* y,
                                      const int32_t* geom, int act, float alpha, float beta) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(w);
    SALIENT_CHECK_PTR(z);
    SALIENT_CHECK_PTR(y);
    return forward_entry(__func__, x, w, bias, z, y, geom, act, alpha, beta);
}

extern "C" int conv3d_backward_data_cpu(const float* dy, const float* w, float* dx, const int32_t* geom) {
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(w);
    SALIENT_CHECK_PTR(dx);
    Vol3Geom g;
    if (int rc = salient::host::unpack_conv3d(__func__, geom, g)) return rc;
    if (int rc = check_blas(__func__, g)) return rc;
    return backward_data(dy, w, dx, g);
}
