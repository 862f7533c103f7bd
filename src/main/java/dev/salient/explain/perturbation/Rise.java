package dev.salient.explain.perturbation;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.ForwardOnly;
import dev.salient.explain.core.Scorer;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * RISE (Petsiuk et al. 2018, arXiv:1806.07421) as the authors' code generates its
 * masks: N binary s×s grids with P(1) = p, each resized bilinearly (scikit-image
 * {@code resize}, order 1, mode reflect, no anti-aliasing) to (s+1)·⌈H/s⌉ ×
 * (s+1)·⌈W/s⌉ and cropped at a random shift of less than one cell. Saliency =
 * Σ_i y_t(x ⊙ M_i)·M_i / (N·p) with the raw target logit; output (rows, H, W), raw
 * (not normalised). Mask i is a function of (seed, i) alone, drawn from the
 * backend's counter-based Philox stream, so the masks are the same whatever the
 * chunking and the batch; the masked images and the weighted sums run on the backend.
 */
public final class Rise extends Explainer {
    public static final MethodOption<Integer> MASKS = MethodOption.intAtLeast("--masks", "N", 4000, 1,
            "RISE masks (default: 4000).");
    public static final MethodOption<Integer> CELLS = MethodOption.intAtLeast("--cells", "S", 7, 1,
            "RISE grid cells per side (default: 7).");
    public static final MethodOption<Float> P = MethodOption.of("--p", "P", 0.5f, s -> {
        float v;
        try {
            v = Float.parseFloat(s.trim());
        } catch (NumberFormatException e) {
            throw new SalientException("--p needs a number, got '" + s + "'");
        }
        if (!(v > 0f && v < 1f)) throw new SalientException("--p must be in (0, 1), got " + s.trim());
        return v;
    }, "RISE probability that a cell is kept, in (0,1) (default: 0.5).");

    public static final MethodSpec SPEC = new MethodSpec("rise", MethodSpec.Family.PERTURBATION, Attribution.Layout.MAP,
            "RISE: `sum_i y_t(x * M_i) M_i / (N p)`, seeded upsampled random grids, raw (not min-max normalised)",
            List.of(MASKS, CELLS, P, MethodOption.SEED), Rise::new, MethodSpec.NO_AXIOM);

    private final int masks, cells;
    private final float p;
    private final long seed;

    public Rise(Model model, int masks, int cells, float p, long seed) {
        super(model);
        if (masks < 1) throw new SalientException("--masks must be at least 1, got " + masks);
        if (cells < 1) throw new SalientException("--cells must be at least 1, got " + cells);
        if (!(p > 0f && p < 1f)) throw new SalientException("--p must be in (0, 1), got " + p);
        this.masks = masks;
        this.cells = cells;
        this.p = p;
        this.seed = seed;
    }

    public Rise(Model model, MethodOptions o) {
        this(model, o.get(MASKS), o.get(CELLS), o.get(P), o.get(MethodOption.SEED));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    /** Standard normal CDF (erfc of Numerical Recipes, relative error below 1.2e-7; StrictMath: the same on every JVM). */
    static double phi(double z) {
        double x = -z / Math.sqrt(2), ax = Math.abs(x);
        double t = 1 / (1 + 0.5 * ax);
        double erfc = t * StrictMath.exp(-ax * ax - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223
                + t * 0.17087277)))))))));
        return 0.5 * (x >= 0 ? erfc : 2 - erfc);
    }

    /**
     * The mask (H·W) of a grid (s·s values in {0,1}) shifted by (dy, dx): the grid resized
     * to (s+1)·⌈H/s⌉ × (s+1)·⌈W/s⌉ as scikit-image's resize (order 1, mode reflect), cropped.
     */
    static float[] mask(float[] grid, int s, int h, int w, int dy, int dx) {
        int uh = (s + 1) * ((h + s - 1) / s), uw = (s + 1) * ((w + s - 1) / s);
        float[] out = new float[h * w];
        for (int y = 0; y < h; y++) {
            double fy = (y + dy + 0.5) * s / uh - 0.5;
            int y0 = (int) Math.floor(fy);
            double ly = fy - y0;
            int ya = mirror(y0, s), yb = mirror(y0 + 1, s);
            for (int x = 0; x < w; x++) {
                double fx = (x + dx + 0.5) * s / uw - 0.5;
                int x0 = (int) Math.floor(fx);
                double lx = fx - x0;
                int xa = mirror(x0, s), xb = mirror(x0 + 1, s);
                out[y * w + x] = (float) ((1 - ly) * ((1 - lx) * grid[ya * s + xa] + lx * grid[ya * s + xb])
                        + ly * ((1 - lx) * grid[yb * s + xa] + lx * grid[yb * s + xb]));
            }
        }
        return out;
    }

    private static int mirror(int i, int s) {
        if (s == 1) return 0;
        if (i < 0) return -i;
        if (i > s - 1) return 2 * (s - 1) - i;
        return i;
    }

    /** Masks [s0, s0+count) for h×w images, (count, H·W): a function of (seed, mask index) only. */
    float[] masks(Backend b, int s0, int count, int h, int w) {
        int d = cells * cells + 2;
        float[] z;
        try (Tensor t = b.allocate(count, d)) {
            b.randomNormal(seed, (long) s0 * d, t);
            z = t.toArray();
        }
        int ch = (h + cells - 1) / cells, cw = (w + cells - 1) / cells;
        float[] out = new float[count * h * w];
        float[] grid = new float[cells * cells];
        for (int i = 0; i < count; i++) {
            for (int k = 0; k < grid.length; k++) grid[k] = phi(z[i * d + k]) < p ? 1f : 0f;
            int dy = Math.min(ch - 1, (int) (phi(z[i * d + d - 2]) * ch));
            int dx = Math.min(cw - 1, (int) (phi(z[i * d + d - 1]) * cw));
            System.arraycopy(mask(grid, cells, h, w, dy, dx), 0, out, i * h * w, h * w);
        }
        return out;
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        if (batch.rank() == 4 && (cells > batch.dim(2) || cells > batch.dim(3)))
            throw new SalientException("--cells " + cells + " is bigger than the image (" + batch.dim(2) + "x" + batch.dim(3) + ")");
        return new ForwardOnly(masks) {
            @Override
            public long[] rowShape(long[] shape) {
                return new long[] {shape[2], shape[3]};
            }

            @Override
            public Chunk begin(Backend b, Tensor x, int firstImage) {
                int cnt = (int) x.dim(0), h = (int) x.dim(2), w = (int) x.dim(3), plane = h * w;
                return new Chunk() {
                    private Tensor current;
                    private int currentS0 = -1;

                    @Override
                    public void expand(Backend bb, int s0, int count, Tensor points) {
                        if (current != null) current.close();
                        current = null;
                        current = bb.upload(masks(bb, s0, count, h, w), count, plane);
                        currentS0 = s0;
                        try (Tensor zero = bb.zeros(1, x.dim(1), h, w)) {
                            bb.maskedBlend(x, zero, current, points);
                        }
                    }

                    @Override
                    public Tensor score(Backend bb, Tape tape, int[] classes, int s0, int count, Tensor acc) {
                        if (s0 != currentS0) throw new IllegalStateException("masks of evaluations " + s0 + " not expanded");
                        Tensor a = acc != null ? acc : bb.zeros(cnt, h, w);
                        try (Tensor row = bb.allocate(h, w)) {
                            for (int i = 0; i < cnt; i++) {
                                float[] f = Scorer.of(tape, classes, count, cnt, i);
                                bb.copyRange(a, (long) i * plane, row, 0, plane);
                                bb.weightedSum(current, f, row);
                                bb.copyRange(row, 0, a, (long) i * plane, plane);
                            }
                        }
                        return a;
                    }

                    @Override
                    public Tensor finish(Backend bb, Tensor acc) {
                        try (Tensor zero = bb.zeros(acc.shape())) {
                            bb.axpby(1f / ((float) masks * p), acc, 0f, zero);
                            bb.copy(zero, acc);
                        }
                        return acc;
                    }

                    @Override
                    public void close() {
                        if (current != null) current.close();
                    }
                };
            }
        };
    }
}
