// Pointwise activations and their data gradients.
#include <cmath>
#include <algorithm>
#include "common.h"

// NaN propagates through every activation, as in PyTorch on the CPU and ONNX:
// relu(NaN) = clamp(NaN) = hardsigmoid(NaN) = NaN. `x < 0 ? 0 : x` keeps NaN (the
// comparison is false) where `x > 0 ? x : 0` and fmin/fmax would drop it.
static inline float clamp_nan(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

static inline float act_fwd(int kind, float x, float a, float b) {
    switch (kind) {
        case SALIENT_ACT_RELU: return x < 0.f ? 0.f : x;
        case SALIENT_ACT_LEAKY_RELU: return x >= 0.f ? x : a * x;
        case SALIENT_ACT_CLIP: return clamp_nan(x, a, b);
        case SALIENT_ACT_SIGMOID: return 1.f / (1.f + std::exp(-x));
        case SALIENT_ACT_HARD_SIGMOID: return clamp_nan(a * x + b, 0.f, 1.f);
        case SALIENT_ACT_HARD_SWISH: return x * clamp_nan(x / 6.f + 0.5f, 0.f, 1.f);
        case SALIENT_ACT_ABS: return std::fabs(x);
    }
    return 0.f;
}

// d act / dx at x; at kinks we follow PyTorch (gradient of the "inactive" side
// for ReLU at 0, pass-through inside the closed Clip interval).
static inline float act_grad(int kind, float x, float a, float b) {
    switch (kind) {
        case SALIENT_ACT_RELU: return x <= 0.f ? 0.f : 1.f;  // PyTorch masks by relu(x) <= 0: NaN passes dy
        case SALIENT_ACT_LEAKY_RELU: return x > 0.f ? 1.f : a;
        case SALIENT_ACT_CLIP: return (x >= a && x <= b) ? 1.f : 0.f;
        case SALIENT_ACT_SIGMOID: { float s = 1.f / (1.f + std::exp(-x)); return s * (1.f - s); }
        case SALIENT_ACT_HARD_SIGMOID: { float t = a * x + b; return (t > 0.f && t < 1.f) ? a : 0.f; }
        case SALIENT_ACT_HARD_SWISH:
            if (x < -3.f) return 0.f;
            if (x <= 3.f) return x / 3.f + 0.5f;
            return 1.f;
        case SALIENT_ACT_ABS: return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f);
    }
    return 0.f;
}

extern "C" int activation_forward_cpu(int kind, const float* x, float* y, int64_t n, float alpha, float beta) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(n >= 0, "activation_forward_cpu: negative length %lld", (long long)n);
    SALIENT_CHECK(kind >= SALIENT_ACT_RELU && kind <= SALIENT_ACT_ABS, "activation_forward_cpu: unknown kind %d", kind);
    if (kind == SALIENT_ACT_RELU) {  // the common case, as one vectorised loop
#pragma omp parallel for simd schedule(static) if (n > 32768)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.f ? 0.f : x[i];  // NaN stays NaN
        return SALIENT_OK;
    }
    if (kind == SALIENT_ACT_CLIP) {  // ReLU6 (MobileNets), vectorised as Relu is
#pragma omp parallel for simd schedule(static) if (n > 32768)
        for (int64_t i = 0; i < n; i++) y[i] = clamp_nan(x[i], alpha, beta);
        return SALIENT_OK;
    }
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t i = 0; i < n; i++) y[i] = act_fwd(kind, x[i], alpha, beta);
    return SALIENT_OK;
}

extern "C" int activation_backward_cpu(int kind, const float* x, const float* dy, float* dx, int64_t n, float alpha, float beta) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(dx);
    SALIENT_CHECK(n >= 0, "activation_backward_cpu: negative length %lld", (long long)n);
    SALIENT_CHECK(kind >= SALIENT_ACT_RELU && kind <= SALIENT_ACT_ABS, "activation_backward_cpu: unknown kind %d", kind);
    if (kind == SALIENT_ACT_RELU) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
        for (int64_t i = 0; i < n; i++) dx[i] = x[i] <= 0.f ? 0.f : dy[i];
        return SALIENT_OK;
    }
    if (kind == SALIENT_ACT_CLIP) {  // act_grad's mask, times dy as below (0 * NaN stays NaN), vectorised
#pragma omp parallel for simd schedule(static) if (n > 32768)
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (float)((x[i] >= alpha) & (x[i] <= beta));
        return SALIENT_OK;
    }
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * act_grad(kind, x[i], alpha, beta);
    return SALIENT_OK;
}

extern "C" int fill_cpu(float* x, int64_t n, float value) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK(n >= 0, "fill_cpu: negative length %lld", (long long)n);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) x[i] = value;
    return SALIENT_OK;
}

// Lucid's redirected ReLU gradient (visualize/RedirectedRelu.java) over rows (batch elements) of
// per values each, in two passes over a row instead of the ten of its composition, the same floats:
//   t = dy where x < 0 or x is NaN, else 0;  relu_grad = dy − t
//   a row with any |relu_grad| > 0 (NaN not counted, as reduce_rows' max skips it) gets relu_grad,
//   any other row dy − (x ≥ 0 ? 0 : relu(dy)): dy, except 0 where x < 0 and dy > 0.
extern "C" int redirected_relu_backward_cpu(const float* x, const float* dy, float* dx, int64_t rows, int64_t per) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(dx);
    SALIENT_CHECK(rows > 0 && per > 0, "redirected_relu_backward_cpu: bad sizes rows=%lld per=%lld", (long long)rows,
                  (long long)per);
#pragma omp parallel for schedule(static) if (rows * per > 65536)
    for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * per;
        const float* gr = dy + r * per;
        float* dr = dx + r * per;
        bool any = false;
        constexpr int64_t kBlock = 1024;
        for (int64_t j0 = 0; j0 < per && !any; j0 += kBlock) {
            const int64_t j1 = std::min(per, j0 + kBlock);
            int hit = 0;
#pragma omp simd reduction(| : hit)
            for (int64_t j = j0; j < j1; j++) {
                const float t = xr[j] >= 0.f ? 0.f : gr[j];
                hit |= std::fabs(gr[j] - t) > 0.f;
            }
            any = hit != 0;
        }
        if (any) {
#pragma omp simd
            for (int64_t j = 0; j < per; j++) dr[j] = gr[j] - (xr[j] >= 0.f ? 0.f : gr[j]);
        } else {
#pragma omp simd
            for (int64_t j = 0; j < per; j++) {
                const float u = gr[j] < 0.f ? 0.f : gr[j];
                dr[j] = gr[j] - (xr[j] >= 0.f ? 0.f : u);
            }
        }
    }
    return SALIENT_OK;
}
