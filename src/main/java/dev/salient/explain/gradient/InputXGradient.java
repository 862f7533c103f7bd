package dev.salient.explain.gradient;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodSpec;
import dev.salient.model.Model;

/**
 * Input × gradient (Shrikumar et al. 2016): {@code x · ∂y_t/∂x}, the input's shape,
 * as Captum's InputXGradient.
 * <pre>{@code
 * Attribution a = new InputXGradient(model).explain(Engine.cpu(), batch, Target.index(3));
 * }</pre>
 */
public final class InputXGradient extends GradientExplainer {
    public static final MethodSpec SPEC = MethodSpec.gradient("inputxgradient", "`x * dy_t/dx`",
            (m, o) -> new InputXGradient(m)).withVolumes();

    public InputXGradient(Model model) {
        super(model);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected void finish(Backend b, Tensor x, Tensor grad) {
        b.binary(BinaryOp.MUL, grad, x, grad);
    }
}
