// Pointwise activations and their data gradients.
#include <cmath>
#include <cstring>
#include <algorithm>
#include <immintrin.h>
#include "common.h"

// e^x as Cephes' expf computes it (n = round(x·log2 e); r = x − n·ln 2 in two parts; 1 + r + r²·p(r),
// p of degree 5; 2^n from exponent bits in two factors, so that subnormal results come out), +inf
// above 88.72, 0 below −103.97, NaN through: within 1 ulp of the correctly rounded e^x (a quarter of
// floats differ from glibc's expf by that ulp), as PyTorch's vectorised CPU exp is. exp8 computes 8
// lanes, exp1 one float with the same operations, so a value does not depend on where it falls.
namespace {
constexpr float kExpHi = 88.7228394f, kExpLo = -103.972076f, kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f, kP3 = 4.1665795894e-2f,
                kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

inline float exp1(float x) {
    if (x != x) return x;
    if (x > kExpHi) return INFINITY;
    if (x < kExpLo) return 0.f;
    const float n = std::nearbyint(x * kLog2e);  // round half to even, as _mm256_round_ps below
    float r = std::fma(-n, kLn2Hi, x);
    r = std::fma(-n, kLn2Lo, r);
    float p = kP0;
    p = std::fma(p, r, kP1);
    p = std::fma(p, r, kP2);
    p = std::fma(p, r, kP3);
    p = std::fma(p, r, kP4);
    p = std::fma(p, r, kP5);
    p = std::fma(p, r * r, r + 1.f);
    const int32_t ni = (int32_t)n, n1 = ni >> 1, n2 = ni - n1;
    const int32_t b1 = (n1 + 127) << 23, b2 = (n2 + 127) << 23;
    float s1, s2;
    std::memcpy(&s1, &b1, 4);
    std::memcpy(&s2, &b2, 4);
    return p * s1 * s2;
}

inline __m256 exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(kExpHi), lo = _mm256_set1_ps(kExpLo);
    const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);  // NaN lanes are restored at the end
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
    __m256 p = _mm256_set1_ps(kP0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
    const __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    __m256 v = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    v = _mm256_blendv_ps(v, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
    v = _mm256_blendv_ps(v, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
    return _mm256_blendv_ps(v, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

inline float sigmoid1(float x) { return 1.f / (1.f + exp1(-x)); }

// y = sigmoid(x), or with dy the gradient dy·s·(1 − s), 8 lanes at a time, the tail through exp1
template <bool Grad>
void sigmoid_lanes(const float* x, const float* dy, float* y, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.f), zero = _mm256_setzero_ps();
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t b = 0; b < (n + 1023) / 1024; b++) {
        const int64_t i0 = b * 1024, i1 = std::min(n, i0 + 1024);
        int64_t i = i0;
        for (; i + 8 <= i1; i += 8) {
            const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, _mm256_loadu_ps(x + i)))));
            if (Grad) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(dy + i), _mm256_mul_ps(s, _mm256_sub_ps(one, s))));
            else _mm256_storeu_ps(y + i, s);
        }
        for (; i < i1; i++) {
            const float s = sigmoid1(x[i]);
            y[i] = Grad ? dy[i] * (s * (1.f - s)) : s;
        }
    }
}
}  // namespace

// NaN propagates through every activation, as in PyTorch on the CPU and ONNX:
// relu(NaN) = clamp(NaN) = hardsigmoid(NaN) = NaN. `x < 0 ? 0 : x` keeps NaN (the
// comparison is false) where `x > 0 ? x : 0` and fmin/fmax would drop it.
static inline float clamp_nan(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

static inline float act_fwd(int kind, float x, float a, float b) {
    switch (kind) {
        case SALIENT_ACT_RELU: return x < 0.f ? 0.f : x;
        case SALIENT_ACT_LEAKY_RELU: return x >= 0.f ? x : a * x;
        case SALIENT_ACT_CLIP: return clamp_nan(x, a, b);
        case SALIENT_ACT_SIGMOID: return sigmoid1(x);
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
        case SALIENT_ACT_SIGMOID: { float s = sigmoid1(x); return s * (1.f - s); }
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
    if (kind == SALIENT_ACT_SIGMOID) {  // feature visualisation's images: 64 x 3 x 128^2, 2 threads, 4.1 -> 1.15 ms
        sigmoid_lanes<false>(x, nullptr, y, n);
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
    if (kind == SALIENT_ACT_SIGMOID) {
        sigmoid_lanes<true>(x, dy, dx, n);
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
