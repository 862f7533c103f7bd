package dev.salient.explain.perturbation;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Baseline;
import dev.salient.explain.Explainer;
import dev.salient.explain.core.Driver;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.Scorer;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import java.util.Arrays;

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
        int n = (int) batch.dim(0);
        int[] m = featuresPerImage(r, n);
        CoalitionStem stem = CoalitionStem.forBatch(model, backend, batch);
        Distinct[] d = new Distinct[n];
        int most = 0;
        for (int i = 0; i < n; i++) {
            d[i] = sameDesignForEveryImage() && i > 0 && m[i] == m[0] ? d[0]
                    : Distinct.of(design(backend, i, m[i]), evaluations(m[i]), m[i], shareRows, stem != null);
            most = Math.max(most, d[i].rows.length);
        }
        Tensor base = baseline.build(backend, batch);
        return new Evaluations(r, m, d, most, base, stem);
    }

    /** Whether each distinct coalition of an image runs once ({@link Distinct}); tests compare with every row. */
    static volatile boolean shareRows = true;

    /**
     * The design of one image (E rows of M keep flags) and the rows that run: the first row of each
     * distinct coalition, in order ({@code rows}), and for each design row the index of its
     * coalition among them ({@code of}). Equal rows are the same input and the engine gives a row
     * the same bits whatever the batch, so each distinct coalition runs once and its logit serves
     * every row that draws it (KernelSHAP draws the coalitions of one segment and of all but one
     * again and again); the values are the same bytes as running every row. With {@code image}
     * (the images lead their evaluations), a row that keeps every segment is the image itself, as
     * Captum computes it (x·1 + b·0 = x): it does not run, and its coalition index is -1, the
     * image's own logit.
     */
    private record Distinct(float[] design, int[] rows, int[] of) {
        static Distinct of(float[] design, int e, int m, boolean share, boolean image) {
            int[] of = new int[e];
            int[] rows = new int[e];
            int d = 0;
            java.util.Map<java.nio.FloatBuffer, Integer> first = new java.util.HashMap<>();
            for (int s = 0; s < e; s++) {
                if (image && allKept(design, s * m, m)) {
                    of[s] = -1;
                    continue;
                }
                Integer k = share ? first.putIfAbsent(java.nio.FloatBuffer.wrap(design, s * m, m), d) : null;
                if (k == null) {
                    rows[d] = s;
                    of[s] = d++;
                } else {
                    of[s] = k;
                }
            }
            return new Distinct(design, Arrays.copyOf(rows, d), of);
        }

        private static boolean allKept(float[] design, int from, int m) {
            for (int j = from; j < from + m; j++) if (design[j] != 1f) return false;
            return true;
        }
    }

    /**
     * The evaluations of a batch: image i has M_i segments and E_i design rows, of which D_i are
     * distinct coalitions; every image runs D = max D_i, the rows past D_i keep every segment and
     * are not read.
     */
    private final class Evaluations extends StemEvaluations {
        private final Segments.Resolved seg;
        private final int[] m;
        private final Distinct[] d;
        private final int most;
        private final Tensor base;

        Evaluations(Segments.Resolved seg, int[] m, Distinct[] d, int most, Tensor base, CoalitionStem stem) {
            super(most + (stem == null ? 0 : 1), stem);
            this.seg = seg;
            this.m = m;
            this.d = d;
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
            Tensor bi = Driver.rows(b, base, firstImage, cnt);
            StemTerms terms;
            try {
                terms = stem == null ? null
                        : new StemTerms(model, stem, b, x, bi, baseline.isZero(),
                                i -> StemTerms.Role.unweighted(seg.of(firstImage + i)), memoryBudget());
            } catch (RuntimeException e) {
                bi.close();
                throw e;
            }
            return new ScoredChunk() {
                /** Keep masks (count, H·W) of evaluations [s0, s0+count) of chunk image i. */
                private float[] masks(int i, int s0, int count) {
                    float[] k = keeps(i, s0, count);
                    int[] l = seg.of(firstImage + i);
                    int mi = m[firstImage + i];
                    float[] out = new float[count * plane];
                    for (int s = 0; s < count; s++)
                        for (int p = 0; p < plane; p++) out[s * plane + p] = k[s * mi + l[p]];
                    return out;
                }

                /** Keep values (count, M_i) per segment of evaluations [s0, s0+count) of chunk image i. */
                private float[] keeps(int i, int s0, int count) {
                    Distinct di = d[firstImage + i];
                    int mi = m[firstImage + i];
                    float[] out = new float[count * mi];
                    for (int s = 0; s < count; s++) {
                        if (s0 + s >= di.rows.length) Arrays.fill(out, s * mi, (s + 1) * mi, 1f);
                        else System.arraycopy(di.design, di.rows[s0 + s] * mi, out, s * mi, mi);
                    }
                    return out;
                }

                @Override
                public void expand(Backend bb, int s0, int count, Tensor points) {
                    if (terms != null) {
                        terms.expand(s0, count, points, this::keeps, i -> m[firstImage + i]);
                        return;
                    }
                    Scorer.blend(bb, x, bi, one, (b1, i, e0, n) -> b1.upload(masks(i, e0, n), n, plane), s0, count, points);
                }

                @Override
                public Tensor finish(Backend bb, Tensor acc) {
                    float[] y = acc.toArray();
                    float[] out = new float[cnt * c * plane];
                    float[][] px = new float[2][];
                    for (int i = 0; i < cnt; i++) {
                        int ii = i;
                        int[] l = seg.of(firstImage + i);
                        int mi = m[firstImage + i];
                        Distinct di = d[firstImage + i];
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
                        // every design row's logit: that of its distinct coalition
                        float[] yi = new float[di.of.length];
                        int lead = lead();
                        for (int e = 0; e < yi.length; e++)
                            yi[e] = di.of[e] < 0 ? y[i * (most + lead)] : y[i * (most + lead) + lead + di.of[e]];
                        double[] v = solve(mi, di.design, yi, img);
                        for (int k = 0; k < c; k++)
                            for (int p = 0; p < plane; p++) out[(i * c + k) * plane + p] = (float) v[l[p]];
                    }
                    return bb.upload(out, cnt, c, h, w);
                }

                @Override
                public void close() {
                    if (terms != null) terms.close();
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
