package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.CamCombine;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.Driver;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.Layers;
import dev.salient.explain.core.Tape;
import dev.salient.explain.perturbation.Scores;
import dev.salient.model.Model;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Score-CAM (Wang et al. 2020, arXiv:1910.01279) as pytorch-grad-cam's ScoreCAM:
 * each channel k of the layer's activation A is upsampled to the input size
 * (bilinear, {@code align_corners=True}, as {@code nn.UpsamplingBilinear2d}),
 * min-max normalised to M_k = (U_k − min)/(max − min + 1e-8), and the image masked
 * by it is scored: s_k = y_t(x ⊙ M_k), the raw logit. The weights are
 * w = softmax_k(s), and the map Σ_k w_k A_k goes through the CAM pipeline (ReLU,
 * min-max, resize, min-max). The masked images are evaluations of the driver,
 * chunked under the memory budget: a 2048-channel layer never holds 2048 masked
 * images at once. Output (rows, H, W) in [0,1].
 */
public final class ScoreCam extends Explainer {
    public static final MethodSpec SPEC = MethodSpec.cam("scorecam",
            "pytorch-grad-cam ScoreCAM: `w = softmax_k y_t(x * minmax(up_ac(A_k)))`, no gradient", ScoreCam::new);

    private final String layer;

    public ScoreCam(Model model, String layer) {
        super(model);
        this.layer = layer == null ? "auto" : layer;
    }

    public ScoreCam(Model model, MethodOptions o) {
        this(model, o.get(MethodOption.LAYER));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    /** The forward passes for a batch of this shape: one per channel of the layer, per image. */
    public int evaluationsPerImage(long[] inputShape) {
        String t = Layers.resolve(model, layer, inputShape);
        long[] one = inputShape.clone();
        one[0] = 1;
        return (int) model.plan(Map.of(inputName(), one), Set.of(t)).shape(t)[1];
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        if (batch.rank() != 4) return new Channels("", 1);
        String t = Layers.resolve(model, layer, batch.shape());
        Layers.require4d(model, t, batch.shape(), name());
        return new Channels(t, evaluationsPerImage(batch.shape()));
    }

    /**
     * Masks (count, H, W) of channels [k0, k0+count) of one image's activation
     * {@code a} (K, h, w): upsampled with aligned corners, then min-max with ε = 1e-8.
     */
    static float[] masks(float[] a, int k0, int count, int h, int w, int oh, int ow) {
        float[] out = new float[count * oh * ow];
        double sy = oh > 1 ? (double) (h - 1) / (oh - 1) : 0, sx = ow > 1 ? (double) (w - 1) / (ow - 1) : 0;
        double[] u = new double[oh * ow];
        for (int c = 0; c < count; c++) {
            int base = (k0 + c) * h * w;
            double mn = Double.POSITIVE_INFINITY, mx = Double.NEGATIVE_INFINITY;
            for (int y = 0; y < oh; y++) {
                double fy = y * sy;
                int y0 = Math.min((int) fy, h - 1), y1 = Math.min(y0 + 1, h - 1);
                double ly = fy - y0;
                for (int x = 0; x < ow; x++) {
                    double fx = x * sx;
                    int x0 = Math.min((int) fx, w - 1), x1 = Math.min(x0 + 1, w - 1);
                    double lx = fx - x0;
                    double v = (1 - ly) * ((1 - lx) * a[base + y0 * w + x0] + lx * a[base + y0 * w + x1])
                            + ly * ((1 - lx) * a[base + y1 * w + x0] + lx * a[base + y1 * w + x1]);
                    u[y * ow + x] = v;
                    mn = Math.min(mn, v);
                    mx = Math.max(mx, v);
                }
            }
            double d = mx - mn + 1e-8;
            for (int p = 0; p < oh * ow; p++) out[c * oh * ow + p] = (float) ((u[p] - mn) / d);
        }
        return out;
    }

    private final class Channels implements Expansion {
        private final String tensor;
        private final int channels;

        Channels(String tensor, int channels) {
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
            return channels;
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
            float[] host = a.toArray();
            int per = channels * h * w;
            return new Chunk() {
                @Override
                public void expand(Backend bb, int s0, int count, Tensor points) {
                    long row = (long) c * oh * ow;
                    try (Tensor zero = bb.zeros(1, c, oh, ow)) {
                        for (int i = 0; i < cnt; i++) {
                            float[] ai = java.util.Arrays.copyOfRange(host, i * per, (i + 1) * per);
                            try (Tensor xi = Driver.rows(bb, x, i, 1);
                                    Tensor m = bb.upload(masks(ai, s0, count, h, w, oh, ow), count, (long) oh * ow);
                                    Tensor y = cnt == 1 ? null : bb.allocate(count, c, oh, ow)) {
                                if (y == null) {
                                    bb.maskedBlend(xi, zero, m, points);
                                    continue;
                                }
                                bb.maskedBlend(xi, zero, m, y);
                                for (int s = 0; s < count; s++) bb.copyRange(y, s * row, points, ((long) s * cnt + i) * row, row);
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
                    Tensor s = acc != null ? acc : bb.zeros(cnt, channels);
                    Scores.store(bb, tape, classes, s0, count, cnt, s);
                    return s;
                }

                @Override
                public Tensor finish(Backend bb, Tensor acc) {
                    // w = softmax over the channels of the scores, then the CAM pipeline on sum_k w_k A_k
                    float[] s = acc.toArray();
                    float[] wts = new float[s.length];
                    for (int i = 0; i < cnt; i++) {
                        double mx = Double.NEGATIVE_INFINITY, z = 0;
                        for (int k = 0; k < channels; k++) mx = Math.max(mx, s[i * channels + k]);
                        for (int k = 0; k < channels; k++) z += Math.exp(s[i * channels + k] - mx);
                        for (int k = 0; k < channels; k++) wts[i * channels + k] = (float) (Math.exp(s[i * channels + k] - mx) / z);
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
                }
            };
        }
    }
}
