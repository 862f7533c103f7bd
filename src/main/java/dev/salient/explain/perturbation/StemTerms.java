package dev.salient.explain.perturbation;

import dev.salient.engine.Backend;
import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.Tensor;
import dev.salient.explain.core.Driver;
import dev.salient.model.Model;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.IntFunction;

/**
 * A {@link CoalitionStem}'s per-image terms for the images of one chunk
 * (Backend#coalitionConvPrepare: the baseline's conv and each label's share of the conv of
 * x − b) and their coalitions' stem outputs (Backend#coalitionConv). An image's terms are made
 * when it is first evaluated and kept while they fit a quarter of the explainer's memory budget
 * (at most {@link #KEEP_BYTES}), else made again for each of its steps (the same bits). Each
 * image's evaluation 0 is the image itself: the graph up to the stem's output run on it, so its
 * logits are the model's own bits; evaluation e ≥ 1 is its coalition e − 1. The coalition
 * methods and the ablations share it.
 */
final class StemTerms implements AutoCloseable {
    /** The most bytes of terms a chunk keeps between its steps. */
    static final long KEEP_BYTES = 512L << 20;

    /** Coalitions [c0, c0+count) of chunk image i: their keep values (count, labels) per label. */
    @FunctionalInterface
    interface Keeps {
        float[] of(int image, int c0, int count);
    }

    /** The slots of one image's output positions: count of them, segs at t·P + p. */
    private record Slots(int[] segs, int count) {}

    private final CoalitionStem stem;
    private final Backend b;
    private final Tensor x, bi;
    private final boolean zeroBase;
    private final IntFunction<int[]> labels;
    private final Conv2dGeometry g;
    private final Tensor w, bias;
    private final long[] pooled;
    private final Tensor own;  // the stem's output for the chunk's images, their evaluation 0
    private final Map<Integer, Tensor[]> kept = new HashMap<>();
    private final Map<Integer, Slots> slots = new HashMap<>();
    private final long keepBytes;
    private long keptBytes;

    /**
     * @param x the chunk's images, bi their baselines (x's shape), zeroBase whether every baseline is 0
     * @param labels the label map (H·W, each ≥ 0) of chunk image i
     * @param budget the explainer's memory budget in bytes
     */
    StemTerms(Model model, CoalitionStem stem, Backend b, Tensor x, Tensor bi, boolean zeroBase, IntFunction<int[]> labels,
            long budget) {
        this.stem = stem;
        this.b = b;
        this.x = x;
        this.bi = bi;
        this.zeroBase = zeroBase;
        this.labels = labels;
        this.keepBytes = Math.min(KEEP_BYTES, budget / 4);
        this.g = stem.geometry(model, (int) x.dim(1), (int) x.dim(2), (int) x.dim(3));
        this.w = model.weight(b, stem.weight());
        this.bias = stem.bias() == null ? null : model.weight(b, stem.bias());
        this.pooled = model.plan(Map.of(model.inputs().get(0).name(), Driver.withRows(x.shape(), 1)),
                Set.of(model.outputs().get(0).name())).shape(stem.from());
        this.own = stem.run(model, b, x);
    }

    /**
     * Writes evaluations [s0, s0+count) of the chunk's images into points at the stem's output:
     * row s·images + i for evaluation s0+s of image i, evaluation 0 the image, e ≥ 1 coalition e − 1
     * ({@code labelsOf}: the number of labels of chunk image i).
     */
    void expand(int s0, int count, Tensor points, Keeps keeps, java.util.function.IntUnaryOperator labelsOf) {
        int images = (int) x.dim(0), skip = s0 == 0 ? 1 : 0;
        if (skip == 1) b.copyRange(own, 0, points, 0, own.numel());
        if (count > skip)
            for (int i = 0; i < images; i++)
                evaluate(i, keeps.of(i, s0 + skip - 1, count - skip), labelsOf.applyAsInt(i), count - skip, points, skip * images + i,
                        images);
    }

    /** Writes the coalitions of chunk image i with keep values (count, m) per label to rows row0 + e·images of points. */
    private void evaluate(int i, float[] keeps, int m, int count, Tensor points, int row0, int images) {
        Slots st = slots.computeIfAbsent(i, k -> slotsOf(labels.apply(k)));
        Tensor[] t = kept.get(i);
        boolean keep = t == null && keptBytes + bytes(st.count()) <= keepBytes;
        if (t == null) t = prepare(i, st);
        try {
            b.coalitionConv(st.segs(), st.count(), t[0], t[1], keeps, m, count, stem.act(), stem.lo(), stem.hi(),
                    stem.poolOver(g.outH(), g.outW(), pooled), points, row0, images);
        } finally {
            if (keep) {
                kept.put(i, t);
                keptBytes += bytes(st.count());
            } else if (!kept.containsKey(i)) {
                for (Tensor v : t) v.close();
            }
        }
    }

    private long bytes(int sl) {
        return 4L * (sl + 1) * g.k() * g.outH() * g.outW();
    }

    private Tensor[] prepare(int i, Slots st) {
        Tensor part = b.allocate(st.count(), g.k(), g.outH(), g.outW());
        Tensor bout = null, xi = null, b1 = null;
        try {
            bout = b.allocate(g.k(), g.outH(), g.outW());
            xi = Driver.rows(b, x, i, 1);
            b1 = zeroBase ? null : Driver.rows(b, bi, i, 1);
            b.coalitionConvPrepare(xi, b1, labels.apply(i), w, bias, g, st.segs(), st.count(), part, bout);
            return new Tensor[] {part, bout};
        } catch (RuntimeException e) {
            part.close();
            if (bout != null) bout.close();
            throw e;
        } finally {
            if (xi != null) xi.close();
            if (b1 != null) b1.close();
        }
    }

    /**
     * The labels under each output position's window, ascending, in slots (slot t of position p at
     * t·P + p, -1 past the last): as many slots as the most labels under one window.
     */
    private Slots slotsOf(int[] labels) {
        int oh = g.outH(), ow = g.outW(), p = oh * ow, h = g.h(), wd = g.w();
        int top = 0;
        for (int v : labels) top = Math.max(top, v);
        int[] stamp = new int[top + 1];  // position q + 1 where label v was last seen
        int[] under = new int[p * Math.min(64, g.r() * g.s())];
        int[] count = new int[p];
        int most = 1, width = Math.min(64, g.r() * g.s());
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                int q = oy * ow + ox, n = 0, base = q * width;
                for (int r = 0; r < g.r(); r++) {
                    int iy = oy * g.strideH() - g.padTop() + r;
                    if (iy < 0 || iy >= h) continue;
                    for (int c = 0; c < g.s(); c++) {
                        int ix = ox * g.strideW() - g.padLeft() + c;
                        if (ix < 0 || ix >= wd) continue;
                        int v = labels[iy * wd + ix];
                        if (stamp[v] == q + 1) continue;
                        stamp[v] = q + 1;
                        // insertion into the ascending list of this position's labels
                        int j = n++;
                        while (j > 0 && under[base + j - 1] > v) {
                            under[base + j] = under[base + j - 1];
                            j--;
                        }
                        under[base + j] = v;
                    }
                }
                count[q] = n;
                most = Math.max(most, n);
            }
        int[] out = new int[most * p];
        Arrays.fill(out, -1);
        for (int q = 0; q < p; q++)
            for (int t = 0; t < count[q]; t++) out[t * p + q] = under[q * width + t];
        return new Slots(out, most);
    }

    @Override
    public void close() {
        for (Tensor[] t : kept.values()) for (Tensor v : t) v.close();
        kept.clear();
        own.close();
    }
}
