package dev.salient.explain.layer;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.Layers;
import dev.salient.model.Model;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;

/**
 * Captum's LayerGradientXActivation (multiply_by_inputs): {@code h ⊙ ∂y_t/∂h} at the layer h,
 * rows of the layer's shape (K,h,w). The backward pass stops at the layer.
 * <pre>{@code
 * Attribution a = new LayerGradientXActivation(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class LayerGradientXActivation extends Explainer {
    public static final MethodSpec SPEC = new MethodSpec("layergradxact", MethodSpec.Family.LAYER, Attribution.Layout.LAYER,
            "`h * dy_t/dh` at the layer h (Captum LayerGradientXActivation)", java.util.List.of(MethodOption.LAYER),
            LayerGradientXActivation::new, MethodSpec.NO_AXIOM);

    private final String layer;

    public LayerGradientXActivation(Model model, String layer) {
        super(model);
        this.layer = layer == null ? "auto" : layer;
    }

    public LayerGradientXActivation(Model model, MethodOptions o) {
        this(model, o.get(MethodOption.LAYER));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        String tensor = Layers.resolve(model, layer, batch.shape());
        long[] shape = model.plan(Map.of(inputName(), batch.shape()), Set.of(model.outputs().get(0).name())).shape(tensor);
        return new Expansion() {
            @Override
            public Set<String> wrt() {
                return Set.of(tensor);
            }

            @Override
            public long[] rowShape(long[] inputShape) {
                return Arrays.copyOfRange(shape, 1, shape.length);
            }

            @Override
            public Chunk begin(Backend b, Tensor x, int firstImage) {
                return (bb, tape, grads, s0, count, acc) -> {
                    Tensor g = grads.get(0).remove(tensor);
                    bb.binary(BinaryOp.MUL, g, tape.value(tensor), g);
                    return g;
                };
            }
        };
    }
}
