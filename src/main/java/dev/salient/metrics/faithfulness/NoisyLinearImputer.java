package dev.salient.metrics.faithfulness;

import dev.salient.engine.HostLinalg;
import dev.salient.engine.SalientException;

/**
 * ROAD's noisy linear imputation (Rong et al., ICML 2022; pytorch-grad-cam's
 * {@code NoisyLinearImputer}, road.py): every removed pixel becomes the weighted mean of its
 * 8 neighbours inside the image, weights 1/6 for the 4-neighbours and 1/12 for the diagonals,
 * a neighbour that is itself removed being an unknown of the same system. pytorch-grad-cam
 * sets up {@code A v = b} with A's diagonal −Σ(in-image neighbour weights) and solves it with
 * scipy's spsolve. Here −A is symmetric and positive definite whenever at least one pixel is
 * kept. Numbered in raster order it is banded (half-bandwidth at most w + 1), and it is solved
 * directly in double precision by LAPACK's banded Cholesky in native code
 * ({@code native/cpu/imputation.cpp}), the masks of one image in parallel; a system whose band
 * would take more than {@link #MAX_BAND_BYTES} is solved by conjugate gradients with a Jacobi
 * preconditioner to a relative residual of 1e-12 instead. Both are tested against a dense
 * solve. The noise (0.01·N(0,1) added to the imputed values) is the caller's.
 */
public final class NoisyLinearImputer {
    private NoisyLinearImputer() {}

    static final int[][] OFFSETS = {{1, 1}, {0, 1}, {-1, 1}, {1, -1}, {0, -1}, {-1, -1}, {1, 0}, {-1, 0}};
    static final double[] WEIGHTS = {1 / 12.0, 1 / 6.0, 1 / 12.0, 1 / 12.0, 1 / 6.0, 1 / 12.0, 1 / 6.0, 1 / 6.0};

    /** Band storage above which a mask's system is solved by conjugate gradients instead (per mask in flight). */
    public static final long MAX_BAND_BYTES = 64L << 20;

    /**
     * Imputes x (C,H,W, row-major) where {@code keep[p]} is false; returns the new image and
     * leaves x alone. If every pixel is removed there is nothing to interpolate from: the
     * result is zeros (the solution of the homogeneous system), as the linear solve defines.
     */
    public static float[] impute(float[] x, int c, int h, int w, boolean[] keep) {
        return imputeAll(x, c, h, w, new boolean[][] {keep})[0];
    }

    /**
     * {@link #impute} for each mask of {@code keeps} (each H·W), the banded ones in one native
     * call that solves the masks in parallel; every result depends on its own mask alone.
     */
    public static float[][] imputeAll(float[] x, int c, int h, int w, boolean[][] keeps) {
        int hw = h * w;
        if (c <= 0 || h <= 0 || w <= 0 || (long) c * hw != x.length)
            throw new SalientException("ROAD imputation: an image of " + x.length + " values is not "
                    + c + "x" + h + "x" + w);
        float[][] out = new float[keeps.length][];
        java.util.List<Integer> banded = new java.util.ArrayList<>();
        for (int i = 0; i < keeps.length; i++) {
            if (keeps[i].length != hw)
                throw new SalientException("ROAD imputation: mask " + i + " has " + keeps[i].length + " pixels, not " + hw);
            if (HostLinalg.roadBandBytes(bytes(keeps[i]), h, w) <= MAX_BAND_BYTES) banded.add(i);
            else out[i] = imputeCg(x, c, h, w, keeps[i]);
        }
        if (banded.isEmpty()) return out;
        int m = banded.size();
        byte[] all = new byte[Math.multiplyExact(m, hw)];
        for (int j = 0; j < m; j++) System.arraycopy(bytes(keeps[banded.get(j)]), 0, all, j * hw, hw);
        float[] r = HostLinalg.roadImpute(x, c, h, w, all, m, MAX_BAND_BYTES);
        for (int j = 0; j < m; j++) out[banded.get(j)] = java.util.Arrays.copyOfRange(r, j * c * hw, (j + 1) * c * hw);
        return out;
    }

    private static byte[] bytes(boolean[] keep) {
        byte[] b = new byte[keep.length];
        for (int i = 0; i < keep.length; i++) b[i] = (byte) (keep[i] ? 1 : 0);
        return b;
    }

    /** {@link #impute} by preconditioned conjugate gradients (the path of systems too large for the band). */
    public static float[] imputeCg(float[] x, int c, int h, int w, boolean[] keep) {
        int hw = h * w;
        int[] var = new int[hw];
        int n = 0;
        for (int p = 0; p < hw; p++) var[p] = keep[p] ? -1 : n++;
        float[] out = x.clone();
        if (n == 0) return out;
        int[] pix = new int[n];
        for (int p = 0; p < hw; p++) if (var[p] >= 0) pix[var[p]] = p;
        // the matrix -A in compressed rows: diagonal s_i, off-diagonals -w to unknown neighbours
        double[] diag = new double[n];
        int[] start = new int[n + 1];
        int[] cols = new int[n * 8];
        double[] vals = new double[n * 8];
        double[][] rhs = new double[c][n];
        int nnz = 0;
        for (int i = 0; i < n; i++) {
            int p = pix[i], y = p / w, xx = p % w;
            start[i] = nnz;
            double s = 0;
            for (int k = 0; k < 8; k++) {
                int yy = y + OFFSETS[k][0], x2 = xx + OFFSETS[k][1];
                if (yy < 0 || x2 < 0 || yy >= h || x2 >= w) continue;
                s += WEIGHTS[k];
                int q = yy * w + x2;
                if (keep[q]) for (int ch = 0; ch < c; ch++) rhs[ch][i] += WEIGHTS[k] * x[ch * hw + q];
                else {
                    cols[nnz] = var[q];
                    vals[nnz++] = -WEIGHTS[k];
                }
            }
            diag[i] = s;
        }
        start[n] = nnz;
        for (int ch = 0; ch < c; ch++) {
            double[] v = solve(diag, start, cols, vals, rhs[ch]);
            for (int i = 0; i < n; i++) out[ch * hw + pix[i]] = (float) v[i];
        }
        return out;
    }

    /** Preconditioned conjugate gradients on the SPD system (D + offdiag) v = r. */
    static double[] solve(double[] diag, int[] start, int[] cols, double[] vals, double[] r0) {
        int n = diag.length;
        double[] v = new double[n], r = r0.clone(), z = new double[n], p = new double[n], q = new double[n];
        double bnorm = 0;
        for (double e : r0) bnorm += e * e;
        bnorm = Math.sqrt(bnorm);
        if (bnorm == 0) return v;
        for (int i = 0; i < n; i++) p[i] = z[i] = r[i] / diag[i];
        double rz = dot(r, z);
        for (int it = 0; it < 20 * n + 100; it++) {
            for (int i = 0; i < n; i++) {
                double t = diag[i] * p[i];
                for (int k = start[i]; k < start[i + 1]; k++) t += vals[k] * p[cols[k]];
                q[i] = t;
            }
            double alpha = rz / dot(p, q);
            double rr = 0;
            for (int i = 0; i < n; i++) {
                v[i] += alpha * p[i];
                r[i] -= alpha * q[i];
                rr += r[i] * r[i];
            }
            if (Math.sqrt(rr) <= 1e-12 * bnorm) break;
            for (int i = 0; i < n; i++) z[i] = r[i] / diag[i];
            double rz2 = dot(r, z);
            double beta = rz2 / rz;
            rz = rz2;
            for (int i = 0; i < n; i++) p[i] = z[i] + beta * p[i];
        }
        return v;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }
}
