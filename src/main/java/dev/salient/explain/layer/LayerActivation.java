package dev.salient.explain.layer;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.Layers;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The layer's own output, as Captum's LayerActivation: rows of the layer's shape (K,h,w)
 * (or whatever the tensor's shape is), one per image and target (the values do not depend
 * on the target; no backward pass is run). Any tensor of the graph works, including a
 * model's attention gates (a Sigmoid feeding a Mul in SE or CBAM blocks).
 * <pre>{@code
 * Attribution a = new LayerActivation(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class LayerActivation extends Explainer {
    public static final MethodSpec SPEC = new MethodSpec("activation", MethodSpec.Family.LAYER, Attribution.Layout.LAYER,
            "the layer's output (Captum LayerActivation); any tensor, e.g. an SE/CBAM gate", List.of(MethodOption.LAYER),
            LayerActivation::new, MethodSpec.NO_AXIOM);

    private final String layer;

    public LayerActivation(Model model, String layer) {
        super(model);
        this.layer = layer == null ? "auto" : layer;
    }

    public LayerActivation(Model model, MethodOptions o) {
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
            public List<Pass> passes() {
                return List.of();
            }

            @Override
            public long[] rowShape(long[] inputShape) {
                return Arrays.copyOfRange(shape, 1, shape.length);
            }

            @Override
            public Chunk begin(Backend b, Tensor x, int firstImage) {
                return (bb, tape, grads, s0, count, acc) -> {
                    Tensor v = tape.value(tensor);
                    Tensor out = bb.allocate(v.shape());
                    bb.copy(v, out);
                    return out;
                };
            }
        };
    }
}
