package dev.salient.metrics.faithfulness;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.metrics.MapView;
import dev.salient.metrics.Maps;
import dev.salient.metrics.Scorer;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * ROAD, RemOve And Debias (Rong et al., ICML 2022), as pytorch-grad-cam's road.py defines
 * it: for each percentile p of 10, 20, …, 90,
 * <ul>
 *   <li>MoRF(p) keeps the pixels whose pixel-map value is below {@code np.percentile(map, p)}
 *       (removing the top 100−p %), LeRF(p) keeps those where {@code 1 − map} is below the
 *       p-th percentile of {@code 1 − map} (removing the least relevant 100−p %);
 *   <li>the removed pixels are imputed by {@link NoisyLinearImputer} plus 0.01·N(0,1) noise on
 *       the imputed values;
 *   <li>the value is the score of the imputed image minus the score of the original
 *       (pytorch-grad-cam's {@code return_diff=True}).
 * </ul>
 * MoRF and LeRF are the averages over the percentiles, and {@code combined = (LeRF − MoRF)/2}
 * ({@code ROADCombined}). The noise comes from the backend's Philox stream (seeded; element
 * offsets a function of the image index, the order and the percentile), or from a
 * {@link Noise} given by a test. Works per pixel (all channels of a pixel together), so it
 * has none of Quantus ROAD's channel-indexing bug (PEERS.md §6).
 */
public final class Road {
    private Road() {}

    public static final int[] PERCENTILES = {10, 20, 30, 40, 50, 60, 70, 80, 90};
    public static final double NOISE = 0.01;

    /** The standard normal draws of one imputation: {@code n} values for (order 0 MoRF / 1 LeRF, percentile index). */
    @FunctionalInterface
    public interface Noise {
        float[] draws(int order, int percentile, int n);
    }

    /** Draws from the backend's Philox stream of {@code seed}, at offsets that depend on the image, order and percentile. */
    public static Noise philox(Backend b, long seed, int image, int c, int hw) {
        return (order, pi, n) -> {
            long offset = (((long) image * 2 + order) * PERCENTILES.length + pi) * (long) c * hw;
            try (Tensor t = b.allocate(n)) {
                b.randomNormal(seed, offset, t);
                return t.toArray();
            }
        };
    }

    /** {morf, lerf, combined} for one image x (C,H,W on the host, also uploaded as {@code xt} (1,C,H,W)). */
    public static Map<String, Double> evaluate(Scorer s, float[] x, int c, int h, int w, MapView map, int target, Scorer.Type type, Noise noise) {
        int hw = h * w, np = PERCENTILES.length;
        float[] pix = map.pixels();
        float[] inv = new float[hw];
        for (int i = 0; i < hw; i++) inv[i] = 1 - pix[i];
        float[] rows = new float[(2 * np + 1) * c * hw];
        System.arraycopy(x, 0, rows, 0, c * hw);
        boolean[][] keeps = new boolean[2 * np][];
        for (int order = 0; order < 2; order++) {
            float[] m = order == 0 ? pix : inv;
            double[] qs = Maps.percentiles(m, java.util.Arrays.stream(PERCENTILES).asDoubleStream().toArray());
            for (int pi = 0; pi < np; pi++) {
                boolean[] keep = new boolean[hw];
                for (int i = 0; i < hw; i++) keep[i] = m[i] < qs[pi];
                keeps[order * np + pi] = keep;
            }
        }
        float[][] imputed = NoisyLinearImputer.imputeAll(x, c, h, w, keeps);
        for (int order = 0; order < 2; order++) {
            for (int pi = 0; pi < np; pi++) {
                boolean[] keep = keeps[order * np + pi];
                float[] imp = imputed[order * np + pi];
                int removed = 0;
                for (int i = 0; i < hw; i++) if (!keep[i]) removed++;
                if (removed > 0) {
                    float[] z = noise.draws(order, pi, c * removed);
                    int k = 0;
                    for (int ch = 0; ch < c; ch++)
                        for (int i = 0; i < hw; i++) if (!keep[i]) imp[ch * hw + i] += (float) (NOISE * z[k++]);
                }
                System.arraycopy(imp, 0, rows, (1 + order * np + pi) * c * hw, c * hw);
            }
        }
        float[] sc;
        Backend b = s.backend();
        try (Tensor all = b.upload(rows, 2 * np + 1, c, h, w)) {
            int[] t = new int[2 * np + 1];
            java.util.Arrays.fill(t, target);
            sc = s.scores(all, t, type);
        }
        double morf = 0, lerf = 0;
        for (int pi = 0; pi < np; pi++) {
            morf += (double) sc[1 + pi] - sc[0];
            lerf += (double) sc[1 + np + pi] - sc[0];
        }
        morf /= np;
        lerf /= np;
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("morf", morf);
        out.put("lerf", lerf);
        out.put("combined", (lerf - morf) / 2);
        return out;
    }
}
