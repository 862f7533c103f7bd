package dev.salient.metrics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.salient.metrics.randomisation.SimilarityAccess;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The randomisation similarities' fast paths against their plain definitions, bit for bit: the
 * radix-sorted ranks against a boxed {@code Double.compare} sort, and the 7-tap box filter
 * against one that reflects every tap's index.
 */
class SimilarityTest {
    @Test
    void ranksEqualTheBoxedSortOnTiesZerosNaNAndInfinities() {
        SplittableRandom r = new SplittableRandom(7);
        for (int trial = 0; trial < 40; trial++) {
            int n = 1 + r.nextInt(3000);
            double[] v = new double[n];
            for (int i = 0; i < n; i++) {
                switch (r.nextInt(8)) {
                    case 0 -> v[i] = r.nextInt(5) / 4.0; // many ties
                    case 1 -> v[i] = r.nextBoolean() ? -0.0 : 0.0;
                    case 2 -> v[i] = -r.nextDouble() * 1e3;
                    case 3 -> v[i] = trial % 3 == 0 ? Double.NaN : r.nextDouble();
                    case 4 -> v[i] = r.nextBoolean() ? Double.POSITIVE_INFINITY : Double.NEGATIVE_INFINITY;
                    case 5 -> v[i] = Double.MIN_VALUE * r.nextInt(3);
                    default -> v[i] = r.nextDouble();
                }
            }
            assertArrayEquals(SimilarityAccess.ranksBoxed(v), SimilarityAccess.ranks(v), 0.0, "trial " + trial);
        }
        assertEquals(0, SimilarityAccess.ranks(new double[0]).length);
        assertArrayEquals(new double[] {1.5, 1.5, 3}, SimilarityAccess.ranks(new double[] {0.0, -0.0, 1}), 0.0);
    }

    @Test
    void boxFilterEqualsTheReflectEveryTapDefinition() {
        SplittableRandom r = new SplittableRandom(3);
        int[][] sizes = {{7, 7}, {8, 13}, {224, 224}, {9, 7}, {30, 11}};
        for (int[] hw : sizes) {
            int h = hw[0], w = hw[1];
            double[] v = new double[h * w];
            for (int i = 0; i < v.length; i++) v[i] = r.nextDouble();
            assertArrayEquals(reference(v, h, w), SimilarityAccess.box(v, h, w), 0.0, h + "x" + w);
        }
    }

    private static double[] reference(double[] v, int h, int w) {
        double[] t = new double[v.length], o = new double[v.length];
        for (int rr = 0; rr < h; rr++)
            for (int c = 0; c < w; c++) {
                double s = 0;
                for (int k = -3; k <= 3; k++) s += v[rr * w + reflect(c + k, w)];
                t[rr * w + c] = s / 7;
            }
        for (int rr = 0; rr < h; rr++)
            for (int c = 0; c < w; c++) {
                double s = 0;
                for (int k = -3; k <= 3; k++) s += t[reflect(rr + k, h) * w + c];
                o[rr * w + c] = s / 7;
            }
        return o;
    }

    private static int reflect(int i, int n) {
        int j = Math.floorMod(i, 2 * n);
        return j >= n ? 2 * n - 1 - j : j;
    }
}
