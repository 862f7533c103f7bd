package dev.salient.explain.perturbation;

import dev.salient.engine.Backend;
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
        return new Evaluations(f, base);
    }

    private final class Evaluations extends ForwardOnly {
        private final Features features;
        private final Tensor base;

        Evaluations(Features features, Tensor base) {
            super(features.count() + 1);
            this.features = features;
            this.base = base;
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
            return new ScoredChunk() {
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
