// Row reductions: sum, mean, max and min of every row of an (R,L) view
// (per-image ranges for noise scales, per-map normalisation).
#include <cmath>
#include "common.h"
#include "primitives.h"

namespace {

// The largest (Max) or smallest value of x[0, l), NaNs skipped as fmaxf/fminf skip them (-inf / +inf
// when every value is NaN). 16 running extremes, one per lane, then folded: a compare and a blend
// per value, which vectorises (fmaxf/fminf in a loop were a libm call per value).
template <bool Max>
float extreme(const float* x, int64_t l) {
    constexpr int kLanes = 16;
    float t[kLanes];
    for (int k = 0; k < kLanes; k++) t[k] = Max ? -INFINITY : INFINITY;
    int64_t j = 0;
    for (; j + kLanes <= l; j += kLanes)
#pragma omp simd
        for (int k = 0; k < kLanes; k++) {
            const float v = x[j + k];
            t[k] = (Max ? v > t[k] : v < t[k]) ? v : t[k];  // false for a NaN v: skipped
        }
    float r = Max ? -INFINITY : INFINITY;
    for (; j < l; j++) r = (Max ? x[j] > r : x[j] < r) ? x[j] : r;
    for (int k = 0; k < kLanes; k++) r = (Max ? t[k] > r : t[k] < r) ? t[k] : r;
    return r;
}

}  // namespace

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
        } else {
            y[i] = op == SALIENT_REDUCE_MAX ? extreme<true>(xi, l) : extreme<false>(xi, l);
        }
    }
    return SALIENT_OK;
}
