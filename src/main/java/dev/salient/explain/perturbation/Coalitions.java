package dev.salient.explain.perturbation;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Baseline;
import dev.salient.explain.Explainer;
import dev.salient.explain.core.Driver;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.ForwardOnly;
import dev.salient.explain.core.Scorer;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * The coalition methods over {@link Segments} (Shapley values, KernelSHAP, LIME): each
 * evaluation of an image keeps a subset of its M segments and sets the rest to the baseline
 * ({@code b + m ⊙ (x − b)}, a masked blend on the backend), the driver runs the evaluations
 * in chunks under the memory budget, and the target logits of all of an image's evaluations
 * are reduced on the host to one value per segment, written to every element of the segment:
 * output (rows, C, H, W).
 *
 * <p>A method gives its evaluations as a design: the keep flags (E, M) of image i. Random
 * designs read the backend's counter-based Philox stream at element
 * {@code i·2^40 + s·d + k} for number k of sample s (d numbers per sample), so they are a
 * function of (seed, image index, sample index) and never of the chunking; the image index is
 * the image's index in the batch, plus the batch's first image in a run when the CLI cuts a
 * run into batches ({@link Segmented#withSegments}).
 */
public abstract class Coalitions extends Explainer implements Segmented {
    protected final Segments segments;
    protected final Baseline baseline;
    protected final long seed;
    /** The run index of the first image of a batch (see {@link Segmented#withSegments}). */
    protected int firstImage;

    protected Coalitions(Model model, Segments segments, Baseline baseline, long seed) {
        super(model);
        this.segments = segments;
        this.baseline = baseline;
        this.seed = seed;
    }

    /** The evaluations of one image over M segments (the same for every image); bad options for M throw one line. */
    protected abstract int evaluations(int m);

    /** The keep flags (E, M), row-major, of the evaluations of image {@code image} (its index in the batch). */
    protected abstract float[] design(Backend b, int image, int m);

    /** Whether {@link #design} is the same for every image (no random numbers). */
    protected abstract boolean sameDesignForEveryImage();

    /** The value of each of the M segments of one image from the target logits y (E) of its evaluations. */
    protected abstract double[] solve(int m, float[] design, float[] y, Image image);

    /** What a method may read of one image besides its logits: sums over each segment of x·x, x·b and b·b. */
    protected interface Image {
        /** (3, M): per segment Σx², Σx·b, Σb² over its elements (all channels), in double. */
        double[][] segmentProducts();
    }

    @Override
    public Segments segments() {
        return segments;
    }

    /** This method's copy over other segments, the budget kept, images numbered from {@code first}. */
    protected final Explainer copied(Coalitions c, int first) {
        c.firstImage = first;
        c.memoryBudget(memoryBudget());
        return c;
    }

    /** Forward passes per image for this batch: the most any of its images needs (M from its segments). */
    public int evaluationsPerImage(Tensor batch) {
        int[] m = featuresPerImage(segments.resolve(batch), (int) batch.dim(0));
        int e = 0;
        for (int v : m) e = Math.max(e, evaluations(v));
        return e;
    }

    /**
     * M of each image: its largest label plus one, as Captum counts an example's features, so an
     * image's result does not depend on the other images of its batch.
     */
    static int[] featuresPerImage(Segments.Resolved r, int n) {
        int[] m = new int[n];
        for (int i = 0; i < n; i++) {
            if (r.shared() && i > 0) {
                m[i] = m[0];
                continue;
            }
            for (int v : r.of(i)) m[i] = Math.max(m[i], v + 1);
        }
        return m;
    }

    /** {@code d} standard normals per sample for samples [s0, s0+count) of image {@code image}: (count·d). */
    protected final float[] normals(Backend b, int image, long s0, int count, int d) {
        if (count == 0 || d == 0) return new float[0];
        try (Tensor t = b.allocate((long) count * d)) {
            b.randomNormal(seed, ((long) (firstImage + image) << 40) + s0 * d, t);
            return t.toArray();
        }
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        if (batch.rank() != 4)
            throw new SalientException(name() + " needs images (N,C,H,W), got an input of rank " + batch.rank());
        Segments.Resolved r = segments.resolve(batch);
        int[] m = featuresPerImage(r, (int) batch.dim(0));
        int[] e = new int[m.length];
        int most = 0;
        for (int i = 0; i < m.length; i++) most = Math.max(most, e[i] = evaluations(m[i]));
        Tensor base = baseline.build(backend, batch);
        return new Evaluations(r, m, e, most, base);
    }

    /** Whether chunks run each distinct row once ({@link Tape#recordRepeated}); tests compare with every row. */
    static volatile boolean shareRows = true;

    /** The segments an evaluation of chunk image {@code image} keeps: equal rows are the same input. */
    private record Row(int image, float[] keep) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Row r && r.image == image && Arrays.equals(r.keep, keep);
        }

        @Override
        public int hashCode() {
            return 31 * image + Arrays.hashCode(keep);
        }
    }

    /**
     * The evaluations of a batch: image i has M_i segments and E_i evaluations; every image runs
     * E = max E_i, the rows past E_i keep every segment and are not read.
     */
    private final class Evaluations extends ForwardOnly {
        private final Segments.Resolved seg;
        private final int[] m, e;
        private final int most;
        private final Tensor base;

        Evaluations(Segments.Resolved seg, int[] m, int[] e, int most, Tensor base) {
            super(most);
            this.seg = seg;
            this.m = m;
            this.e = e;
            this.most = most;
            this.base = base;
        }

        @Override
        public long[] rowShape(long[] inputShape) {
            return Arrays.copyOfRange(inputShape, 1, inputShape.length);
        }

        @Override
        public Chunk begin(Backend b, Tensor x, int firstImage) {
            int cnt = (int) x.dim(0);
            int c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3), plane = h * w;
            boolean one = sameDesignForEveryImage() && seg.shared();
            float[][] designs = new float[one ? 1 : cnt][];
            for (int i = 0; i < designs.length; i++) designs[i] = design(b, firstImage + i, m[firstImage + i]);
            Tensor bi = Driver.rows(b, base, firstImage, cnt);
            return new ScoredChunk() {
                /** Keep masks (count, H·W) of evaluations [s0, s0+count) of chunk image i. */
                private float[] masks(int i, int s0, int count) {
                    float[] d = designs[one ? 0 : i];
                    int[] l = seg.of(firstImage + i);
                    int mi = m[firstImage + i], ei = e[firstImage + i];
                    float[] out = new float[count * plane];
                    for (int s = 0; s < count; s++) {
                        int row = (s0 + s) * mi, o = s * plane;
                        if (s0 + s >= ei) java.util.Arrays.fill(out, o, o + plane, 1f);
                        else for (int p = 0; p < plane; p++) out[o + p] = d[row + l[p]];
                    }
                    return out;
                }

                @Override
                public void expand(Backend bb, int s0, int count, Tensor points) {
                    Scorer.blend(bb, x, bi, one, (b1, i, e0, n) -> b1.upload(masks(i, e0, n), n, plane), s0, count, points);
                }

                /**
                 * Rows whose image keeps the same segments as an earlier row of the chunk are the
                 * same input: the forward runs each distinct row once (KernelSHAP draws the
                 * coalitions of one segment, or of all but one, again and again).
                 */
                @Override
                public Tape record(Model model, Backend bb, Tensor points, Set<String> wrt, int s0, int count) {
                    if (!wrt.isEmpty() || !shareRows) return null;
                    int[] source = new int[count * cnt];
                    Map<Row, Integer> first = new HashMap<>();
                    boolean repeats = false;
                    for (int s = 0; s < count; s++)
                        for (int i = 0; i < cnt; i++) {
                            int r = s * cnt + i, mi = m[firstImage + i];
                            float[] keep = new float[mi];
                            if (s0 + s >= e[firstImage + i]) Arrays.fill(keep, 1f);
                            else System.arraycopy(designs[one ? 0 : i], (s0 + s) * mi, keep, 0, mi);
                            source[r] = first.computeIfAbsent(new Row(i, keep), k -> r);
                            repeats |= source[r] != r;
                        }
                    return repeats ? Tape.recordRepeated(model, bb, points, source) : null;
                }

                @Override
                public Tensor finish(Backend bb, Tensor acc) {
                    float[] y = acc.toArray();
                    float[] out = new float[cnt * c * plane];
                    float[][] px = new float[2][];
                    for (int i = 0; i < cnt; i++) {
                        int ii = i;
                        int[] l = seg.of(firstImage + i);
                        int mi = m[firstImage + i], ei = e[firstImage + i];
                        Image img = () -> {
                            if (px[0] == null) {
                                px[0] = x.toArray();
                                px[1] = bi.toArray();
                            }
                            double[][] s = new double[3][mi];
                            int off = ii * c * plane;
                            for (int k = 0; k < c; k++)
                                for (int p = 0; p < plane; p++) {
                                    double xv = px[0][off + k * plane + p], bv = px[1][off + k * plane + p];
                                    s[0][l[p]] += xv * xv;
                                    s[1][l[p]] += xv * bv;
                                    s[2][l[p]] += bv * bv;
                                }
                            return s;
                        };
                        double[] v = solve(mi, designs[one ? 0 : i], Arrays.copyOfRange(y, i * most, i * most + ei), img);
                        for (int k = 0; k < c; k++)
                            for (int p = 0; p < plane; p++) out[(i * c + k) * plane + p] = (float) v[l[p]];
                    }
                    return bb.upload(out, cnt, c, h, w);
                }

                @Override
                public void close() {
                    bi.close();
                }
            };
        }

        @Override
        public void close() {
            base.close();
        }
    }
}
