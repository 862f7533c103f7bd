package dev.salient.metrics.faithfulness;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.metrics.MapView;
import dev.salient.metrics.Maps;
import dev.salient.metrics.Scorer;

/**
 * Deletion and insertion (Petsiuk et al., RISE, BMVC 2018) and pixel flipping most- and
 * least-relevant-first (MoRF/LeRF, Samek et al. 2017; Quantus PixelFlipping):
 * pixels are ranked by the pixel map (the map summed over channels; ties by index) with the
 * backend's {@link Backend#argsortRows}, and after k of {@code steps} steps the first
 * n_k = ⌊k·H·W/steps⌋ pixels of that order (all channels of a pixel together) are
 * <ul>
 *   <li>{@code deletion}: set to 0 (RISE's substrate);
 *   <li>{@code insertion}: revealed on a blurred copy of the image (RISE's Gaussian kernel of
 *       size 11 and σ 5, built as scipy's gaussian_filter of a delta, zero padding);
 *   <li>{@code morf}/{@code lerf}: replaced by a baseline (zeros, the image's mean, or the blur),
 *       most or least relevant first.
 * </ul>
 * The curve holds the target's score (softmax probability by default) at the fractions
 * n_k/(H·W), k = 0..steps, and the AUC is the trapezoid rule over those fractions. Every
 * masked input is made on the backend from the ranks (a mask per step, {@code clip(t_k − rank)}
 * or {@code clip(rank − t_k)} to [0,1], then {@link Backend#maskedBlend}) and scored in
 * chunks under the memory budget.
 *
 * <pre>{@code
 * Curves.Curve c = Curves.deletion(scorer, x, map, target, 100, Scorer.Type.PROBABILITY);
 * double auc = c.auc();
 * }</pre>
 */
public final class Curves {
    private Curves() {}

    /** A curve: scores at fractions of pixels removed (or revealed), and its AUC. */
    public record Curve(float[] fractions, float[] scores, double auc) {}

    /** The baselines of MoRF/LeRF. */
    public enum Baseline {
        ZEROS, MEAN, BLUR;

        public static Baseline parse(String s) {
            for (Baseline b : values()) if (b.name().equalsIgnoreCase(s)) return b;
            throw new SalientException("unknown flipping baseline '" + s + "' (expected zeros, mean or blur)");
        }
    }

    public static Curve deletion(Scorer s, Tensor x, MapView map, int target, int steps, Scorer.Type type) {
        try (Tensor zero = s.backend().zeros(x.shape())) {
            return curve(s, x, zero, map, target, steps, type, true, true);
        }
    }

    public static Curve insertion(Scorer s, Tensor x, MapView map, int target, int steps, Scorer.Type type) {
        try (Tensor blur = blur(s.backend(), x)) {
            return curve(s, x, blur, map, target, steps, type, true, false);
        }
    }

    /** Pixel flipping: most-relevant-first ({@code mostFirst}) or least-relevant-first, onto a baseline. */
    public static Curve flipping(Scorer s, Tensor x, MapView map, int target, int steps, Scorer.Type type,
            boolean mostFirst, Baseline baseline) {
        try (Tensor base = baseline(s.backend(), x, baseline)) {
            return curve(s, x, base, map, target, steps, type, mostFirst, true);
        }
    }

    /**
     * The curve of one image x (1,C,H,W): {@code remove} true replaces the pixels in order by
     * {@code base}; false starts from {@code base} and reveals them.
     */
    static Curve curve(Scorer s, Tensor x, Tensor base, MapView map, int target, int steps,
            Scorer.Type type, boolean mostFirst, boolean remove) {
        if (steps < 1) throw new SalientException("--steps must be at least 1, got " + steps);
        Backend b = s.backend();
        int c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3), hw = h * w;
        float[] pix = map.pixels();
        float[] frac = new float[steps + 1];
        float[] thr = new float[steps + 1];
        for (int k = 0; k <= steps; k++) {
            long n = (long) k * hw / steps;
            frac[k] = (float) n / hw;
            // keep a pixel while it is not yet reached: mask = clip(t - rank) or clip(rank - t) in [0,1]
            if (remove) thr[k] = mostFirst ? n - 1 : hw - n;   // deletion keeps rank >= n; LeRF keeps rank < hw - n
            else thr[k] = n;                                   // insertion shows rank < n
        }
        boolean rankMinusT = remove && mostFirst;
        float[] scores;
        try (Tensor p = b.upload(pix, 1, hw); Tensor order = b.allocate(1, hw); Tensor rank = b.allocate(1, hw)) {
            b.argsortRows(p, order, rank);
            scores = s.scores(new long[] {c, h, w}, steps + 1, target, type, (bb, s0, cnt, out) -> {
                float[] t = java.util.Arrays.copyOfRange(thr, s0, s0 + cnt);
                try (Tensor tt = bb.upload(t, cnt, 1); Tensor m = bb.allocate(cnt, hw)) {
                    if (rankMinusT) bb.binary(BinaryOp.SUB, rank, tt, m);
                    else bb.binary(BinaryOp.SUB, tt, rank, m);
                    bb.activationForward(Activation.CLIP, m, m, 0f, 1f);
                    // remove: y = base + m (x - base) with m = kept; reveal: the same blend, m = shown
                    bb.maskedBlend(x, base, m, out);
                }
            });
        }
        return new Curve(frac, scores, Maps.trapezoid(frac, scores));
    }

    /** The baseline image of MoRF/LeRF for x (1,C,H,W). */
    static Tensor baseline(Backend b, Tensor x, Baseline kind) {
        switch (kind) {
            case BLUR:
                return blur(b, x);
            case MEAN: {
                Tensor t = b.allocate(x.shape());
                try (Tensor m = b.allocate(1)) {
                    b.reduceRows(dev.salient.engine.Reduction.MEAN, x, m);
                    b.fill(t, 0f);
                    b.binary(BinaryOp.ADD, t, m, t);
                }
                return t;
            }
            default:
                return b.zeros(x.shape());
        }
    }

    /** RISE's blur: each channel convolved with {@link #riseKernel()} (11×11), zero padding 5. */
    public static Tensor blur(Backend b, Tensor x) {
        int c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3);
        float[] k = riseKernel();
        float[] wts = new float[c * k.length];
        for (int i = 0; i < c; i++) System.arraycopy(k, 0, wts, i * k.length, k.length);
        Tensor y = b.allocate(x.shape());
        try (Tensor wt = b.upload(wts, c, 1, 11, 11)) {
            b.conv2dForward(x, wt, null, y, new Conv2dGeometry((int) x.dim(0), c, h, w, c, 11, 11, 1, 1, 5, 5, 5, 5, 1, 1, c));
        } catch (RuntimeException e) {
            y.close();
            throw e;
        }
        return y;
    }

    /**
     * RISE's gkern(11, 5): {@code scipy.ndimage.gaussian_filter} of an 11×11 delta with σ 5
     * (truncate 4, mode 'reflect', which folds the tails back into the 11×11 window): the
     * outer product of the 1-D filter of a centred delta.
     */
    public static float[] riseKernel() {
        int len = 11, centre = 5, radius = 20;
        double sigma = 5;
        double[] wt = new double[2 * radius + 1];
        double sum = 0;
        for (int t = -radius; t <= radius; t++) sum += wt[t + radius] = Math.exp(-0.5 * t * t / (sigma * sigma));
        double[] g = new double[len];
        for (int i = 0; i < len; i++)
            for (int t = -radius; t <= radius; t++) {
                int j = Math.floorMod(i + t, 2 * len);
                if (j >= len) j = 2 * len - 1 - j;
                if (j == centre) g[i] += wt[t + radius] / sum;
            }
        float[] k = new float[len * len];
        for (int i = 0; i < len; i++)
            for (int j = 0; j < len; j++) k[i * len + j] = (float) (g[i] * g[j]);
        return k;
    }
}
