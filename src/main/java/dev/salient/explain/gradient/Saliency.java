package dev.salient.explain.gradient;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodSpec;
import dev.salient.model.Model;

/**
 * Saliency (Simonyan et al. 2014, arXiv:1312.6034): {@code |∂y_t/∂x|}, the input's
 * shape, as Captum's Saliency with abs=True.
 * <pre>{@code
 * Attribution a = new Saliency(model).explain(Engine.cpu(), batch, Target.top1());
 * float[] firstImage = a.row(0);   // (C,H,W)
 * }</pre>
 */
public final class Saliency extends GradientExplainer {
    public static final MethodSpec SPEC = MethodSpec.gradient("saliency", "`abs(dy_t/dx)`", (m, o) -> new Saliency(m))
            .withAxiom(MethodSpec.NON_NEGATIVE).withVolumes();

    public Saliency(Model model) {
        super(model);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected void finish(Backend b, Tensor x, Tensor grad) {
        b.activationForward(Activation.ABS, grad, grad, 0, 0);
    }
}
