package dev.salient.explain.gradient;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.BackwardRules;
import dev.salient.model.Model;

/**
 * Guided backpropagation (Springenberg et al. 2015, arXiv:1412.6806): the gradient
 * with every Relu's backward replaced by {@code relu(dy)·(x>0)}, as Captum's
 * GuidedBackprop. Input-shaped.
 * <pre>{@code
 * Attribution a = new GuidedBackprop(model).explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class GuidedBackprop extends GradientExplainer {
    public static final MethodSpec SPEC = MethodSpec.gradient("guidedbackprop",
            "gradient with ReLU backward `relu(dy)*(x>0)`", (m, o) -> new GuidedBackprop(m));

    public GuidedBackprop(Model model) {
        super(model);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected BackwardRules rules() {
        return BackwardRules.guided();
    }

    @Override
    protected void finish(Backend b, Tensor x, Tensor grad) {}
}
