package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.CamCombine;
import dev.salient.engine.Reduction;
import dev.salient.engine.Tensor;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.Driver;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.ForwardOnly;
import dev.salient.explain.core.Scorer;
import dev.salient.explain.core.Layers;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import dev.salient.model.ops.TensorViews;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Ablation-CAM (Desai and Ramaswamy 2020) as pytorch-grad-cam's AblationCAM: channel k of
 * the layer's activation A is ablated, set to 0 when the image's minimum activation is 0 and
 * to that minimum − 1e7 otherwise (ablation_layer.py), and the target logit y_k of the ablated
 * activation is compared with the clean one: w_k = (y − y_k)/y (divided by the clean logit, as
 * the peer does: the sign flips when y &lt; 0). Then Σ_k w_k A_k goes through the CAM pipeline
 * (ReLU, min-max, resize, min-max). pytorch-grad-cam uses the minimum of the whole ablated
 * batch, which drifts by 1e7 per channel already ablated in the batch; here it is the image's
 * minimum, whatever the batch.
 *
 * <p>Only the graph after the layer re-runs: the layer and the values computed before it that
 * the rest still reads (a residual branch) are computed once per image, and each ablated copy
 * is a forward of the suffix ({@link Model#runSuffix}), chunked by the driver under the
 * memory budget. Output (rows, H, W) in [0,1].
 * <pre>{@code
 * Attribution a = new AblationCam(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class AblationCam extends Explainer {
    public static final MethodSpec SPEC = MethodSpec.cam("ablationcam",
            "pytorch-grad-cam AblationCAM: `w_k = (y - y_k)/y`, y_k with channel k set to 0 (min(A) - 1e7 when min(A) != 0); "
                    + "only the graph after the layer re-runs", AblationCam::new);

    /** The ablation value when the layer's minimum is not 0: min − 1e7 (ablation_layer.py). */
    static final float ABLATION_OFFSET = 1e7f;

    private final String layer;

    public AblationCam(Model model, String layer) {
        super(model);
        this.layer = layer == null ? "auto" : layer;
    }

    public AblationCam(Model model, MethodOptions o) {
        this(model, o.get(MethodOption.LAYER));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        if (batch.rank() != 4) return new Channels("", 1, batch.shape());
        String t = Layers.resolve(model, layer, batch.shape());
        Layers.require4d(model, t, batch.shape(), name());
        long[] one = batch.shape().clone();
        one[0] = 1;
        int k = (int) model.plan(Map.of(inputName(), one), Set.of(t)).shape(t)[1];
        return new Channels(t, k, batch.shape());
    }

    private final class Channels extends ForwardOnly {
        private final String tensor;
        private final int channels;
        private final long[] inputShape;

        Channels(String tensor, int channels, long[] inputShape) {
            super(channels);
            this.tensor = tensor;
            this.channels = channels;
            this.inputShape = inputShape;
        }

        @Override
        public String from() {
            return tensor;
        }

        @Override
        public long[] rowShape(long[] shape) {
            return new long[] {shape[2], shape[3]};
        }

        @Override
        public Chunk begin(Backend b, Tensor x, int firstImage) {
            int cnt = (int) x.dim(0);
            String out = model.outputs().get(0).name();
            List<String> frontier = model.suffixInputs(x.shape(), tensor, Set.of(out));
            Set<String> fetch = new LinkedHashSet<>(frontier);
            fetch.add(out);
            Map<String, Tensor> pre = Driver.prefix(model, b, x, fetch);
            Tensor a = pre.get(frontier.get(0)), logits = pre.get(out);
            int h = (int) a.dim(2), w = (int) a.dim(3);
            long plane = (long) h * w, per = channels * plane;
            float[] clean = logits.toArray();
            int nc = (int) logits.dim(1);
            // the ablation value of each image: 0 when its minimum activation is 0, else that minimum - 1e7
            List<Tensor> fills = new ArrayList<>();
            float[] mins;
            try (Tensor mn = b.allocate(cnt)) {
                b.reduceRows(Reduction.MIN, TensorViews.view(a, cnt, per), mn);
                mins = mn.toArray();
            }
            for (int i = 0; i < cnt; i++) {
                Tensor f = b.allocate(plane);
                fills.add(f);
                b.fill(f, mins[i] == 0f ? 0f : mins[i] - ABLATION_OFFSET);
            }
            Map<String, Tensor> byName = new HashMap<>(pre);
            return new Chunk() {
                @Override
                public void expand(Backend bb, int s0, int count, Tensor points) {
                    for (int s = 0; s < count; s++)
                        for (int i = 0; i < cnt; i++) {
                            long row = (long) (s * cnt + i) * per;
                            bb.copyRange(a, i * per, points, row, per);
                            bb.copyRange(fills.get(i), 0, points, row + (s0 + s) * plane, plane);
                        }
                }

                @Override
                public Tensor prefix(String name) {
                    return byName.get(name);
                }

                @Override
                public Tensor score(Backend bb, Tape tape, int[] classes, int s0, int count, Tensor acc) {
                    // columns 0..K-1: y_k of the ablated channels; column K: the clean target logit y
                    Tensor s = acc;
                    if (s == null) {
                        float[] init = new float[cnt * (channels + 1)];
                        for (int i = 0; i < cnt; i++) init[i * (channels + 1) + channels] = clean[i * nc + classes[i]];
                        s = bb.upload(init, cnt, channels + 1);
                    }
                    return Scorer.store(bb, tape, classes, s0, count, cnt, channels + 1, s);
                }

                @Override
                public Tensor finish(Backend bb, Tensor acc) {
                    float[] s = acc.toArray();
                    float[] wts = new float[cnt * channels];
                    for (int i = 0; i < cnt; i++) {
                        double y = s[i * (channels + 1) + channels];
                        for (int k = 0; k < channels; k++) wts[i * channels + k] = (float) ((y - s[i * (channels + 1) + k]) / y);
                    }
                    try (Tensor wt = bb.upload(wts, cnt, channels); Tensor cam = bb.allocate(cnt, h, w)) {
                        bb.camCombine(CamCombine.WEIGHTED, a, wt, cam);
                        return BaseCam.finishImages(bb, cam, inputShape);
                    }
                }

                @Override
                public void close() {
                    for (Tensor t : pre.values()) t.close();
                    for (Tensor t : fills) t.close();
                }
            };
        }
    }
}
