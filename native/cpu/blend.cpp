// Masked blend and weighted sums along the leading axis: the arithmetic of path
// methods (IG's interpolation points and step sums), perturbation methods
// (occlusion, RISE, LIME masks) and noise tunnels, composed in Java.
#include <cmath>
#include "common.h"
#include "primitives.h"

// Fused multiply-adds throughout, as in the CUDA twin.
// y: (S,N,D), y[s,n,d] = b[n % nb, d] + m[s, d % dm] * (x[n,d] - b[n % nb, d]); x: (N,D), b: (nb,D), m: (S,dm)
extern "C" int masked_blend_cpu(const float* x, const float* b, const float* m, float* y, int64_t s, int64_t n,
                                int64_t nb, int64_t d, int64_t dm) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(b);
    SALIENT_CHECK_PTR(m);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(s > 0 && n > 0 && d > 0 && dm > 0 && (nb == 1 || nb == n) && d % dm == 0,
                  "masked_blend_cpu: bad sizes s=%lld n=%lld nb=%lld d=%lld dm=%lld", (long long)s, (long long)n,
                  (long long)nb, (long long)d, (long long)dm);
#pragma omp parallel for collapse(2) schedule(static) if (s * n * d > 65536)
    for (int64_t k = 0; k < s; k++)
        for (int64_t i = 0; i < n; i++) {
            const float* xi = x + i * d;
            const float* bi = b + (nb == 1 ? 0 : i) * d;
            const float* mk = m + k * dm;
            float* yi = y + (k * n + i) * d;
            if (dm == 1) {
                const float a = mk[0];
                for (int64_t j = 0; j < d; j++) yi[j] = std::fma(a, xi[j] - bi[j], bi[j]);
            } else {
                for (int64_t j = 0; j < d; j++) yi[j] = std::fma(mk[j % dm], xi[j] - bi[j], bi[j]);
            }
        }
    return SALIENT_OK;
}

// acc: (R) += sum_s w[s] * g[s,:]; g: (S,R). Each element adds the terms in s order, each
// as one fused multiply-add (as the CUDA twin), so the bytes do not depend on how the
// compiler vectorises the loop or on how the s axis is split into calls.
extern "C" int weighted_sum_cpu(const float* g, const float* w, float* acc, int64_t s, int64_t r) {
    SALIENT_CHECK_PTR(g);
    SALIENT_CHECK_PTR(w);
    SALIENT_CHECK_PTR(acc);
    SALIENT_CHECK(s > 0 && r > 0, "weighted_sum_cpu: bad sizes s=%lld r=%lld", (long long)s, (long long)r);
#pragma omp parallel for schedule(static) if (s * r > 65536)
    for (int64_t j = 0; j < r; j++) {
        float t = acc[j];
        for (int64_t k = 0; k < s; k++) t = std::fma(w[k], g[k * r + j], t);
        acc[j] = t;
    }
    return SALIENT_OK;
}
