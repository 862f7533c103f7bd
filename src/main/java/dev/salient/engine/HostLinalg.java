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
}
