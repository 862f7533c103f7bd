package dev.salient.engine;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * Host-side double-precision linear algebra for methods that decompose small per-image
 * matrices (Eigen-CAM, CF-CAM), in native code through OpenBLAS and its LAPACK
 * ({@code native/cpu/principal.cpp}). Arguments are host arrays; the device backends
 * download their tensors first.
 */
public final class HostLinalg {
    private HostLinalg() {}

    /**
     * The first principal direction of each of N centred data sets x[n]: (K,P), as numpy's
     * {@code svd(x[n].T)[2][0]}, with the sign chosen so that its dot product with sums[n]
     * (the sums over P of the uncentred data) is ≥ 0 (on a tie: the largest |v_k| positive);
     * zeros for a data set without variance. Returns (N,K).
     */
    public static float[] principalDirections(float[] x, float[] sums, int n, int k, int p) {
        if ((long) n * k * p != x.length || (long) n * k != sums.length || n <= 0 || k <= 0 || p <= 0)
            throw new SalientException("principal directions: x has " + x.length + " values and sums " + sums.length
                    + " for (N,K,P) = (" + n + "," + k + "," + p + ")");
        float[] out = new float[n * k];
        try (FloatPointer xp = new FloatPointer(x); FloatPointer sp = new FloatPointer(sums);
                FloatPointer op = new FloatPointer((long) n * k)) {
            CpuBackend.check(CpuNative.principal_directions_cpu(xp, sp, op, n, k, p));
            op.get(out);
        }
        return out;
    }

    /** The (n,n) Euclidean distance matrix, in double, of the n rows of x: (n,d). */
    public static double[] pairwiseDistances(float[] x, int n, int d) {
        if ((long) n * d != x.length || n <= 0 || d <= 0)
            throw new SalientException("pairwise distances: x has " + x.length + " values for (" + n + "," + d + ")");
        double[] out = new double[Math.multiplyExact(n, n)];
        try (FloatPointer xp = new FloatPointer(x); DoublePointer dp = new DoublePointer((long) n * n)) {
            CpuBackend.check(CpuNative.pairwise_distances_cpu(xp, dp, n, d));
            dp.get(out);
        }
        return out;
    }

    /** A fitted linear model: {@code y ≈ intercept + x·coef}. */
    public record LinearFit(double[] coef, double intercept) {}

    private static void checkRegression(String what, double[] x, double[] y, double[] w, int n, int m) {
        if (n <= 0 || m <= 0 || (long) n * m != x.length || y.length != n || w.length != n)
            throw new SalientException(what + ": x has " + x.length + " values, y " + y.length + " and w " + w.length
                    + " for (n,m) = (" + n + "," + m + ")");
    }

    /**
     * Weighted least squares with an intercept, as scikit-learn's
     * {@code LinearRegression().fit(x, y, sample_weight=w)}: the minimum-norm solution of the
     * w-centred problem with rows scaled by √w, through LAPACK's dgelsd. x: (n,m) row-major.
     */
    public static LinearFit weightedLeastSquares(double[] x, double[] y, double[] w, int n, int m) {
        checkRegression("weighted least squares", x, y, w, n, m);
        try (DoublePointer xp = new DoublePointer(x); DoublePointer yp = new DoublePointer(y);
                DoublePointer wp = new DoublePointer(w); DoublePointer cp = new DoublePointer(m);
                DoublePointer ip = new DoublePointer(1)) {
            CpuBackend.check(CpuNative.weighted_lstsq_cpu(xp, yp, wp, n, m, cp, ip));
            double[] coef = new double[m];
            cp.get(coef);
            return new LinearFit(coef, ip.get(0));
        }
    }

    /**
     * Weighted Lasso with an unpenalised intercept, as scikit-learn's
     * {@code Lasso(alpha).fit(x, y, sample_weight=w)}: minimises
     * {@code Σ w_i (y_i − b − x_i·β)² / (2 Σ w) + α |β|₁} by cyclic coordinate descent, run until
     * no coefficient moves by more than 1e-12 of the largest (or 100 000 sweeps). x: (n,m) row-major.
     */
    public static LinearFit weightedLasso(double[] x, double[] y, double[] w, int n, int m, double alpha) {
        checkRegression("weighted Lasso", x, y, w, n, m);
        if (!(alpha >= 0) || !Double.isFinite(alpha)) throw new SalientException("Lasso alpha must be >= 0, got " + alpha);
        try (DoublePointer xp = new DoublePointer(x); DoublePointer yp = new DoublePointer(y);
                DoublePointer wp = new DoublePointer(w); DoublePointer cp = new DoublePointer(m);
                DoublePointer ip = new DoublePointer(1); org.bytedeco.javacpp.IntPointer sp = new org.bytedeco.javacpp.IntPointer(1)) {
            CpuBackend.check(CpuNative.weighted_lasso_cpu(xp, yp, wp, n, m, alpha, 100_000, 1e-12, cp, ip, sp));
            double[] coef = new double[m];
            cp.get(coef);
            return new LinearFit(coef, ip.get(0));
        }
    }

    /** Bytes of band storage the banded solve of ROAD's imputation system for mask {@code keep} (H,W; 0 = removed) needs. */
    public static long roadBandBytes(byte[] keep, int h, int w) {
        if ((long) h * w != keep.length || h <= 0 || w <= 0)
            throw new SalientException("ROAD imputation: a mask of " + keep.length + " pixels is not " + h + "x" + w);
        try (org.bytedeco.javacpp.BytePointer kp = new org.bytedeco.javacpp.BytePointer(keep)) {
            return CpuNative.road_band_bytes_cpu(kp, h, w);
        }
    }

    /**
     * ROAD's linear imputation, without its noise, of x: (C,H,W) under each of the {@code count}
     * masks keeps: (count,H,W) (0 = removed), by banded Cholesky in double precision
     * ({@code native/cpu/imputation.cpp}); returns (count,C,H,W). Every mask's band must fit
     * {@code maxBandBytes} ({@link #roadBandBytes}).
     */
    public static float[] roadImpute(float[] x, int c, int h, int w, byte[] keeps, int count, long maxBandBytes) {
        long hw = (long) h * w;
        if (c <= 0 || h <= 0 || w <= 0 || count <= 0 || c * hw != x.length || count * hw != keeps.length)
            throw new SalientException("ROAD imputation: x has " + x.length + " values and the masks " + keeps.length
                    + " for (C,H,W) = (" + c + "," + h + "," + w + ") and " + count + " masks");
        float[] out = new float[Math.toIntExact(count * c * hw)];
        try (FloatPointer xp = new FloatPointer(x); org.bytedeco.javacpp.BytePointer kp = new org.bytedeco.javacpp.BytePointer(keeps);
                FloatPointer op = new FloatPointer(out.length)) {
            CpuBackend.check(CpuNative.road_impute_cpu(xp, c, h, w, kp, count, op, maxBandBytes));
            op.get(out);
        }
        return out;
    }
}
