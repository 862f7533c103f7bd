// CAM family building blocks: per-channel gradient pooling, the channel
// combine, and the pytorch-grad-cam finish (ReLU, min-max, bilinear resize,
// min-max). Equations follow pytorch-grad-cam; Grad-CAM++ is eq. 19 of
// arXiv:1710.11063 with eps = 1e-6 as pytorch-grad-cam writes it.
#include <cmath>
#include <algorithm>
#include <vector>
#include "common.h"

// w: (N,K) channel weights from a: (N,K,P) activations and g: (N,K,P) gradients, P = h*w.
extern "C" int gradcam_weights_cpu(int kind, const float* a, const float* g, float* w, int n, int k, int64_t p) {
    SALIENT_CHECK_PTR(a);
    SALIENT_CHECK_PTR(g);
    SALIENT_CHECK_PTR(w);
    SALIENT_CHECK(n > 0 && k > 0 && p > 0, "gradcam_weights_cpu: bad sizes n=%d k=%d p=%lld", n, k, (long long)p);
    SALIENT_CHECK(kind >= SALIENT_CAMW_GRADCAM && kind <= SALIENT_CAMW_XGRADCAM, "gradcam_weights_cpu: unknown kind %d", kind);
#pragma omp parallel for schedule(static)
    for (int64_t nk = 0; nk < (int64_t)n * k; nk++) {
        const float* an = a + nk * p;
        const float* gn = g + nk * p;
        double acc = 0.0;
        if (kind == SALIENT_CAMW_GRADCAM) {
            // Grad-CAM: w_k = mean_hw dy/dA_k
            for (int64_t i = 0; i < p; i++) acc += gn[i];
            acc /= (double)p;
        } else if (kind == SALIENT_CAMW_GRADCAMPP) {
            // Grad-CAM++ eq. 19: alpha = g^2 / (2 g^2 + sum_hw(A) g^3 + eps), w_k = sum_hw relu(g) alpha
            float s = 0.f;
            for (int64_t i = 0; i < p; i++) s += an[i];
            for (int64_t i = 0; i < p; i++) {
                float gi = gn[i];
                if (gi == 0.f) continue;
                float g2 = gi * gi, g3 = g2 * gi;
                float alpha = g2 / (2.f * g2 + s * g3 + 1e-6f);
                acc += (double)(std::max(gi, 0.f) * alpha);
            }
        } else {
            // XGrad-CAM: w_k = sum_hw g * A / (sum_hw A + 1e-7)
            float s = 0.f;
            for (int64_t i = 0; i < p; i++) s += an[i];
            float denom = s + 1e-7f;
            for (int64_t i = 0; i < p; i++) acc += (double)(gn[i] * an[i] / denom);
        }
        w[nk] = (float)acc;
    }
    return SALIENT_OK;
}

// cam: (N,P) = combine over K of a: (N,K,P) with w: (N,K) (WEIGHTED) or g: (N,K,P)
// (LAYERCAM: relu(g)*a, HIRESCAM: g*a). `wg` is w for WEIGHTED, g otherwise.
extern "C" int cam_combine_cpu(int mode, const float* a, const float* wg, float* cam, int n, int k, int64_t p) {
    SALIENT_CHECK_PTR(a);
    SALIENT_CHECK_PTR(wg);
    SALIENT_CHECK_PTR(cam);
    SALIENT_CHECK(n > 0 && k > 0 && p > 0, "cam_combine_cpu: bad sizes n=%d k=%d p=%lld", n, k, (long long)p);
    SALIENT_CHECK(mode >= SALIENT_CAMC_WEIGHTED && mode <= SALIENT_CAMC_HIRESCAM, "cam_combine_cpu: unknown mode %d", mode);
#pragma omp parallel for schedule(static)
    for (int64_t np = 0; np < (int64_t)n * p; np++) {
        int64_t in = np / p, ip = np % p;
        float acc = 0.f;
        for (int kk = 0; kk < k; kk++) {
            float av = a[(in * k + kk) * p + ip];
            float f;
            if (mode == SALIENT_CAMC_WEIGHTED) f = wg[in * k + kk];
            else if (mode == SALIENT_CAMC_LAYERCAM) f = std::max(wg[(in * k + kk) * p + ip], 0.f);
            else f = wg[(in * k + kk) * p + ip];
            acc += f * av;
        }
        cam[np] = acc;
    }
    return SALIENT_OK;
}

// In place on one image map m: (P): relu, then m = (m - min) / (1e-7 + max(m - min)).
static void relu_minmax(float* m, int64_t p) {
    float lo = INFINITY;
    for (int64_t i = 0; i < p; i++) {
        m[i] = std::max(m[i], 0.f);
        lo = std::min(lo, m[i]);
    }
    float hi = -INFINITY;
    for (int64_t i = 0; i < p; i++) {
        m[i] -= lo;
        hi = std::max(hi, m[i]);
    }
    float d = 1e-7f + hi;
    for (int64_t i = 0; i < p; i++) m[i] /= d;
}

// Bilinear, half-pixel centres (torch align_corners=False, OpenCV INTER_LINEAR): the source
// columns and weights of every output column (x0, x1, lx: ow each, computed once per call).
struct Columns {
    std::vector<int> x0, x1;
    std::vector<float> lx;
    Columns(int iw, int ow) : x0(ow), x1(ow), lx(ow) {
        const float sw = (float)iw / (float)ow;
        for (int x = 0; x < ow; x++) {
            const float fx = std::max((x + 0.5f) * sw - 0.5f, 0.f);
            x0[x] = (int)fx;
            x1[x] = x0[x] + (x0[x] < iw - 1 ? 1 : 0);
            lx[x] = fx - x0[x];
        }
    }
};

// Output row y of src: (ih,iw) -> dst row (ow). Where the width is unchanged (a volume's depth
// pass: iw == ow, every lx 0), each column is its own source: the same value, (1 - lx) * a + lx * b
// being a at lx = 0, and a vectorisable loop.
static void bilinear_row(const float* src, int ih, int iw, int oh, int y, const Columns& cx, float* dst, int ow) {
    const float sh = (float)ih / (float)oh;
    const float fy = std::max((y + 0.5f) * sh - 0.5f, 0.f);
    const int y0 = (int)fy, y1 = y0 + (y0 < ih - 1 ? 1 : 0);
    const float ly = fy - y0, hy = 1.f - ly;
    const float *r0 = src + (int64_t)y0 * iw, *r1 = src + (int64_t)y1 * iw;
    if (iw == ow) {
#pragma omp simd
        for (int x = 0; x < ow; x++) dst[x] = hy * r0[x] + ly * r1[x];
        return;
    }
    for (int x = 0; x < ow; x++) {
        const float lx = cx.lx[x], hx = 1.f - lx;
        const int a = cx.x0[x], b = cx.x1[x];
        dst[x] = hy * (hx * r0[a] + lx * r0[b]) + ly * (hx * r1[a] + lx * r1[b]);
    }
}

static void bilinear_plane(const float* src, int ih, int iw, float* dst, int oh, int ow) {
    const Columns cx(iw, ow);
    for (int y = 0; y < oh; y++) bilinear_row(src, ih, iw, oh, y, cx, dst + (int64_t)y * ow, ow);
}

// x: (N,C,ih,iw) -> y: (N,C,oh,ow), bilinear with half-pixel centres; the threads take output rows.
extern "C" int bilinear_resize_cpu(const float* x, float* y, int nc, int ih, int iw, int oh, int ow) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(nc > 0 && ih > 0 && iw > 0 && oh > 0 && ow > 0, "bilinear_resize_cpu: bad sizes");
    const Columns cx(iw, ow);
    const int64_t rows = (int64_t)nc * oh;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t i = r / oh;
        bilinear_row(x + i * ih * iw, ih, iw, oh, (int)(r % oh), cx, y + r * ow, ow);
    }
    return SALIENT_OK;
}

// x: (N,C,ih,iw) -> y: (N,C,oh,ow), nearest neighbour as torch's mode='nearest'.
extern "C" int nearest_resize_cpu(const float* x, float* y, int nc, int ih, int iw, int oh, int ow) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(nc > 0 && ih > 0 && iw > 0 && oh > 0 && ow > 0, "nearest_resize_cpu: bad sizes");
    const float sh = (float)ih / (float)oh, sw = (float)iw / (float)ow;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < nc; i++) {
        const float* src = x + (int64_t)i * ih * iw;
        float* dst = y + (int64_t)i * oh * ow;
        for (int yy = 0; yy < oh; yy++) {
            int sy = std::min((int)std::floor(yy * sh), ih - 1);
            for (int xx = 0; xx < ow; xx++) {
                int sx = std::min((int)std::floor(xx * sw), iw - 1);
                dst[(int64_t)yy * ow + xx] = src[(int64_t)sy * iw + sx];
            }
        }
    }
    return SALIENT_OK;
}

// The pytorch-grad-cam finish. cam: (N,h,w) raw channel combination (modified in
// place); out: (N,H,W) = minmax(relu(resize(minmax(relu(cam))))).
extern "C" int cam_finish_cpu(float* cam, float* out, int n, int h, int w, int oh, int ow) {
    SALIENT_CHECK_PTR(cam);
    SALIENT_CHECK_PTR(out);
    SALIENT_CHECK(n > 0 && h > 0 && w > 0 && oh > 0 && ow > 0, "cam_finish_cpu: bad sizes");
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        float* c = cam + (int64_t)i * h * w;
        float* o = out + (int64_t)i * oh * ow;
        relu_minmax(c, (int64_t)h * w);
        bilinear_plane(c, h, w, o, oh, ow);
        relu_minmax(o, (int64_t)oh * ow);
    }
    return SALIENT_OK;
}
