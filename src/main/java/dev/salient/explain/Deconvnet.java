package dev.salient.explain;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
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
    public Deconvnet(Model model) {
        super(model);
    }

    @Override
    public String name() {
        return "deconvnet";
    }

    @Override
    protected BackwardRules rules() {
        return BackwardRules.deconvnet();
    }

    @Override
    protected void finish(Backend b, Tensor x, Tensor grad) {}
}
