// Depthwise conv2d (groups == c, k = c*m), forward and data gradient.
//
// The simple version states the math: direct loops, parallel over planes, the
// inner loop over output columns contiguous for stride 1 (depthwise_forward_direct,
// depthwise_backward_data). FLOPs: 2 * n * k * oh * ow * r * s; bytes: the input
// and output planes once, so these layers are memory- and overhead-bound, not
// FLOP-bound (MobileNetV2's 7x7 planes left the direct loops at ~1 GFLOP/s).
//
// The tuned forward (strides 1 and 2, dilation 1) works on phase planes. The
// zero-padded input plane P ((pt+h+pb) x (pl+w+pr)) is split into sh*sw planes
//   Q[a][b][i][j] = P[i*sh + a][j*sw + b],   each hq x wq = ceil(hp/sh) x ceil(wp/sw),
// so that  y[p,q] = bias + sum_{r,s} w[r,s] * Q[r%sh][s%sw][p + r/sh][q + s/sw].
// With o = p*wq + q a flat index over the phase plane's width, every tap reads
// Q[r%sh][s%sw] at o + (r/sh)*wq + s/sw: one contiguous, branch-free loop over
// all output rows at once (columns q >= ow are computed and dropped), with no
// pad tests and no short-row tails on small planes. 3x3 keeps the 9 taps in
// registers and stores each output once; other kernels accumulate tap by tap
// over blocks that stay in L1.
#include <algorithm>
#include <cstring>
#include "conv2d.h"
#include "conv2d_epilogue.h"
#include "workspace.h"

namespace salient {
namespace conv {

namespace {

// Whether the phase-plane forward applies: strides 1 or 2, no dilation.
bool phase_applies(const ConvGeom& g) {
    return g.dh == 1 && g.dw == 1 && g.sh >= 1 && g.sh <= 2 && g.sw >= 1 && g.sw <= 2;
}

struct Phase {
    int hp, wp, hq, wq;  // padded plane, phase plane
    int64_t plane;       // floats per phase plane
    int64_t len;         // flat outputs computed: (oh - 1) * wq + ow
};

Phase phase_geom(const ConvGeom& g) {
    Phase f;
    f.hp = g.pt + g.h + g.pb;
    f.wp = g.pl + g.w + g.pr;
    f.hq = (f.hp + g.sh - 1) / g.sh;
    f.wq = (f.wp + g.sw - 1) / g.sw;
    f.plane = (int64_t)f.hq * f.wq;
    f.len = (int64_t)(g.oh - 1) * f.wq + g.ow;
    return f;
}

// Writes the sh*sw phase planes of one zero-padded input plane into q.
// xp: (h,w), q: (sh*sw, hq, wq)
void build_phases(const float* xp, float* q, const ConvGeom& g, const Phase& f) {
    std::memset(q, 0, sizeof(float) * (size_t)(f.plane * g.sh * g.sw));
    for (int ih = 0; ih < g.h; ih++) {
        const int i = ih + g.pt;
        const float* src = xp + (int64_t)ih * g.w;
        float* row = q + (int64_t)(i % g.sh) * g.sw * f.plane + (int64_t)(i / g.sh) * f.wq;
        if (g.sw == 1) {
            std::memcpy(row + g.pl, src, sizeof(float) * g.w);
        } else {
            // padded column j = iw + pl goes to phase j % 2, column j / 2
            for (int b = 0; b < 2; b++) {
                const int iw0 = ((b - g.pl) % 2 + 2) % 2;  // first iw with (iw + pl) % 2 == b
                float* dst = row + b * f.plane + ((iw0 + g.pl) >> 1);
                const int cnt = (g.w - iw0 + 1) / 2;
#pragma omp simd
                for (int u = 0; u < cnt; u++) dst[u] = src[iw0 + 2 * u];
            }
        }
    }
}

// One output plane from its phase planes: t (len) gets the flat outputs, then
// rows of ow are copied out. q: (sh*sw, hq, wq), wk: (r,s), yp: (oh,ow), t: scratch (len)
void phase_plane(const float* q, const float* wk, float b, float* yp, float* t, const ConvGeom& g, const Phase& f,
                 const Epilogue& e) {
    const int64_t len = f.len;
    auto tap = [&](int r, int s) {
        return q + (int64_t)((r % g.sh) * g.sw + s % g.sw) * f.plane + (int64_t)(r / g.sh) * f.wq + s / g.sw;
    };
    if (g.r == 3 && g.s == 3) {
        const float *t0 = tap(0, 0), *t1 = tap(0, 1), *t2 = tap(0, 2), *t3 = tap(1, 0), *t4 = tap(1, 1),
                    *t5 = tap(1, 2), *t6 = tap(2, 0), *t7 = tap(2, 1), *t8 = tap(2, 2);
        const float w0 = wk[0], w1 = wk[1], w2 = wk[2], w3 = wk[3], w4 = wk[4], w5 = wk[5], w6 = wk[6], w7 = wk[7],
                    w8 = wk[8];
#pragma omp simd
        for (int64_t o = 0; o < len; o++)
            t[o] = b + w0 * t0[o] + w1 * t1[o] + w2 * t2[o] + w3 * t3[o] + w4 * t4[o] + w5 * t5[o] + w6 * t6[o] +
                   w7 * t7[o] + w8 * t8[o];
    } else {
        constexpr int64_t kBlock = 512;
        for (int64_t o0 = 0; o0 < len; o0 += kBlock) {
            const int64_t o1 = std::min(len, o0 + kBlock);
            for (int64_t o = o0; o < o1; o++) t[o] = b;
            for (int r = 0; r < g.r; r++)
                for (int s = 0; s < g.s; s++) {
                    const float wv = wk[r * g.s + s];
                    const float* src = tap(r, s);
#pragma omp simd
                    for (int64_t o = o0; o < o1; o++) t[o] += wv * src[o];
                }
        }
    }
    for (int p = 0; p < g.oh; p++) std::memcpy(yp + (int64_t)p * g.ow, t + (int64_t)p * f.wq, sizeof(float) * g.ow);
    apply_epilogue(e, yp, (int64_t)g.oh * g.ow);
}

}  // namespace

// Depthwise forward, direct loops: plane (n, kk) reads input channel kk / m only.
// x: (n,c,h,w), w: (k,1,r,s), bias: (k) or NULL, y: (n,k,oh,ow), k = c*m
void depthwise_forward_direct(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g,
                              const Epilogue& e) {
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
        apply_epilogue(e, yp, (int64_t)g.oh * g.ow);
    }
}

// Depthwise forward: the phase-plane path where it applies, else the direct loops.
// x: (n,c,h,w), w: (k,1,r,s), bias: (k) or NULL, y: (n,k,oh,ow), k = c*m
void depthwise_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g) {
    depthwise_forward(x, w, bias, y, g, Epilogue{});
}

// The same with an epilogue applied to each output plane.
void depthwise_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g,
                       const Epilogue& e) {
    if (!phase_applies(g)) return depthwise_forward_direct(x, w, bias, y, g, e);
    const Phase f = phase_geom(g);
    const int m = g.k / g.c;
    const int64_t planes = (int64_t)g.n * g.k;
    const int64_t scratch = f.plane * g.sh * g.sw + f.len;
    bool failed = false;
#pragma omp parallel if (planes * g.oh * g.ow * g.r * g.s > 32768)
    {
        float* q = thread_workspace(scratch, 0);
        if (!q) {
#pragma omp atomic write
            failed = true;
        }
        float* t = q ? q + f.plane * g.sh * g.sw : nullptr;
        int64_t built = -1;  // input plane whose phases q holds
#pragma omp for schedule(static)
        for (int64_t pl = 0; pl < planes; pl++) {
            if (!q) continue;
            const int kk = (int)(pl % g.k);
            const int64_t nn = pl / g.k, in = nn * g.c + kk / m;
            if (in != built) {
                build_phases(x + in * (int64_t)g.h * g.w, q, g, f);
                built = in;
            }
            phase_plane(q, w + (int64_t)kk * g.r * g.s, bias ? bias[kk] : 0.f, y + pl * (int64_t)g.oh * g.ow, t, g, f, e);
        }
    }
    // a thread without scratch memory left its planes: redo them all the simple way
    if (failed) depthwise_forward_direct(x, w, bias, y, g, e);
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
