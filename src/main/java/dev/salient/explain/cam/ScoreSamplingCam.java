package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.CamCombine;
import dev.salient.engine.Reduction;
import dev.salient.engine.Tensor;
import dev.salient.explain.Explainer;
import dev.salient.explain.core.Driver;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.Layers;
import dev.salient.explain.core.Tape;
import dev.salient.explain.perturbation.Scores;
import dev.salient.model.Model;
import dev.salient.model.ops.TensorViews;
import java.util.List;
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
        long rows = a.dim(0) * a.dim(1), plane = a.dim(2) * a.dim(3);
        Tensor out = b.allocate(a.shape());
        try (Tensor mn = b.allocate(rows, 1); Tensor mx = b.allocate(rows, 1)) {
            Tensor flat = TensorViews.view(a, rows, plane), o = TensorViews.view(out, rows, plane);
            b.reduceRows(Reduction.MIN, flat, TensorViews.view(mn, rows));
            b.binary(BinaryOp.SUB, flat, mn, o);
            b.reduceRows(Reduction.MAX, o, TensorViews.view(mx, rows));
            float[] d = mx.toArray();
            for (int i = 0; i < d.length; i++) d[i] += 1e-8f;
            try (Tensor den = b.upload(d, rows, 1)) {
                b.binary(BinaryOp.DIV, o, den, o);
            }
            return out;
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
    }

    private final class Evaluations implements Expansion {
        private final String tensor;
        private final int channels;

        Evaluations(String tensor, int channels) {
            this.tensor = tensor;
            this.channels = channels;
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
            return channels * samples;
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
            return new Chunk() {
                @Override
                public void expand(Backend bb, int s0, int count, Tensor points) {
                    long row = (long) c * hw;
                    try (Tensor zero = bb.zeros(1, c, oh, ow)) {
                        for (int i = 0; i < cnt; i++)
                            try (Tensor xi = Driver.rows(bb, x, i, 1)) {
                                // runs of evaluations that share a sample: channels [k0, k0+kc) of sample s
                                for (int e = s0; e < s0 + count; ) {
                                    int s = e / channels, k0 = e % channels, kc = Math.min(channels - k0, s0 + count - e);
                                    try (Tensor f = bb.allocate(kc, 1, h, w); Tensor u = bb.allocate(kc, 1, oh, ow)) {
                                        bb.copyRange(norm, i * per + k0 * plane, f, 0, kc * plane);
                                        bb.bilinearResize(f, u);
                                        Tensor m = TensorViews.view(u, kc, hw);
                                        perturb(bb, firstImage + i, s, k0, kc, channels, m);
                                        try (Tensor part = bb.allocate(kc, c, oh, ow)) {
                                            bb.maskedBlend(xi, zero, m, part);
                                            if (cnt == 1) bb.copyRange(part, 0, points, (long) (e - s0) * row, kc * row);
                                            else for (int j = 0; j < kc; j++)
                                                bb.copyRange(part, j * row, points, ((long) (e - s0 + j) * cnt + i) * row, row);
                                        }
                                    }
                                    e += kc;
                                }
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
                    Tensor s = acc != null ? acc : bb.zeros(cnt, (long) channels * samples);
                    Scores.store(bb, tape, classes, s0, count, cnt, s);
                    return s;
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
                        Tensor out = bb.allocate(cnt, oh, ow);
                        try {
                            bb.camFinish(cam, out);
                            return out;
                        } catch (RuntimeException e) {
                            out.close();
                            throw e;
                        }
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
