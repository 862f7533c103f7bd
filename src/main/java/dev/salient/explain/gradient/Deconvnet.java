package dev.salient.explain.gradient;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.BackwardRules;
import dev.salient.model.Model;

/**
 * Deconvnet (Zeiler and Fergus 2014, arXiv:1311.2901): the gradient with every Relu's
 * backward replaced by {@code relu(dy)}, as Captum's Deconvolution. Input-shaped; the raw
 * modified gradient (not multiplied by the input).
 * <pre>{@code
 * Attribution a = new Deconvnet(model).explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class Deconvnet extends GradientExplainer {
    public static final MethodSpec SPEC = MethodSpec.gradient("deconvnet",
            "gradient with ReLU backward `relu(dy)` (Captum Deconvolution)", (m, o) -> new Deconvnet(m));

    public Deconvnet(Model model) {
        super(model);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected BackwardRules rules() {
        return BackwardRules.deconvnet();
    }

    @Override
    protected void finish(Backend b, Tensor x, Tensor grad) {}
}
