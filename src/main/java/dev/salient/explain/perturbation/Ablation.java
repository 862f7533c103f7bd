package dev.salient.explain.perturbation;

import dev.salient.engine.Backend;
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
 * Captum's FeatureAblation family: each feature (a set of pixels, all channels) is
 * replaced by the baseline in turn, and every element receives the mean, over the
 * features that cover it, of {@code f(x) − f(x with the feature ablated)} for the
 * target's raw logit. Evaluation 0 of an image is the image itself, evaluation
 * 1+f ablates feature f; the perturbed copies are masked blends
 * {@code b + m ⊙ (x − b)} on the backend, chunked by the driver under the memory
 * budget. Output (rows, C, H, W).
 */
public abstract class Ablation extends Explainer {
    private final Baseline baseline;

    protected Ablation(Model model, Baseline baseline) {
        super(model);
        this.baseline = baseline;
    }

    protected final Baseline baseline() {
        return baseline;
    }

    /** The features of a batch of {@code n} images of h×w pixels. */
    protected interface Features {
        /** The number of features, the same for every image. */
        int count();

        /** Whether every image has the same features. */
        boolean shared();

        /** The pixel indices (y·w + x) of feature f of image {@code image}. */
        int[] pixels(int image, int f);
    }

    /** The features for an input of this shape; bad options for it throw one clear line. */
    protected abstract Features features(long[] inputShape);

    /** The features of this batch (segments that read the pixels, such as SLIC, override this). */
    protected Features features(Tensor batch) {
        return features(batch.shape());
    }

    /** Forward passes for a batch of this shape: one per feature plus the image, per image. */
    public int evaluationsPerImage(long[] inputShape) {
        return features(inputShape).count() + 1;
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        Features f = features(batch);
        Tensor base = batch.rank() == 4 || batch.rank() == 5 ? baseline.build(backend, batch) : null;
        CoalitionStem stem = CoalitionStem.forBatch(model, backend, batch);
        Cells[] cells = null;
        if (stem != null) {
            int n = (int) batch.dim(0), plane = (int) (batch.dim(2) * batch.dim(3));
            cells = new Cells[n];
            for (int i = 0; i < n; i++) {
                cells[i] = f.shared() && i > 0 ? cells[0] : Cells.of(f, i, plane);
                if (cells[i] == null) {
                    cells = null;
                    stem = null;
                    break;
                }
            }
        }
        return new Evaluations(f, base, stem, cells);
    }

    /**
     * The features of one image as a partition for the stem ({@link CoalitionStem}): each pixel's
     * label is its cell, the set of features that cover it (a segment, or for occlusion the
     * windows over a block between the windows' edges), and each feature is the cells it covers, so
     * ablating it is the coalition that keeps every other cell.
     */
    record Cells(int[] labels, int count, int[][] ofFeature) {
        /** The cells of image i, or null when there are more than a label can name (2^16). */
        static Cells of(Features f, int image, int plane) {
            int[][] cover = new int[plane][];
            int[] n = new int[plane];
            for (int k = 0; k < f.count(); k++)
                for (int p : f.pixels(image, k)) {
                    if (cover[p] == null) cover[p] = new int[4];
                    else if (n[p] == cover[p].length) cover[p] = Arrays.copyOf(cover[p], 2 * n[p]);
                    cover[p][n[p]++] = k;
                }
            java.util.Map<java.nio.IntBuffer, Integer> ids = new java.util.HashMap<>();
            int[] labels = new int[plane];
            java.util.List<int[]> sig = new java.util.ArrayList<>();
            for (int p = 0; p < plane; p++) {
                int[] s = n[p] == 0 ? new int[0] : Arrays.copyOf(cover[p], n[p]);  // features in ascending order
                Integer id = ids.get(java.nio.IntBuffer.wrap(s));
                if (id == null) {
                    id = sig.size();
                    if (id >= Segments.MAX_SEGMENTS) return null;
                    ids.put(java.nio.IntBuffer.wrap(s), id);
                    sig.add(s);
                }
                labels[p] = id;
            }
            int[] per = new int[f.count()];
            for (int[] s : sig) for (int k : s) per[k]++;
            int[][] of = new int[f.count()][];
            for (int k = 0; k < of.length; k++) of[k] = new int[per[k]];
            Arrays.fill(per, 0);
            for (int c = 0; c < sig.size(); c++) for (int k : sig.get(c)) of[k][per[k]++] = c;
            return new Cells(labels, sig.size(), of);
        }
    }

    private final class Evaluations extends StemEvaluations {
        private final Features features;
        private final Tensor base;
        private final Cells[] cells;

        Evaluations(Features features, Tensor base, CoalitionStem stem, Cells[] cells) {
            super(features.count() + 1, stem);
            this.features = features;
            this.base = base;
            this.cells = cells;
        }

        @Override
        public long[] rowShape(long[] inputShape) {
            return Arrays.copyOfRange(inputShape, 1, inputShape.length);
        }

        @Override
        public Chunk begin(Backend b, Tensor x, int firstImage) {
            int cnt = (int) x.dim(0);
            int c = (int) x.dim(1), plane = (int) (x.numel() / ((long) cnt * c));
            Tensor bi = Driver.rows(b, base, firstImage, cnt);
            StemTerms terms;
            try {
                terms = stem == null ? null
                        : new StemTerms(model, stem, b, x, bi, baseline.isZero(),
                                i -> StemTerms.Role.unweighted(cells[firstImage + i].labels()), memoryBudget());
            } catch (RuntimeException e) {
                bi.close();
                throw e;
            }
            return new ScoredChunk() {
                /** Keep values (count, cells) of coalitions [c0, c0+count) of chunk image i: coalition c ablates feature c. */
                private float[] keeps(int i, int c0, int count) {
                    Cells c = cells[firstImage + i];
                    float[] k = new float[count * c.count()];
                    Arrays.fill(k, 1f);
                    for (int s = 0; s < count; s++)
                        for (int cell : c.ofFeature()[c0 + s]) k[s * c.count() + cell] = 0f;
                    return k;
                }

                /** Keep-masks (count, H·W) of evaluations [s0, s0+count) of image i. */
                private float[] masks(int image, int s0, int count) {
                    float[] m = new float[count * plane];
                    Arrays.fill(m, 1f);
                    for (int s = 0; s < count; s++) {
                        int e = s0 + s;
                        if (e == 0) continue;
                        for (int p : features.pixels(image, e - 1)) m[s * plane + p] = 0f;
                    }
                    return m;
                }

                @Override
                public void expand(Backend bb, int s0, int count, Tensor points) {
                    if (terms != null) {
                        terms.expand(s0, count, points, this::keeps, i -> cells[firstImage + i].count());
                        return;
                    }
                    Scorer.blend(bb, x, bi, features.shared(), (b1, i, e0, n) -> b1.upload(masks(firstImage + i, e0, n), n, plane),
                            s0, count, points);
                }

                @Override
                public Tensor finish(Backend bb, Tensor acc) {
                    float[] y = acc.toArray();
                    int e = perImage();
                    float[] out = new float[cnt * c * plane];
                    double[] sum = new double[plane];
                    int[] cover = new int[plane];
                    for (int i = 0; i < cnt; i++) {
                        Arrays.fill(sum, 0);
                        Arrays.fill(cover, 0);
                        double f0 = y[i * e];
                        for (int f = 0; f < e - 1; f++) {
                            double d = f0 - y[i * e + 1 + f];
                            for (int p : features.pixels(firstImage + i, f)) {
                                sum[p] += d;
                                cover[p]++;
                            }
                        }
                        for (int p = 0; p < plane; p++) {
                            float v = cover[p] == 0 ? 0f : (float) (sum[p] / cover[p]);
                            for (int ch = 0; ch < c; ch++) out[(i * c + ch) * plane + p] = v;
                        }
                    }
                    return bb.upload(out, x.shape());
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
            if (base != null) base.close();
        }
    }
}
