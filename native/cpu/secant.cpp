// The secant backward of a pointwise function over paired rows: DeepLIFT's Rescale rule
// (Shrikumar et al. 2017, arXiv:1704.02685, sec. 3.3) as Captum's DeepLift computes it
// (deep_lift.py, `nonlinear`): the first half of the rows are inputs, the second half their
// references, element i paired with element h+i, and the derivative is replaced by the slope
// of the secant Δy/Δx where the input moved, the function's own derivative elsewhere.
#include <algorithm>
#include <cmath>
#include "common.h"
#include "primitives.h"

// x, y, dy, dx: (2,h). Where |x[i] - x[h+i]| >= eps both halves become
// dy * (y[i] - y[h+i]) / (x[i] - x[h+i]), in Captum's order of operations (the product first, then
// the quotient); elsewhere the function's own gradient: dx as it came (own < 0), or Relu's
// (own == SALIENT_ACT_RELU), rounded as activation_backward_cpu computes it: x <= 0 ? 0 : dy.
extern "C" int secant_backward_cpu(const float* x, const float* y, const float* dy, float* dx, int64_t h, float eps,
                                   int own) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(dx);
    SALIENT_CHECK(h > 0 && eps >= 0.f && std::isfinite(eps), "secant_backward_cpu: bad sizes h=%lld eps=%g", (long long)h,
                  (double)eps);
    SALIENT_CHECK(own < 0 || own == SALIENT_ACT_RELU, "secant_backward_cpu: own gradient %d is not Relu's (%d) or given (< 0)",
                  own, SALIENT_ACT_RELU);
    const bool relu = own == SALIENT_ACT_RELU;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < h; i++) {
        const float dxv = x[i] - x[h + i];
        if (std::fabs(dxv) < eps) {
            if (relu) {
                dx[i] = x[i] <= 0.f ? 0.f : dy[i];
                dx[h + i] = x[h + i] <= 0.f ? 0.f : dy[h + i];
            }
            continue;
        }
        const float dyv = y[i] - y[h + i];
        dx[i] = dy[i] * dyv / dxv;
        dx[h + i] = dy[h + i] * dyv / dxv;
    }
    return SALIENT_OK;
}

// secant_backward_cpu's input half for a Relu with dy shared by both halves, counting the elements
// whose reference half could differ (primitives.h)
extern "C" int secant_relu_half_cpu(const float* x, const float* y, const float* dy, float* dx, int64_t h, float eps,
                                    int64_t repeat, int64_t row, int64_t* straddles) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(dx);
    SALIENT_CHECK_PTR(straddles);
    SALIENT_CHECK(h > 0 && eps >= 0.f && std::isfinite(eps) && repeat > 0 && row > 0 && h % (repeat * row) == 0,
                  "secant_relu_half_cpu: bad sizes h=%lld eps=%g repeat=%lld row=%lld", (long long)h, (double)eps,
                  (long long)repeat, (long long)row);
    // by pieces of input rows (up to 16K elements each, the same split at any thread count), each
    // against its reference row: element i of row q pairs with element i of reference row q / repeat
    const int64_t rows = h / row, piece = std::max<int64_t>(1, std::min<int64_t>(row, 16384));
    const int64_t per_row = (row + piece - 1) / piece, items = rows * per_row;
    int64_t count = 0;
#pragma omp parallel for schedule(static) reduction(+ : count) if (h > 65536)
    for (int64_t it = 0; it < items; it++) {
        const int64_t q = it / per_row, c0 = it % per_row * piece, c1 = std::min(row, c0 + piece);
        const float* xi = x + q * row;
        const float* yi = y + q * row;
        const float* xr = x + h + q / repeat * row;
        const float* yr = y + h + q / repeat * row;
        const float* g = dy + q * row;
        float* d = dx + q * row;
        int64_t n = 0;
        for (int64_t c = c0; c < c1; c++) {
            const float dxv = xi[c] - xr[c];
            if (std::fabs(dxv) < eps) {
                const bool off = xi[c] <= 0.f;
                d[c] = off ? 0.f : g[c];
                n += off != (xr[c] <= 0.f);
                continue;
            }
            d[c] = g[c] * (yi[c] - yr[c]) / dxv;
        }
        count += n;
    }
    *straddles = count;
    return SALIENT_OK;
}

// r / (z + (z < 0 ? -eps : eps)): Zennit's stabilised quotient, sign(0) = +1 (-0 too), one rounding
// for the sum and one for the quotient; a NaN z gives NaN
static inline float stab_quotient(float r, float z, float eps) { return r / (z + (z < 0.f ? -eps : eps)); }

// y = r / (z ± eps) as Zennit's stabilizer forms it (z + sign(z)·eps, sign(0) = +1): one pass over
// three tensors instead of the six an indicator, an axpby, a fill and two sums took.
extern "C" int stab_divide_cpu(const float* r, const float* z, float* y, int64_t n, float eps) {
    SALIENT_CHECK_PTR(r);
    SALIENT_CHECK_PTR(z);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(n > 0 && eps >= 0.f && std::isfinite(eps), "stab_divide_cpu: bad sizes n=%lld eps=%g", (long long)n,
                  (double)eps);
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        y[i] = stab_quotient(r[i], z[i], eps);
    }
    return SALIENT_OK;
}

// LRP's Norm rule through a residual sum in one pass: reads a, b and r once and writes the shares,
// where an Add, a quotient and two products took four passes over twelve tensors' worth.
extern "C" int norm_shares_cpu(const float* a, const float* b, const float* r, float* da, float* db, int64_t n,
                               float eps) {
    SALIENT_CHECK_PTR(a);
    SALIENT_CHECK_PTR(b);
    SALIENT_CHECK_PTR(r);
    SALIENT_CHECK(da || db, "norm_shares_cpu: neither share is wanted");
    SALIENT_CHECK(n > 0 && eps >= 0.f && std::isfinite(eps), "norm_shares_cpu: bad sizes n=%lld eps=%g", (long long)n,
                  (double)eps);
    if (da && db) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) {
            const float g = stab_quotient(r[i], a[i] + b[i], eps);
            da[i] = g * a[i];
            db[i] = g * b[i];
        }
    } else {
        float* d = da ? da : db;
        const float* own = da ? a : b;
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) {
            const float g = stab_quotient(r[i], a[i] + b[i], eps);
            d[i] = g * own[i];
        }
    }
    return SALIENT_OK;
}
