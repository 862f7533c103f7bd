// Row reductions: sum, mean, max and min of every row of an (R,L) view
// (per-image ranges for noise scales, per-map normalisation).
#include <cmath>
#include "common.h"
#include "primitives.h"

// y: (R) = op over each row of x: (R,L). Sums accumulate in double.
extern "C" int reduce_rows_cpu(int op, const float* x, float* y, int64_t r, int64_t l) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(op >= SALIENT_REDUCE_SUM && op <= SALIENT_REDUCE_MEAN, "reduce_rows_cpu: unknown op %d", op);
    SALIENT_CHECK(r > 0 && l > 0, "reduce_rows_cpu: bad sizes r=%lld l=%lld", (long long)r, (long long)l);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < r; i++) {
        const float* xi = x + i * l;
        if (op == SALIENT_REDUCE_SUM || op == SALIENT_REDUCE_MEAN) {
            double t = 0;
            for (int64_t j = 0; j < l; j++) t += xi[j];
            y[i] = (float)(op == SALIENT_REDUCE_MEAN ? t / (double)l : t);
        } else if (op == SALIENT_REDUCE_MAX) {
            float t = -INFINITY;
            for (int64_t j = 0; j < l; j++) t = fmaxf(t, xi[j]);
            y[i] = t;
        } else {
            float t = INFINITY;
            for (int64_t j = 0; j < l; j++) t = fminf(t, xi[j]);
            y[i] = t;
        }
    }
    return SALIENT_OK;
}
