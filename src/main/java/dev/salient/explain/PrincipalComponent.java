package dev.salient.explain;

import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.CblasUpper;
import static org.bytedeco.openblas.global.openblas.LAPACK_ROW_MAJOR;

import dev.salient.engine.SalientException;
import org.bytedeco.openblas.global.openblas;

/**
 * The first principal direction of each of N centred data sets, in double precision
 * through OpenBLAS (dsyrk) and its LAPACK (dsyevr, the top eigenpair only). Data set n is
 * X_n (K, P): K variables (channels) observed at P points (pixels), already centred over
 * the points. Its first right singular vector v (as numpy's {@code svd(X_n^T)[2][0]}) is
 * the top eigenvector of X X^T (K×K), or, when P &lt; K, X u / σ with (u, σ²) the top
 * eigenpair of X^T X (P×P): the smaller Gram matrix is decomposed.
 *
 * <p>The sign is made deterministic (LAPACK leaves it arbitrary, pytorch-grad-cam issue
 * #315): v is flipped so that v · s ≥ 0, s_k being the sum over points of the
 * <em>uncentred</em> variable k (the projection of centred data always sums to zero, so its
 * sum cannot decide); on a tie the largest |v_k| is made positive.
 */
final class PrincipalComponent {
    private PrincipalComponent() {}

    /**
     * @param x    (N, K, P) centred values
     * @param sums (N, K) sums over the points of the uncentred values
     * @return (N, K) unit directions (all zeros for a data set with no variance)
     */
    static float[] firstDirections(float[] x, float[] sums, int n, int k, int p) {
        float[] out = new float[n * k];
        boolean small = k <= p;
        int d = small ? k : p;
        double[] xd = new double[k * p], gram = new double[d * d], w = new double[1], z = new double[d], v = new double[k];
        int[] m = new int[1], support = new int[2];
        for (int i = 0; i < n; i++) {
            int base = i * k * p;
            for (int j = 0; j < k * p; j++) xd[j] = x[base + j];
            openblas.cblas_dsyrk(CblasRowMajor, CblasUpper, small ? CblasNoTrans : CblasTrans, d, small ? p : k, 1.0, xd, p,
                    0.0, gram, d);
            int info = openblas.LAPACKE_dsyevr(LAPACK_ROW_MAJOR, (byte) 'V', (byte) 'I', (byte) 'U', d, gram, d, 0, 0, d, d,
                    0.0, m, w, z, 1, support);
            if (info != 0) throw new SalientException("principal component: LAPACK dsyevr failed (info " + info + ")");
            double lambda = Math.max(w[0], 0);
            if (lambda == 0) continue;   // constant data: no direction
            if (small) {
                System.arraycopy(z, 0, v, 0, k);
            } else {
                openblas.cblas_dgemv(CblasRowMajor, CblasNoTrans, k, p, 1.0 / Math.sqrt(lambda), xd, p, z, 1, 0.0, v, 1);
            }
            double s = 0, big = 0;
            int arg = 0;
            for (int j = 0; j < k; j++) {
                s += v[j] * sums[i * k + j];
                if (Math.abs(v[j]) > big) {
                    big = Math.abs(v[j]);
                    arg = j;
                }
            }
            double sign = s < 0 || (s == 0 && v[arg] < 0) ? -1 : 1;
            for (int j = 0; j < k; j++) out[i * k + j] = (float) (sign * v[j]);
        }
        return out;
    }
}
