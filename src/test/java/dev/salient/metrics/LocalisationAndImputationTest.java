package dev.salient.metrics;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.metrics.faithfulness.NoisyLinearImputer;
import dev.salient.metrics.localisation.PointingGame;
import dev.salient.metrics.localisation.Region;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * ROAD's imputation (conjugate gradients) against a dense solve of pytorch-grad-cam's system,
 * and the pointing games on synthetic maps whose answers are known.
 */
class LocalisationAndImputationTest {

    /** The system of road.py written densely and solved by Gaussian elimination with partial pivoting. */
    static float[] denseImpute(float[] x, int c, int h, int w, boolean[] keep) {
        int hw = h * w;
        int[] var = new int[hw];
        int n = 0;
        for (int p = 0; p < hw; p++) var[p] = keep[p] ? -1 : n++;
        float[] out = x.clone();
        for (int ch = 0; ch < c; ch++) {
            double[][] a = new double[n][n + 1];
            for (int p = 0; p < hw; p++) {
                if (keep[p]) continue;
                int i = var[p], y = p / w, xx = p % w;
                double diag = 0;
                int[][] off = {{1, 1}, {0, 1}, {-1, 1}, {1, -1}, {0, -1}, {-1, -1}, {1, 0}, {-1, 0}};
                double[] wt = {1 / 12.0, 1 / 6.0, 1 / 12.0, 1 / 12.0, 1 / 6.0, 1 / 12.0, 1 / 6.0, 1 / 6.0};
                for (int k = 0; k < 8; k++) {
                    int yy = y + off[k][0], x2 = xx + off[k][1];
                    if (yy < 0 || x2 < 0 || yy >= h || x2 >= w) continue;
                    diag += wt[k];
                    int q = yy * w + x2;
                    if (keep[q]) a[i][n] -= wt[k] * x[ch * hw + q];
                    else a[i][var[q]] += wt[k];
                }
                a[i][i] = -diag;
            }
            for (int col = 0; col < n; col++) {
                int piv = col;
                for (int r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[piv][col])) piv = r;
                double[] t = a[col];
                a[col] = a[piv];
                a[piv] = t;
                for (int r = col + 1; r < n; r++) {
                    double f = a[r][col] / a[col][col];
                    for (int k = col; k <= n; k++) a[r][k] -= f * a[col][k];
                }
            }
            double[] v = new double[n];
            for (int r = n - 1; r >= 0; r--) {
                double s = a[r][n];
                for (int k = r + 1; k < n; k++) s -= a[r][k] * v[k];
                v[r] = s / a[r][r];
            }
            for (int p = 0; p < hw; p++) if (!keep[p]) out[ch * hw + p] = (float) v[var[p]];
        }
        return out;
    }

    @Test
    void bandedCholeskyAndConjugateGradientsMatchTheDenseSolve() {
        Random rnd = new Random(4);
        int c = 2, h = 9, w = 11, hw = h * w;
        double[] fractions = {0.1, 0.5, 0.9, 0.99};
        float[] x = new float[c * hw];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        boolean[][] keeps = new boolean[fractions.length][hw];
        for (int j = 0; j < fractions.length; j++) {
            boolean any = false;
            for (int p = 0; p < hw; p++) any |= keeps[j][p] = rnd.nextDouble() >= fractions[j];
            if (!any) keeps[j][rnd.nextInt(hw)] = true;
        }
        float[][] batch = NoisyLinearImputer.imputeAll(x, c, h, w, keeps);
        for (int j = 0; j < fractions.length; j++) {
            boolean[] keep = keeps[j];
            float[] ref = denseImpute(x, c, h, w, keep);
            float[] banded = NoisyLinearImputer.impute(x, c, h, w, keep), cg = NoisyLinearImputer.imputeCg(x, c, h, w, keep);
            for (int i = 0; i < x.length; i++) {
                assertEquals(ref[i], banded[i], 1e-5 * Math.max(1, Math.abs(ref[i])), "banded, removed " + fractions[j] + " element " + i);
                assertEquals(ref[i], cg[i], 1e-5 * Math.max(1, Math.abs(ref[i])), "CG, removed " + fractions[j] + " element " + i);
            }
            assertArrayEquals(banded, batch[j], "a mask's imputation does not depend on the other masks of the call");
            for (int p = 0; p < hw; p++) if (keep[p]) assertEquals(x[p], banded[p], 0f, "kept pixels are untouched");
        }
        boolean[] none = new boolean[hw];
        for (float[] all : new float[][] {NoisyLinearImputer.impute(new float[c * hw], c, h, w, none),
                NoisyLinearImputer.imputeCg(new float[c * hw], c, h, w, none)})
            for (float v : all) assertEquals(0f, v, 0f, "nothing kept: the homogeneous system's solution");
    }

    @Test
    void theBandOfARasterNumberedSystemIsAtMostOneRowWide() {
        int h = 16, w = 20;
        byte[] keep = new byte[h * w];
        keep[0] = 1;  // all removed but one pixel: n = hw - 1 unknowns, half-bandwidth w + 1
        long bytes = dev.salient.engine.HostLinalg.roadBandBytes(keep, h, w);
        assertEquals((long) (w + 2) * (h * w - 1) * Double.BYTES, bytes);
        java.util.Arrays.fill(keep, (byte) 1);
        assertEquals(0, dev.salient.engine.HostLinalg.roadBandBytes(keep, h, w), "nothing removed: no system");
    }

    static MapView peak(int h, int w, int py, int px) {
        float[] m = new float[h * w];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) m[y * w + x] = (float) Math.exp(-((y - py) * (y - py) + (x - px) * (x - px)) / 20.0);
        return new MapView(m, 1, h, w, true);
    }

    @Test
    void pointingGameHitsWithinFifteenPixelsOfTheBox() {
        int h = 64, w = 64;
        Region box = Region.ofBoxes(h, w, new int[][] {{20, 20, 30, 30}});
        assertEquals(1, PointingGame.hit(peak(h, w, 25, 25), box, 15), "inside");
        assertEquals(1, PointingGame.hit(peak(h, w, 25, 45), box, 15), "15 px to the right of the box edge");
        assertEquals(0, PointingGame.hit(peak(h, w, 25, 46), box, 15), "16 px away");
        assertEquals(1, PointingGame.hit(peak(h, w, 40, 40), box, 15), "diagonal distance sqrt(200) < 15");
        assertEquals(0, PointingGame.hit(peak(h, w, 42, 42), box, 15), "diagonal distance sqrt(288) > 15");
        assertEquals(0, PointingGame.hit(peak(h, w, 60, 2), box, 15));
        // an input-shaped map points with its pixel map (sum over channels)
        float[] two = new float[2 * h * w];
        two[5 * w + 5] = 1;
        two[h * w + 5 * w + 5] = 1;
        two[25 * w + 25] = 1.5f;
        assertEquals(0, PointingGame.hit(new MapView(two, 2, h, w, false), box, 15), "channels sum to 2 at (5,5)");
        boolean[] mask = new boolean[h * w];
        mask[10 * w + 50] = true;
        assertEquals(1, PointingGame.hit(peak(h, w, 10, 40), Region.ofMask(h, w, mask), 15));
        assertEquals(0, PointingGame.hit(peak(h, w, 30, 50), Region.ofMask(h, w, mask), 15));
    }

    @Test
    void energyPointingIsTheShareOfTheMapInsideTheRegion() {
        int h = 10, w = 10;
        float[] m = new float[h * w];
        m[0] = 1f;      // inside the box
        m[99] = 0.5f;   // outside
        m[22] = 0.5f;   // inside
        Region box = Region.ofBoxes(h, w, new int[][] {{0, 0, 2, 2}});
        assertEquals(1.5 / 2.0, PointingGame.energy(new MapView(m, 1, h, w, true), box), 1e-12);
        assertEquals(0, PointingGame.energy(new MapView(new float[h * w], 1, h, w, true), box), 0);
    }
}
