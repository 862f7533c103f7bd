package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.CamCombine;
import dev.salient.engine.Tensor;
import dev.salient.explain.Explainer;
import dev.salient.explain.core.Driver;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.ForwardOnly;
import dev.salient.explain.core.Scorer;
import dev.salient.explain.core.Layers;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import java.util.Map;
import java.util.Set;

/**
 * The sampled Score-CAMs of torch-cam (SS-CAM, IS-CAM): the layer's activation A (N,K,h,w)
 * is min-max normalised per channel at feature resolution ((A − min) / (max(A − min) + 1e-8),
 * torch-cam's {@code _normalize}), upsampled bilinearly with half-pixel centres
 * ({@code align_corners=False}) to masks U_k, and each of S samples s perturbs the masks
 * ({@link #perturb}) before scoring the masked image: w = softmax_k((1/S) Σ_s y_t(x ⊙ M_{s,k})).
 * torch-cam subtracts y_t(x) from every score, a constant shift under the softmax. Then
 * Σ_k w_k A_k goes through the CAM pipeline (ReLU, min-max, resize, min-max).
 *
 * <p>The S·K masked images of an image are evaluations of the driver (evaluation s·K + k),
 * chunked under the memory budget: only the chunk's masks and images exist at once, and the
 * activation is computed once per image.
 */
public abstract class ScoreSamplingCam extends Explainer {
    protected final String layer;
    protected final int samples;

    protected ScoreSamplingCam(Model model, String layer, int samples) {
        super(model);
        this.layer = layer == null ? "auto" : layer;
        this.samples = samples;
    }

    /** Samples per image. */
    public int samples() {
        return samples;
    }

    /**
     * Perturbs the upsampled masks of channels [k0, k0+count) of image {@code image} (its index in
     * the batch) for sample {@code sample}, in place: {@code u} is (count, H·W).
     */
    protected abstract void perturb(Backend b, int image, int sample, int k0, int count, int channels, Tensor u);

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        if (batch.rank() != 4) return new Evaluations("", 1);
        String t = Layers.resolve(model, layer, batch.shape());
        Layers.require4d(model, t, batch.shape(), name());
        long[] one = batch.shape().clone();
        one[0] = 1;
        return new Evaluations(t, (int) model.plan(Map.of(inputName(), one), Set.of(t)).shape(t)[1]);
    }

    /** Per (image, channel) of a: (a − min) / (max(a − min) + 1e-8), as torch-cam's {@code _normalize}. */
    static Tensor normalisePlanes(Backend b, Tensor a) {
        Tensor out = b.allocate(a.shape());
        try {
            b.copy(a, out);
            PlaneMinMax.rows(b, TensorViews.reshaped(out, a.dim(0) * a.dim(1), a.dim(2) * a.dim(3)), 1e-8f);
            return out;
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
    }

    private final class Evaluations extends ForwardOnly {
        private final String tensor;
        private final int channels;

        Evaluations(String tensor, int channels) {
            super(channels * samples);
            this.tensor = tensor;
            this.channels = channels;
        }

        @Override
        public long[] rowShape(long[] shape) {
            return new long[] {shape[2], shape[3]};
        }

        @Override
        public Chunk begin(Backend b, Tensor x, int firstImage) {
            int cnt = (int) x.dim(0), c = (int) x.dim(1), oh = (int) x.dim(2), ow = (int) x.dim(3);
            Tensor a = Driver.prefix(model, b, x, Set.of(tensor)).get(tensor);
            int h = (int) a.dim(2), w = (int) a.dim(3);
            long plane = (long) h * w, hw = (long) oh * ow, per = channels * plane;
            Tensor norm;
            try {
                norm = normalisePlanes(b, a);
            } catch (RuntimeException e) {
                a.close();
                throw e;
            }
            return new ScoredChunk() {
                @Override
                public void expand(Backend bb, int s0, int count, Tensor points) {
                    try (Tensor zero = bb.zeros(1, c, oh, ow)) {
                        Scorer.blend(bb, x, zero, false, (b1, i, e0, n) -> masks(b1, i, e0, n), s0, count, points);
                    }
                }

                /** The masks (count, H·W) of evaluations [e0, e0+count) of chunk image i: channel e mod K of sample e / K. */
                private Tensor masks(Backend bb, int i, int e0, int count) {
                    Tensor m = bb.allocate(count, hw);
                    try {
                        // runs of evaluations that share a sample: channels [k0, k0+kc) of sample s
                        for (int e = e0; e < e0 + count; ) {
                            int s = e / channels, k0 = e % channels, kc = Math.min(channels - k0, e0 + count - e);
                            try (Tensor f = bb.allocate(kc, 1, h, w)) {
                                bb.copyRange(norm, i * per + k0 * plane, f, 0, kc * plane);
                                try (Tensor part = bb.allocate(kc, 1, oh, ow)) {
                                    bb.bilinearResize(f, part);
                                    Tensor pm = TensorViews.reshaped(part, kc, hw);
                                    perturb(bb, firstImage + i, s, k0, kc, channels, pm);
                                    bb.copyRange(pm, 0, m, (long) (e - e0) * hw, kc * hw);
                                }
                            }
                            e += kc;
                        }
                        return m;
                    } catch (RuntimeException ex) {
                        m.close();
                        throw ex;
                    }
                }

                @Override
                public Tensor finish(Backend bb, Tensor acc) {
                    // w = softmax_k of the mean over the samples of the scores, then the CAM pipeline
                    float[] sc = acc.toArray();
                    float[] wts = new float[cnt * channels];
                    int ek = channels * samples;
                    for (int i = 0; i < cnt; i++) {
                        double[] m = new double[channels];
                        double mx = Double.NEGATIVE_INFINITY, z = 0;
                        for (int k = 0; k < channels; k++) {
                            double sum = 0;
                            for (int s = 0; s < samples; s++) sum += sc[i * ek + s * channels + k];
                            m[k] = sum / samples;
                            mx = Math.max(mx, m[k]);
                        }
                        for (int k = 0; k < channels; k++) z += Math.exp(m[k] - mx);
                        for (int k = 0; k < channels; k++) wts[i * channels + k] = (float) (Math.exp(m[k] - mx) / z);
                    }
                    try (Tensor wt = bb.upload(wts, cnt, channels); Tensor cam = bb.allocate(cnt, h, w)) {
                        bb.camCombine(CamCombine.WEIGHTED, a, wt, cam);
                        return BaseCam.finishImages(bb, cam, x.shape());
                    }
                }

                @Override
                public void close() {
                    a.close();
                    norm.close();
                }
            };
        }
    }
}
