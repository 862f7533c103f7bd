package dev.salient.explain.perturbation;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.explain.Baseline;
import dev.salient.explain.Explainer;
import dev.salient.explain.core.Driver;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
        Tensor base = batch.rank() == 4 ? baseline.build(backend, batch) : null;
        return new Evaluations(f, base);
    }

    private final class Evaluations implements Expansion {
        private final Features features;
        private final Tensor base;

        Evaluations(Features features, Tensor base) {
            this.features = features;
            this.base = base;
        }

        @Override
        public Set<String> wrt() {
            return Set.of();
        }

        @Override
        public List<Pass> passes() {
            return List.of();
        }

        @Override
        public int perImage() {
            return features.count() + 1;
        }

        @Override
        public long[] rowShape(long[] inputShape) {
            return Arrays.copyOfRange(inputShape, 1, inputShape.length);
        }

        @Override
        public Chunk begin(Backend b, Tensor x, int firstImage) {
            int cnt = (int) x.dim(0);
            int c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3), plane = h * w;
            Tensor bi = Driver.rows(b, base, firstImage, cnt);
            return new Chunk() {
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
                    if (features.shared() || cnt == 1) {
                        try (Tensor m = bb.upload(masks(firstImage, s0, count), count, plane)) {
                            bb.maskedBlend(x, bi, m, points);
                        }
                        return;
                    }
                    long row = (long) c * plane;
                    for (int i = 0; i < cnt; i++) {
                        try (Tensor xi = Driver.rows(bb, x, i, 1); Tensor b1 = Driver.rows(bb, bi, i, 1);
                                Tensor m = bb.upload(masks(firstImage + i, s0, count), count, plane);
                                Tensor y = bb.allocate(count, c, h, w)) {
                            bb.maskedBlend(xi, b1, m, y);
                            for (int s = 0; s < count; s++) bb.copyRange(y, s * row, points, ((long) s * cnt + i) * row, row);
                        }
                    }
                }

                @Override
                public Tensor accumulate(Backend bb, Tape tape, List<Map<String, Tensor>> grads, int s0, int count,
                        Tensor acc) {
                    throw new UnsupportedOperationException("needs the target classes");
                }

                @Override
                public Tensor accumulate(Backend bb, Tape tape, List<Map<String, Tensor>> grads, int[] classes, int s0,
                        int count, Tensor acc) {
                    // acc (images, 1 + features): the target logit of every evaluation
                    Tensor a = acc != null ? acc : bb.zeros(cnt, perImage());
                    Scores.store(bb, tape, classes, s0, count, cnt, a);
                    return a;
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
            if (base != null) base.close();
        }
    }
}
