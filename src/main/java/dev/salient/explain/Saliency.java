package dev.salient.explain;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
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
    public Saliency(Model model) {
        super(model);
    }

    @Override
    public String name() {
        return "saliency";
    }

    @Override
    protected void finish(Backend b, Tensor x, Tensor grad) {
        b.activationForward(Activation.ABS, grad, grad, 0, 0);
    }
}
