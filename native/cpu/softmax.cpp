// Softmax over the middle axis of (outer, dim, inner), numerically stable
// (the max is subtracted before exp), and its data gradient
//   dx = y * (dy - sum_dim(dy * y)).
// Work is split into (outer, block of inner columns) items, each of which
// streams the dim axis with the inner block as its vector.
#include <algorithm>
#include <cmath>
#include <limits>
#include "common.h"

namespace {
constexpr int64_t kBlock = 64;
}

extern "C" int softmax_forward_cpu(const float* x, float* y, int64_t outer, int64_t dim, int64_t inner) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(outer >= 0 && dim >= 0 && inner >= 0, "softmax_forward_cpu: negative size");
    // x, y: (outer, dim, inner)
    const int64_t blocks = (inner + kBlock - 1) / kBlock;
    const int64_t items = outer * blocks;
#pragma omp parallel for schedule(static) if (outer * dim * inner > 16384)
    for (int64_t it = 0; it < items; it++) {
        const int64_t o = it / blocks, i0 = (it % blocks) * kBlock, nb = std::min(kBlock, inner - i0);
        const float* xp = x + o * dim * inner + i0;
        float* yp = y + o * dim * inner + i0;
        float mx[kBlock], sum[kBlock];
        for (int64_t i = 0; i < nb; i++) {
            mx[i] = -std::numeric_limits<float>::infinity();
            sum[i] = 0.f;
        }
        for (int64_t d = 0; d < dim; d++)
            for (int64_t i = 0; i < nb; i++) mx[i] = std::max(mx[i], xp[d * inner + i]);
        for (int64_t d = 0; d < dim; d++)
            for (int64_t i = 0; i < nb; i++) {
                float e = std::exp(xp[d * inner + i] - mx[i]);
                yp[d * inner + i] = e;
                sum[i] += e;
            }
        for (int64_t i = 0; i < nb; i++) sum[i] = 1.f / sum[i];
        for (int64_t d = 0; d < dim; d++)
            for (int64_t i = 0; i < nb; i++) yp[d * inner + i] *= sum[i];
    }
    return SALIENT_OK;
}

extern "C" int softmax_backward_cpu(const float* y, const float* dy, float* dx, int64_t outer, int64_t dim,
                                    int64_t inner) {
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(dx);
    SALIENT_CHECK(outer >= 0 && dim >= 0 && inner >= 0, "softmax_backward_cpu: negative size");
    // y, dy, dx: (outer, dim, inner)
    const int64_t blocks = (inner + kBlock - 1) / kBlock;
    const int64_t items = outer * blocks;
#pragma omp parallel for schedule(static) if (outer * dim * inner > 16384)
    for (int64_t it = 0; it < items; it++) {
        const int64_t o = it / blocks, i0 = (it % blocks) * kBlock, nb = std::min(kBlock, inner - i0);
        const int64_t base = o * dim * inner + i0;
        double dot[kBlock];
        for (int64_t i = 0; i < nb; i++) dot[i] = 0.0;
        for (int64_t d = 0; d < dim; d++)
            for (int64_t i = 0; i < nb; i++) dot[i] += (double)dy[base + d * inner + i] * y[base + d * inner + i];
        for (int64_t d = 0; d < dim; d++)
            for (int64_t i = 0; i < nb; i++) {
                const int64_t j = base + d * inner + i;
                dx[j] = y[j] * (dy[j] - (float)dot[i]);
            }
    }
    return SALIENT_OK;
}
