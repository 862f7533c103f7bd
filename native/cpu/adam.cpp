// Adam's update (Kingma & Ba, arXiv:1412.6980, Algorithm 1), on the CPU, written as
// torch.optim.Adam computes it (single-tensor path, no weight decay, no amsgrad):
//   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g;
//   p = p - step_size * m / (sqrt(v) / bc2_sqrt + eps),  step_size = lr / (1 - b1^t),
//   bc2_sqrt = sqrt(1 - b2^t)  (both computed once per step by the caller).
#include <cmath>
#include "common.h"
#include "primitives.h"

extern "C" int adam_step_cpu(float* p, const float* g, float* m, float* v, int64_t n, float beta1, float beta2,
                             float eps, float step_size, float bc2_sqrt) {
    SALIENT_CHECK_PTR(p);
    SALIENT_CHECK_PTR(g);
    SALIENT_CHECK_PTR(m);
    SALIENT_CHECK_PTR(v);
    SALIENT_CHECK(n > 0, "adam_step_cpu: bad size n=%lld", (long long)n);
    SALIENT_CHECK(bc2_sqrt > 0.f, "adam_step_cpu: bias correction must be positive");
    // p, g, m, v: (n)
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        const float gi = g[i];
        const float mi = m[i] * beta1 + gi * (1.f - beta1);
        const float vi = v[i] * beta2 + gi * gi * (1.f - beta2);
        m[i] = mi;
        v[i] = vi;
        p[i] -= step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
    return SALIENT_OK;
}
