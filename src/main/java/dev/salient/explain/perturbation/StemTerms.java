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
 * methods and the ablations share it, and Score-CAM, whose masks are sums of weighted labels
 * ({@link Role}).
 */
public final class StemTerms implements AutoCloseable {
    /** The most bytes of terms a chunk keeps between its steps. */
    static final long KEEP_BYTES = 512L << 20;

    /** Coalitions [c0, c0+count) of chunk image i: their keep values (count, labels) per label. */
    @FunctionalInterface
    public interface Keeps {
        float[] of(int image, int c0, int count);
    }

    /**
     * One part of an image's mask: its label map (H·W, each ≥ 0) and each pixel's weight in it (H·W,
     * or null for 1). An evaluation's mask is m(q) = Σ_roles scale(q)·z[label(q)] for its keep values
     * z: one role for segments (m = z[label]), or for a bilinear upsampling one role per corner of a
     * pixel's cell, each pixel's weight of that corner (m = U z). Weighted roles need a zero baseline.
     */
    public record Role(int[] labels, float[] scale) {
        /** The one unweighted role of a segment map. */
        public static Role[] unweighted(int[] labels) {
            return new Role[] {new Role(labels, null)};
        }
    }

    /** The slots of one image's output positions over all its roles: count of them, segs at t·P + p. */
    private record Slots(int[] segs, int count, int[] perRole) {}

    private final CoalitionStem stem;
    private final Backend b;
    private final Tensor x, bi;
    private final boolean zeroBase;
    private final IntFunction<Role[]> roles;
    private final Conv2dGeometry g;
    private final Tensor w, bias;
    private final int[] pool;  // Backend#coalitionConv's pool numbers, or null
    private final Tensor own;  // the stem's output for the chunk's images, their evaluation 0
    private final Map<Integer, Tensor[]> kept = new HashMap<>();
    private final Map<Integer, Slots> slots = new HashMap<>();
    private final long keepBytes;
    private long keptBytes;

    /**
     * @param x the chunk's images, bi their baselines (x's shape, null when zeroBase), zeroBase whether every baseline is 0
     * @param roles the roles of chunk image i's masks (one, unweighted, for segments)
     * @param budget the explainer's memory budget in bytes
     */
    public StemTerms(Model model, CoalitionStem stem, Backend b, Tensor x, Tensor bi, boolean zeroBase, IntFunction<Role[]> roles,
            long budget) {
        this.stem = stem;
        this.b = b;
        this.x = x;
        this.bi = bi;
        this.zeroBase = zeroBase;
        this.roles = roles;
        this.keepBytes = Math.min(KEEP_BYTES, budget / 4);
        this.g = stem.geometry(model, (int) x.dim(1), (int) x.dim(2), (int) x.dim(3));
        this.w = model.weight(b, stem.weight());
        this.bias = stem.bias() == null ? null : model.weight(b, stem.bias());
        this.pool = stem.poolOver(model.plan(Map.of(model.inputs().get(0).name(), Driver.withRows(x.shape(), 1)),
                Set.of(model.outputs().get(0).name())).shape(stem.from()));
        this.own = stem.run(model, b, x);
    }

    /**
     * Writes evaluations [s0, s0+count) of the chunk's images into points at the stem's output:
     * row s·images + i for evaluation s0+s of image i, evaluation 0 the image, e ≥ 1 coalition e − 1
     * ({@code labelsOf}: the number of labels of chunk image i).
     */
    public void expand(int s0, int count, Tensor points, Keeps keeps, java.util.function.IntUnaryOperator labelsOf) {
        int images = (int) x.dim(0), skip = s0 == 0 ? 1 : 0;
        if (skip == 1) b.copyRange(own, 0, points, 0, own.numel());
        if (count > skip)
            for (int i = 0; i < images; i++)
                evaluate(i, keeps.of(i, s0 + skip - 1, count - skip), labelsOf.applyAsInt(i), count - skip, points, skip * images + i,
                        images);
    }

    /** Writes the coalitions of chunk image i with keep values (count, m) per label to rows row0 + e·images of points. */
    private void evaluate(int i, float[] keeps, int m, int count, Tensor points, int row0, int images) {
        Slots st = slots.computeIfAbsent(i, k -> slotsOf(roles.apply(k)));
        Tensor[] t = kept.get(i);
        boolean keep = t == null && keptBytes + bytes(st.count()) <= keepBytes;
        if (t == null) t = prepare(i, st);
        try {
            b.coalitionConv(st.segs(), st.count(), t[0], t[1], keeps, m, count, stem.act(), stem.lo(), stem.hi(), pool,
                    points, row0, images);
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

    /**
     * The terms of chunk image i: each role's shares (of its weighted image, scale ⊙ (x − b)) one
     * after another along the slots, and the baseline's conv from the first role.
     */
    private Tensor[] prepare(int i, Slots st) {
        Role[] rs = roles.apply(i);
        long share = (long) g.k() * g.outH() * g.outW();
        Tensor part = b.allocate(st.count(), g.k(), g.outH(), g.outW());
        Tensor bout = null, xi = null, b1 = null;
        try {
            bout = b.allocate(g.k(), g.outH(), g.outW());
            xi = Driver.rows(b, x, i, 1);
            b1 = zeroBase ? null : Driver.rows(b, bi, i, 1);
            if (rs.length == 1 && rs[0].scale() == null) {
                b.coalitionConvPrepare(xi, b1, rs[0].labels(), w, bias, g, st.segs(), st.count(), part, bout);
                return new Tensor[] {part, bout};
            }
            if (!zeroBase) throw new IllegalStateException("weighted roles need a zero baseline");
            int p = g.outH() * g.outW(), at = 0;
            try (Tensor zero = b.zeros(xi.shape()); Tensor xr = b.allocate(xi.shape());
                    Tensor spare = b.allocate(g.k(), g.outH(), g.outW())) {
                for (int r = 0; r < rs.length; r++) {
                    int n = st.perRole()[r];
                    int[] segs = Arrays.copyOfRange(st.segs(), at * p, (at + n) * p);
                    if (rs[r].scale() != null)
                        try (Tensor sc = b.upload(rs[r].scale(), 1, rs[r].scale().length)) {
                            b.maskedBlend(xi, zero, sc, xr);  // scale ⊙ x
                        }
                    try (Tensor pr = b.allocate(n, g.k(), g.outH(), g.outW())) {
                        // the baseline's conv (bias alone, the baseline being zero) from the first role
                        b.coalitionConvPrepare(rs[r].scale() != null ? xr : xi, null, rs[r].labels(), w, bias, g, segs, n, pr,
                                r == 0 ? bout : spare);
                        b.copyRange(pr, 0, part, at * share, n * share);
                    }
                    at += n;
                }
            }
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

    /** The slots of an image's roles, one role's after another's (an IllegalStateException past the 64 an engine takes). */
    private Slots slotsOf(Role[] rs) {
        int p = g.outH() * g.outW(), total = 0;
        int[][] each = new int[rs.length][];
        int[] counts = new int[rs.length];
        for (int r = 0; r < rs.length; r++) {
            int[] c = new int[1];
            each[r] = slotsOf(rs[r].labels(), c);
            counts[r] = c[0];
            total += c[0];
        }
        if (total > 64) throw new IllegalStateException(total + " slots an output position, beyond the 64 an engine takes");
        int[] segs = new int[total * p];
        int at = 0;
        for (int r = 0; r < rs.length; r++) {
            System.arraycopy(each[r], 0, segs, at * p, counts[r] * p);
            at += counts[r];
        }
        return new Slots(segs, total, counts);
    }

    /**
     * The labels under each output position's window, ascending, in slots (slot t of position p at
     * t·P + p, -1 past the last): as many slots as the most labels under one window.
     */
    private int[] slotsOf(int[] labels, int[] mostOut) {
        int oh = g.outH(), ow = g.outW(), p = oh * ow, h = g.h(), wd = g.w();
        int top = 0;
        for (int v : labels) top = Math.max(top, v);
        int[] stamp = new int[top + 1];  // position q + 1 where label v was last seen
        int width = g.r() * g.s();  // the most labels under one window (at most 64: CoalitionStem.forBatch)
        int[] under = new int[p * width];
        int[] count = new int[p];
        int most = 1;
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
        mostOut[0] = most;
        return out;
    }

    @Override
    public void close() {
        for (Tensor[] t : kept.values()) for (Tensor v : t) v.close();
        kept.clear();
        own.close();
    }
}
