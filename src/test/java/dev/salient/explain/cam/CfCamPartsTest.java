package dev.salient.explain.cam;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The host parts of CF-CAM against their plain definitions. */
class CfCamPartsTest {
    @Test
    void selectionAgreesWithSorting() {
        Random r = new Random(3);
        for (int trial = 0; trial < 200; trial++) {
            int n = 1 + r.nextInt(300);
            double[] a = new double[n];
            for (int i = 0; i < n; i++) a[i] = r.nextInt(trial % 2 == 0 ? 10 : 1000);   // many ties, or few
            double[] sorted = a.clone();
            Arrays.sort(sorted);
            int k = r.nextInt(n);
            assertEquals(sorted[k], CfCam.kth(a, k), "k=" + k);
            for (int i = k + 1; i < n; i++) assertTrue(a[i] >= a[k], "after the k-th");
        }
    }

    @Test
    void percentileIsNumpysLinear() {
        // np.percentile([1, 2, 3, 4], 75) = 3.25; ([1, 2, 3, 4, 10], 25) = 2.0; ([5], 40) = 5
        assertEquals(3.25, CfCam.percentile(new double[] {1, 2, 3, 4}, 75), 1e-15);
        assertEquals(2.0, CfCam.percentile(new double[] {1, 2, 3, 4, 10}, 25), 1e-15);
        assertEquals(5.0, CfCam.percentile(new double[] {5}, 40), 1e-15);
        assertEquals(10.0, CfCam.percentile(new double[] {1, 2, 3, 4, 10}, 100), 1e-15);
    }

    @Test
    void filteredMeanIsTheMeanOfTheSameSizeCorrelation() {
        Random r = new Random(5);
        for (int[] hw : new int[][] {{7, 7}, {6, 9}, {16, 16}, {1, 3}}) {
            int h = hw[0], w = hw[1];
            double[] g = new double[h * w];
            for (int i = 0; i < g.length; i++) g[i] = 0.3 * r.nextGaussian();
            double sigmaS = 3, sigmaR = 0.2;
            // direct: kernel K = s*r / (sum + 1e-6), out = correlate(g, K) with PyTorch 'same' zero padding
            double mean = Arrays.stream(g).average().orElseThrow(), ks = 0;
            double[] k = new double[h * w];
            for (int u = 0; u < h; u++)
                for (int v = 0; v < w; v++) {
                    double du = u - h / 2.0, dv = v - w / 2.0, dg = g[u * w + v] - mean;
                    k[u * w + v] = Math.exp(-(du * du + dv * dv) / (2 * sigmaS * sigmaS)) * Math.exp(-dg * dg / (2 * sigmaR * sigmaR));
                    ks += k[u * w + v];
                }
            int pt = (h - 1) / 2, pl = (w - 1) / 2;
            double total = 0;
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                    for (int u = 0; u < h; u++)
                        for (int v = 0; v < w; v++) {
                            int y = i + u - pt, x = j + v - pl;
                            if (y >= 0 && y < h && x >= 0 && x < w) total += k[u * w + v] / (ks + 1e-6) * g[y * w + x];
                        }
            assertEquals(total / (h * w), CfCam.filteredMean(g, h, w, sigmaS, sigmaR), 1e-12, h + "x" + w);
        }
    }

    @Test
    void dbscanBorderPointsJoinTheFirstCluster() {
        // on a line: cluster B (3.2..3.5), a border point X = 1.75 within eps of both B's 3.2 and A's 0.3
        // but with too few neighbours to be core, cluster A (0..0.3), and far noise; B comes first in
        // index order, so X joins B as scikit-learn assigns it
        double[] pos = {3.2, 3.3, 3.4, 3.5, 1.75, 0, 0.1, 0.2, 0.3, 20};
        int n = pos.length;
        double[] d = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) d[i * n + j] = Math.abs(pos[i] - pos[j]);
        int[] l = Dbscan.labels(d, n, 1.46, 4);
        assertArrayEquals(new int[] {0, 0, 0, 0, 0, 1, 1, 1, 1, -1}, l);
    }
}
