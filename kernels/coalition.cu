// coalition.cu: a model's first conv under coalition masks by its linearity, the CUDA twin of
// native/cpu/coalition.cpp (see there for the algebra). Each output is the CPU's chain: the shares
// and the baseline's conv as fmaf over the taps in (c, r, s) order; a coalition's conv output as
// B then fmaf over the slots its group of 16 columns uses (segment 0's coefficient times a zero
// share where a position has fewer); the activation and the max pool's scan (down each window's
// column, then along the row, NaN or larger replacing) as the CPU runs them. So the two engines
// give the same bits. Labels, slot segments and the design come as floats (exact below 2^24).
//
// FLOP/byte: prepare is (slots + 1) convs of one image, once per image; the combine reads a few
// shares per output and writes the pooled rows, bandwidth-bound and small next to the forward
// passes that follow it.
#include "common.cuh"
#include "primitives_cuda.h"

namespace {

__device__ __forceinline__ float takes(float best, float v) { return (v > best || v != v) ? v : best; }

__device__ __forceinline__ float activate(float v, int act, float lo, float hi) {
    if (act == SALIENT_CUDA_COALITION_RELU) return 0.f > v ? 0.f : v;
    if (act == SALIENT_CUDA_COALITION_CLIP) {
        v = lo > v ? lo : v;
        return hi < v ? hi : v;
    }
    return v;
}

struct Geom {
    int c, h, w, k, r, s, sh, sw, pt, pl, oh, ow, slots;
};

// part[t,k,p] for t < slots and bout[k,p] for t == slots: one thread each
__global__ void coalition_prepare_kernel(const float* __restrict__ x, const float* __restrict__ b,
                                         const float* __restrict__ labels, const float* __restrict__ w,
                                         const float* __restrict__ bias, const float* __restrict__ segs,
                                         float* __restrict__ part, float* __restrict__ bout, Geom g, int64_t total) {
    const int64_t P = (int64_t)g.oh * g.ow;
    GRID_STRIDE(i, total) {
        const int64_t p = i % P;
        const int kk = (int)((i / P) % g.k), t = (int)(i / (P * g.k));
        const int oy = (int)(p / g.ow), ox = (int)(p % g.ow);
        const int seg = t < g.slots ? (int)segs[t * P + p] : -1;
        float acc = 0.f;
        if (t == g.slots ? b != nullptr : seg >= 0) {
            for (int ci = 0; ci < g.c; ci++)
                for (int ri = 0; ri < g.r; ri++) {
                    const int iy = oy * g.sh - g.pt + ri;
                    if (iy < 0 || iy >= g.h) continue;
                    for (int si = 0; si < g.s; si++) {
                        const int ix = ox * g.sw - g.pl + si;
                        if (ix < 0 || ix >= g.w) continue;
                        if (t < g.slots && (int)labels[(int64_t)iy * g.w + ix] != seg) continue;
                        const int64_t q = ((int64_t)ci * g.h + iy) * g.w + ix;
                        const float bv = b ? b[q] : 0.f;
                        const float v = t < g.slots ? x[q] - bv : bv;
                        acc = fmaf(w[(((int64_t)kk * g.c + ci) * g.r + ri) * g.s + si], v, acc);
                    }
                }
        }
        if (t < g.slots) part[((int64_t)t * g.k + kk) * P + p] = acc;
        else bout[(int64_t)kk * P + p] = acc + (bias ? bias[kk] : 0.f);
    }
}

struct Combine {
    int k, oh, ow, slots, m, act;
    float lo, hi;
    int pkh, pkw, psh, psw, ppt, ppl, poh, pow;  // pkh == 0: no pool
    int64_t first, step, row;
};

// The coalition's conv output at (y, x) of plane kk: B then the slots the position's group of 16
// columns uses, each fmaf(z[segment], share, ·), then the activation.
__device__ float conv_out(const float* __restrict__ segs, const float* __restrict__ part, const float* __restrict__ bout,
                          const float* __restrict__ z, const Combine& c, int kk, int y, int x) {
    const int64_t P = (int64_t)c.oh * c.ow, p = (int64_t)y * c.ow + x;
    const int x0 = x / 16 * 16, x1 = min(x0 + 16, c.ow);
    int used = 1;
    for (int t = c.slots - 1; t >= 1 && used == 1; t--)
        for (int xx = x0; xx < x1; xx++)
            if (segs[t * P + (int64_t)y * c.ow + xx] >= 0.f) {
                used = t + 1;
                break;
            }
    float a = bout[(int64_t)kk * P + p];
    for (int t = 0; t < used; t++) {
        const int seg = (int)segs[t * P + p];
        a = fmaf(z[seg < 0 ? 0 : seg], part[((int64_t)t * c.k + kk) * P + p], a);
    }
    return activate(a, c.act, c.lo, c.hi);
}

// one thread per element of the written rows: coalition e, plane kk, output (py, px)
__global__ void coalition_combine_kernel(const float* __restrict__ segs, const float* __restrict__ part,
                                         const float* __restrict__ bout, const float* __restrict__ design,
                                         float* __restrict__ y, Combine c, int64_t total) {
    const bool pooled = c.pkh > 0;
    const int ph = pooled ? c.poh : c.oh, pw = pooled ? c.pow : c.ow;
    const int64_t plane = (int64_t)ph * pw;
    GRID_STRIDE(i, total) {
        const int px = (int)(i % pw), py = (int)((i / pw) % ph), kk = (int)((i / plane) % c.k);
        const int64_t e = i / (plane * c.k);
        const float* z = design + e * c.m;
        float v;
        if (!pooled) {
            v = conv_out(segs, part, bout, z, c, kk, py, px);
        } else {
            const int y0 = py * c.psh - c.ppt, t0 = max(0, -y0), t1 = min(c.pkh, c.oh - y0);
            v = -INFINITY;
            for (int tx = 0; tx < c.pkw; tx++) {
                const int xx = px * c.psw - c.ppl + tx;
                float col = -INFINITY;
                if (xx >= 0 && xx < c.ow) {
                    col = conv_out(segs, part, bout, z, c, kk, y0 + t0, xx);
                    for (int t = t0 + 1; t < t1; t++) col = takes(col, conv_out(segs, part, bout, z, c, kk, y0 + t, xx));
                }
                v = tx == 0 ? col : takes(v, col);
            }
        }
        y[(c.first + e * c.step) * c.row + (int64_t)kk * plane + (int64_t)py * pw + px] = v;
    }
}

}  // namespace

extern "C" int coalition_conv_prepare_cuda(const float* x, const float* b, const float* labels, const float* w,
                                           const float* bias, const float* segs, float* part, float* bout, int c, int h,
                                           int wd, int k, int r, int s, int sh, int sw, int pt, int pl, int oh, int ow,
                                           int slots) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(labels);
    SALIENT_CUDA_CHECK_PTR(w);
    SALIENT_CUDA_CHECK_PTR(segs);
    SALIENT_CUDA_CHECK_PTR(part);
    SALIENT_CUDA_CHECK_PTR(bout);
    SALIENT_CUDA_CHECK(c > 0 && h > 0 && wd > 0 && k > 0 && r > 0 && s > 0 && sh > 0 && sw > 0 && pt >= 0 && pl >= 0 &&
                           oh > 0 && ow > 0 && slots > 0 && slots <= 64 && (int64_t)(oh - 1) * sh - pt < h &&
                           (int64_t)(ow - 1) * sw - pl < wd,
                       "coalition_conv_prepare_cuda: bad sizes c=%d h=%d w=%d k=%d r=%d s=%d stride=%dx%d pad=%d,%d "
                       "out=%dx%d slots=%d",
                       c, h, wd, k, r, s, sh, sw, pt, pl, oh, ow, slots);
    const Geom g{c, h, wd, k, r, s, sh, sw, pt, pl, oh, ow, slots};
    const int64_t total = (int64_t)(slots + 1) * k * oh * ow;
    coalition_prepare_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, b, labels, w, bias, segs, part,
                                                                                         bout, g, total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int coalition_conv_cuda(const float* segs, const float* part, const float* bout, const float* design, float* y,
                                   int k, int oh, int ow, int slots, int m, int count, int64_t first, int64_t step,
                                   int64_t row, int act, float lo, float hi, int pool_kh, int pool_kw, int pool_sh,
                                   int pool_sw, int pool_pt, int pool_pl, int pool_oh, int pool_ow) {
    SALIENT_CUDA_CHECK_PTR(segs);
    SALIENT_CUDA_CHECK_PTR(part);
    SALIENT_CUDA_CHECK_PTR(bout);
    SALIENT_CUDA_CHECK_PTR(design);
    SALIENT_CUDA_CHECK_PTR(y);
    const bool pooled = pool_kh > 0;
    SALIENT_CUDA_CHECK(k > 0 && oh > 0 && ow > 0 && slots > 0 && slots <= 64 && m > 0 && m <= 65536 && count > 0 &&
                           first >= 0 && step > 0 &&
                           (act == SALIENT_CUDA_COALITION_NONE || act == SALIENT_CUDA_COALITION_RELU ||
                            act == SALIENT_CUDA_COALITION_CLIP),
                       "coalition_conv_cuda: bad sizes k=%d out=%dx%d slots=%d m=%d count=%d act=%d", k, oh, ow, slots, m,
                       count, act);
    SALIENT_CUDA_CHECK(!pooled || (pool_kw > 0 && pool_sh > 0 && pool_sw > 0 && pool_pt >= 0 && pool_pl >= 0 &&
                                   pool_pt < pool_kh && pool_pl < pool_kw && pool_oh > 0 && pool_ow > 0 &&
                                   (int64_t)(pool_oh - 1) * pool_sh - pool_pt < oh &&
                                   (int64_t)(pool_ow - 1) * pool_sw - pool_pl < ow),
                       "coalition_conv_cuda: bad max pool %dx%d stride %dx%d pad %d,%d out %dx%d over %dx%d", pool_kh,
                       pool_kw, pool_sh, pool_sw, pool_pt, pool_pl, pool_oh, pool_ow, oh, ow);
    const int64_t plane = pooled ? (int64_t)pool_oh * pool_ow : (int64_t)oh * ow;
    SALIENT_CUDA_CHECK(row >= (int64_t)k * plane, "coalition_conv_cuda: a row of %lld floats is below its %lld",
                       (long long)row, (long long)k * plane);
    const Combine c{k, oh, ow, slots, m, act, lo, hi, pool_kh, pool_kw, pool_sh, pool_sw, pool_pt, pool_pl, pool_oh,
                    pool_ow, first, step, row};
    const int64_t total = (int64_t)count * k * plane;
    coalition_combine_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(segs, part, bout, design, y, c,
                                                                                         total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
