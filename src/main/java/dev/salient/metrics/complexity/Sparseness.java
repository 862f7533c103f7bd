package dev.salient.metrics.complexity;

import dev.salient.metrics.Maps;
import java.util.Arrays;

/**
 * Quantus's complexity metrics (Quantus 0.6.0, complexity/sparseness.py and complexity.py),
 * on the map as the method returns it (C×H×W or H×W values), normalised by its own max |a|
 * and made absolute (Quantus's defaults normalise=True, abs=True; Quantus normalises by the
 * max over the whole batch, PEERS.md §0.3; here per image, so a value does not depend on
 * the other images).
 * <ul>
 *   <li>{@code sparseness}: the Gini index (Chalasani et al. 2020): a += 1e-7, sorted
 *       ascending, Σ(2i − n − 1)·a_i / (n·Σa), i = 1..n;
 *   <li>{@code complexity}: the entropy (Bhatt et al. 2020): p = a/Σa, −Σ p·ln(p + 1e-12).
 * </ul>
 * Both are reductions of one downloaded map, computed in double on the host.
 */
public final class Sparseness {
    private Sparseness() {}

    public static double gini(float[] map) {
        double[] a = Maps.absByMax(map);
        for (int i = 0; i < a.length; i++) a[i] += 1e-7;
        Arrays.sort(a);
        int n = a.length;
        double num = 0, sum = 0;
        for (int i = 1; i <= n; i++) {
            num += (2.0 * i - n - 1) * a[i - 1];
            sum += a[i - 1];
        }
        return num / (n * sum);
    }

    public static double entropy(float[] map) {
        double[] a = Maps.absByMax(map);
        double sum = 0;
        for (double v : a) sum += v;
        double e = 0;
        for (double v : a) {
            double p = sum > 0 ? v / sum : 0;
            e -= p * Math.log(p + 1e-12);
        }
        return e;
    }
}
