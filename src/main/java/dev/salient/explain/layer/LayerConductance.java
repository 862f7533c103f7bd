package dev.salient.explain.layer;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Baseline;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.Driver;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.Layers;
import dev.salient.explain.core.Tape;
import dev.salient.explain.gradient.IntegratedGradients;
import dev.salient.explain.gradient.IntegrationRule;
import dev.salient.model.Model;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Captum's LayerConductance (Dhamdhere et al. 2018, arXiv:1805.12233): with n = {@code --steps}
 * (default 50), the n + 1 points {@code x_k = x' + α_k(x − x')}, α the nodes of the integration
 * rule for n + 1 points (Gauss-Legendre by default), the conductance of the layer h is
 * {@code Σ_{k<n} (h(x_{k+1}) − h(x_k)) ⊙ ∂y_t/∂h(x_k)} (Captum does not use the rule's weights),
 * rows of the layer's shape. The points are chunked by the driver; the last point of a chunk
 * carries over to the next one.
 * <pre>{@code
 * Attribution a = new LayerConductance(model, "auto", 50, IntegrationRule.GAUSS_LEGENDRE, Baseline.zeros())
 *         .explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class LayerConductance extends Explainer {
    public static final MethodSpec SPEC = new MethodSpec("layerconductance", MethodSpec.Family.LAYER,
            Attribution.Layout.LAYER, "`sum_k (h(x_k+1) - h(x_k)) * dy_t/dh(x_k)` over n+1 points `x'+a_k(x-x')` "
                    + "(Captum LayerConductance, 50 steps, Gauss-Legendre nodes)",
            List.of(MethodOption.LAYER, IntegratedGradients.STEPS, IntegratedGradients.INTEGRATION, IntegratedGradients.BASELINE,
                    MethodOption.SEED),
            LayerConductance::new, MethodSpec.NO_AXIOM);

    private final String layer;
    private final int steps;
    private final IntegrationRule rule;
    private final Baseline baseline;

    public LayerConductance(Model model, String layer, int steps, IntegrationRule rule, Baseline baseline) {
        super(model);
        rule.alphas(steps + 1);
        this.layer = layer == null ? "auto" : layer;
        this.steps = steps;
        this.rule = rule;
        this.baseline = baseline;
    }

    /** From spec options: --layer, --steps, --integration, --baseline, --seed. */
    public LayerConductance(Model model, MethodOptions o) {
        this(model, o.get(MethodOption.LAYER), o.get(IntegratedGradients.STEPS), o.get(IntegratedGradients.INTEGRATION),
                Baseline.parse(o.get(IntegratedGradients.BASELINE), o.get(MethodOption.SEED)));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        String tensor = Layers.resolve(model, layer, batch.shape());
        long[] shape = model.plan(Map.of(inputName(), batch.shape()), Set.of(model.outputs().get(0).name())).shape(tensor);
        long[] rowShape = Arrays.copyOfRange(shape, 1, shape.length);
        long layerRow = dev.salient.engine.Shapes.numel(rowShape);
        Tensor base = baseline.build(backend, batch);
        double[] a = rule.alphas(steps + 1);
        float[] alphas = new float[a.length];
        for (int i = 0; i < a.length; i++) alphas[i] = (float) a[i];
        return new Expansion() {
            @Override
            public Set<String> wrt() {
                return Set.of(tensor);
            }

            @Override
            public int perImage() {
                return steps + 1;
            }

            @Override
            public long[] rowShape(long[] inputShape) {
                return rowShape;
            }

            @Override
            public Chunk begin(Backend b, Tensor x, int firstImage) {
                int cnt = (int) x.dim(0);
                long block = cnt * layerRow;
                Tensor bi = Driver.rows(b, base, firstImage, cnt);
                // per target (its accumulator): h and dy/dh of the last point of the previous chunk
                Map<Tensor, Tensor[]> carry = new IdentityHashMap<>();
                return new Chunk() {
                    @Override
                    public void expand(Backend bb, int s0, int count, Tensor points) {
                        try (Tensor m = bb.upload(Arrays.copyOfRange(alphas, s0, s0 + count), count, 1)) {
                            bb.maskedBlend(x, bi, m, points);
                        }
                    }

                    @Override
                    public Tensor accumulate(Backend bb, Tape tape, List<Map<String, Tensor>> grads, int s0, int count, Tensor acc) {
                        Tensor h = tape.value(tensor), g = grads.get(0).get(tensor);
                        Tensor out = acc != null ? acc : bb.zeros(Driver.withRows(shape, cnt));
                        Tensor[] prev = carry.remove(acc);
                        // prevH, prevG: the previous point of every evaluated point (row block s-1)
                        try (Tensor ph = bb.zeros(count * block); Tensor pg = bb.zeros(count * block)) {
                            if (prev != null) {
                                bb.copyRange(prev[0], 0, ph, 0, block);
                                bb.copyRange(prev[1], 0, pg, 0, block);
                            }
                            if (count > 1) {
                                bb.copyRange(h, 0, ph, block, (count - 1) * block);
                                bb.copyRange(g, 0, pg, block, (count - 1) * block);
                            }
                            // (h_s - h_{s-1}) * g_{s-1}, summed over s >= 1
                            Tensor hv = dev.salient.model.ops.TensorViews.view(h, count * block);
                            bb.binary(BinaryOp.SUB, hv, ph, ph);
                            bb.binary(BinaryOp.MUL, ph, pg, ph);
                            float[] w = new float[count];
                            for (int s = 0; s < count; s++) w[s] = s0 + s >= 1 ? 1f : 0f;
                            bb.weightedSum(ph, w, out);
                        } finally {
                            if (prev != null) for (Tensor t : prev) t.close();
                        }
                        if (s0 + count < steps + 1) {
                            Tensor lh = bb.allocate(block), lg = bb.allocate(block);
                            bb.copyRange(h, (count - 1) * block, lh, 0, block);
                            bb.copyRange(g, (count - 1) * block, lg, 0, block);
                            carry.put(out, new Tensor[] {lh, lg});
                        }
                        return out;
                    }

                    @Override
                    public void close() {
                        for (Tensor[] p : carry.values()) for (Tensor t : p) t.close();
                        carry.clear();
                        bi.close();
                    }
                };
            }

            @Override
            public void close() {
                base.close();
            }
        };
    }
}
