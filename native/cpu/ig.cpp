// Integrated Gradients path integration (Captum semantics):
//   attr = (x - x') * sum_k w_k * grad f(x' + a_k (x - x'))
// ig_interpolate writes the points of a chunk of steps straight into the
// batch buffer; ig_accumulate adds w_k * grad for the chunk.
#include "common.h"

// y: (S,N,D) with y[s,n,:] = b[n,:] + alphas[s] * (x[n,:] - b[n,:]); x, b: (N,D).
extern "C" int ig_interpolate_cpu(const float* x, const float* b, const float* alphas, float* y, int s, int n, int64_t d) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(b);
    SALIENT_CHECK_PTR(alphas);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(s > 0 && n > 0 && d > 0, "ig_interpolate_cpu: bad sizes s=%d n=%d d=%lld", s, n, (long long)d);
    const int64_t nd = (int64_t)n * d;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < (int64_t)s * nd; i++) {
        int64_t j = i % nd;
        float a = alphas[i / nd];
        y[i] = b[j] + a * (x[j] - b[j]);
    }
    return SALIENT_OK;
}

// acc: (N,D) += sum_s weights[s] * g[s,n,:]; g: (S,N,D).
extern "C" int ig_accumulate_cpu(const float* g, const float* weights, float* acc, int s, int n, int64_t d) {
    SALIENT_CHECK_PTR(g);
    SALIENT_CHECK_PTR(weights);
    SALIENT_CHECK_PTR(acc);
    SALIENT_CHECK(s > 0 && n > 0 && d > 0, "ig_accumulate_cpu: bad sizes s=%d n=%d d=%lld", s, n, (long long)d);
    const int64_t nd = (int64_t)n * d;
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < nd; j++) {
        float t = acc[j];
        for (int k = 0; k < s; k++) t += weights[k] * g[k * nd + j];
        acc[j] = t;
    }
    return SALIENT_OK;
}
