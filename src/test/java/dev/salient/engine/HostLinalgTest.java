package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The host linear algebra against plain double-precision definitions. */
class HostLinalgTest {
    /** Top eigenvector of X X^T (K×K) by power iteration (a test reference; the gap is made large). */
    static double[] topByPowerIteration(float[] x, int off, int k, int p) {
        double[] c = new double[k * k];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                double s = 0;
                for (int q = 0; q < p; q++) s += (double) x[off + i * p + q] * x[off + j * p + q];
                c[i * k + j] = s;
            }
        double[] v = new double[k];
        java.util.Arrays.fill(v, 1);
        for (int it = 0; it < 2000; it++) {
            double[] w = new double[k];
            double norm = 0;
            for (int i = 0; i < k; i++) {
                for (int j = 0; j < k; j++) w[i] += c[i * k + j] * v[j];
                norm += w[i] * w[i];
            }
            norm = Math.sqrt(norm);
            for (int i = 0; i < k; i++) v[i] = w[i] / norm;
        }
        return v;
    }

    static float[] data(Random r, int n, int k, int p) {
        // one dominant direction per data set plus noise, centred over the points
        float[] x = new float[n * k * p];
        for (int i = 0; i < n; i++) {
            double[] dir = new double[k];
            for (int j = 0; j < k; j++) dir[j] = r.nextGaussian();
            for (int q = 0; q < p; q++) {
                double a = 3 * r.nextGaussian();
                for (int j = 0; j < k; j++) x[i * k * p + j * p + q] = (float) (a * dir[j] + 0.2 * r.nextGaussian());
            }
            for (int j = 0; j < k; j++) {
                double m = 0;
                for (int q = 0; q < p; q++) m += x[i * k * p + j * p + q];
                for (int q = 0; q < p; q++) x[i * k * p + j * p + q] -= (float) (m / p);
            }
        }
        return x;
    }

    @Test
    void principalDirectionsOnBothGramSides() {
        Random r = new Random(1);
        for (int[] kp : new int[][] {{6, 40}, {40, 6}, {7, 7}}) {   // K <= P: K×K; P < K: P×P then X u / sigma
            int n = 3, k = kp[0], p = kp[1];
            float[] x = data(r, n, k, p), sums = new float[n * k];
            for (int i = 0; i < n * k; i++) sums[i] = (float) r.nextGaussian();
            float[] v = HostLinalg.principalDirections(x, sums, n, k, p);
            for (int i = 0; i < n; i++) {
                double[] ref = topByPowerIteration(x, i * k * p, k, p);
                double dot = 0, norm = 0;
                for (int j = 0; j < k; j++) {
                    dot += ref[j] * sums[i * k + j];
                    norm += (double) v[i * k + j] * v[i * k + j];
                }
                double sign = dot < 0 ? -1 : 1;
                assertEquals(1, norm, 1e-5, "unit length");
                for (int j = 0; j < k; j++)
                    assertEquals(sign * ref[j], v[i * k + j], 1e-5, "K=" + k + " P=" + p + " set " + i + " component " + j);
            }
        }
    }

    @Test
    void noVarianceGivesZerosAndTiesUseTheLargestComponent() {
        float[] flat = new float[2 * 3];   // one data set, K=2, P=3, all zero
        assertArrayEquals(new float[2], HostLinalg.principalDirections(flat, new float[2], 1, 2, 3));
        // K=2, P=2: direction (1,-1)/sqrt2 up to sign; sums orthogonal to it: the largest |v_k| (a tie
        // broken by the first) is made positive
        float[] x = {1, -1, -1, 1};
        float[] v = HostLinalg.principalDirections(x, new float[] {1, 1}, 1, 2, 2);
        assertEquals(Math.sqrt(0.5), v[0], 1e-6);
        assertEquals(-Math.sqrt(0.5), v[1], 1e-6);
    }

    @Test
    void pairwiseDistancesMatchTheDifferences() {
        Random r = new Random(2);
        int n = 37, d = 11;
        float[] x = new float[n * d];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        double[] dist = HostLinalg.pairwiseDistances(x, n, d);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int q = 0; q < d; q++) s += Math.pow((double) x[i * d + q] - x[j * d + q], 2);
                assertEquals(Math.sqrt(s), dist[i * n + j], 1e-12, i + "," + j);
            }
    }

    @Test
    void badSizesAreOneLineErrors() {
        assertThrows(SalientException.class, () -> HostLinalg.principalDirections(new float[5], new float[2], 1, 2, 3));
        assertThrows(SalientException.class, () -> HostLinalg.pairwiseDistances(new float[5], 2, 3));
    }
}
