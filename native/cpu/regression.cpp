// The surrogate models of LIME and KernelSHAP, in double precision on the host: weighted linear
// regression and weighted Lasso with an unpenalised intercept, as the scikit-learn estimators
// that Captum fits (SkLearnLinearRegression, SkLearnLasso) compute them:
//   weighted_lstsq_cpu: sklearn LinearRegression().fit(x, y, sample_weight=w): x and y centred
//     on their w-weighted means, rows scaled by sqrt(w), the minimum-norm least-squares solution
//     through LAPACK's dgelsd (SVD), as scipy.linalg.lstsq;
//   weighted_lasso_cpu: sklearn Lasso(alpha).fit(x, y, sample_weight=w): w rescaled to sum to n,
//     the same centring and scaling, then cyclic coordinate descent on
//     (1/2n)|y - x b|^2 + alpha |b|_1 run to convergence.
// Problems are small (n samples of m features, a few thousand by a few hundred at most).
#include "common.h"
#include "salient.h"

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

// Centres x: (n,m) and y: (n) on their weighted means and scales row i by sqrt(sw[i]); returns
// the means (xm, ym).
void centre_scale(const double* x, const double* y, const double* sw, int n, int m, std::vector<double>& xc,
                  std::vector<double>& yc, std::vector<double>& xm, double& ym) {
    double total = 0;
    for (int i = 0; i < n; i++) total += sw[i];
    xm.assign(m, 0.0);
    ym = 0;
    for (int i = 0; i < n; i++) {
        ym += sw[i] * y[i];
        for (int j = 0; j < m; j++) xm[j] += sw[i] * x[(int64_t)i * m + j];
    }
    ym /= total;
    for (int j = 0; j < m; j++) xm[j] /= total;
    xc.resize((size_t)n * m);
    yc.resize(n);
    for (int i = 0; i < n; i++) {
        const double s = std::sqrt(sw[i]);
        yc[i] = s * (y[i] - ym);
        for (int j = 0; j < m; j++) xc[(size_t)i * m + j] = s * (x[(int64_t)i * m + j] - xm[j]);
    }
}

int check_weights(const char* fn, const double* x, const double* y, const double* w, int n, int m) {
    double total = 0;
    for (int i = 0; i < n; i++) {
        SALIENT_CHECK(std::isfinite(w[i]) && w[i] >= 0, "%s: weight %d is %g (weights must be finite and >= 0)", fn, i, w[i]);
        SALIENT_CHECK(std::isfinite(y[i]), "%s: target %d is not finite", fn, i);
        total += w[i];
    }
    SALIENT_CHECK(total > 0, "%s: the weights sum to 0", fn);
    for (int64_t i = 0; i < (int64_t)n * m; i++) SALIENT_CHECK(std::isfinite(x[i]), "%s: x has a non-finite value", fn);
    return SALIENT_OK;
}

}  // namespace

// x: (n,m), y: (n), w: (n) -> coef: (m), intercept: (1)
extern "C" int weighted_lstsq_cpu(const double* x, const double* y, const double* w, int n, int m, double* coef,
                                  double* intercept) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK_PTR(w);
    SALIENT_CHECK_PTR(coef);
    SALIENT_CHECK_PTR(intercept);
    SALIENT_CHECK(n > 0 && m > 0, "weighted_lstsq_cpu: bad sizes n=%d m=%d", n, m);
    int rc = check_weights(__func__, x, y, w, n, m);
    if (rc != SALIENT_OK) return rc;
    std::vector<double> xc, yc, xm;
    double ym;
    centre_scale(x, y, w, n, m, xc, yc, xm, ym);
    const int ldb = std::max(n, m);
    std::vector<double> b(ldb, 0.0), s(std::min(n, m));
    std::copy(yc.begin(), yc.end(), b.begin());
    lapack_int rank = 0;
    lapack_int info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, n, m, 1, xc.data(), m, b.data(), 1, s.data(), -1.0, &rank);
    if (info != 0) return salient::fail(SALIENT_EBACKEND, "weighted_lstsq_cpu: LAPACK dgelsd failed (info %d)", (int)info);
    double icpt = ym;
    for (int j = 0; j < m; j++) {
        coef[j] = b[j];
        icpt -= xm[j] * b[j];
    }
    *intercept = icpt;
    return SALIENT_OK;
}

// x: (n,m), y: (n), w: (n) -> coef: (m), intercept: (1); returns the sweeps run in *sweeps
extern "C" int weighted_lasso_cpu(const double* x, const double* y, const double* w, int n, int m, double alpha,
                                  int max_sweeps, double tol, double* coef, double* intercept, int* sweeps) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK_PTR(w);
    SALIENT_CHECK_PTR(coef);
    SALIENT_CHECK_PTR(intercept);
    SALIENT_CHECK_PTR(sweeps);
    SALIENT_CHECK(n > 0 && m > 0, "weighted_lasso_cpu: bad sizes n=%d m=%d", n, m);
    SALIENT_CHECK(alpha >= 0 && std::isfinite(alpha), "weighted_lasso_cpu: alpha must be >= 0, got %g", alpha);
    SALIENT_CHECK(max_sweeps > 0 && tol > 0, "weighted_lasso_cpu: max_sweeps %d and tol %g must be positive", max_sweeps, tol);
    int rc = check_weights(__func__, x, y, w, n, m);
    if (rc != SALIENT_OK) return rc;
    double total = 0;
    for (int i = 0; i < n; i++) total += w[i];
    std::vector<double> sw(n);
    for (int i = 0; i < n; i++) sw[i] = w[i] * (double)n / total;   // sklearn: weights sum to n_samples
    std::vector<double> xc, r, xm;
    double ym;
    centre_scale(x, y, sw.data(), n, m, xc, r, xm, ym);
    // column norms and the residual r = y - x b (b = 0)
    std::vector<double> norm2(m, 0.0), b(m, 0.0);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) norm2[j] += xc[(size_t)i * m + j] * xc[(size_t)i * m + j];
    const double l1 = alpha * n;
    int sweep = 0;
    for (; sweep < max_sweeps; sweep++) {
        double max_change = 0, max_b = 0;
        for (int j = 0; j < m; j++) {
            if (norm2[j] == 0) continue;
            const double old = b[j];
            double rho = 0;
            for (int i = 0; i < n; i++) rho += xc[(size_t)i * m + j] * (r[i] + xc[(size_t)i * m + j] * old);
            const double nb = (rho > 0 ? 1.0 : -1.0) * std::max(std::fabs(rho) - l1, 0.0) / norm2[j];
            if (nb != old) {
                const double d = nb - old;
                for (int i = 0; i < n; i++) r[i] -= xc[(size_t)i * m + j] * d;
                b[j] = nb;
            }
            max_change = std::max(max_change, std::fabs(nb - old));
            max_b = std::max(max_b, std::fabs(nb));
        }
        if (max_change <= tol * std::max(max_b, 1e-300) || max_b == 0) {
            sweep++;
            break;
        }
    }
    double icpt = ym;
    for (int j = 0; j < m; j++) {
        coef[j] = b[j];
        icpt -= xm[j] * b[j];
    }
    *intercept = icpt;
    *sweeps = sweep;
    return SALIENT_OK;
}
