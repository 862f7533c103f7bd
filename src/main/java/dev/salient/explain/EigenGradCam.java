package dev.salient.explain;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;

/**
 * EigenGrad-CAM: {@link EigenCam} on G ⊙ A, the activations times the target's gradients,
 * as pytorch-grad-cam's EigenGradCAM. Class-specific. Output (rows, H, W) in [0,1].
 * <pre>{@code
 * Attribution a = new EigenGradCam(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class EigenGradCam extends EigenCam {
    public EigenGradCam(Model model, String layer) {
        super(model, layer);
    }

    @Override
    public String name() {
        return "eigengradcam";
    }

    @Override
    protected boolean usesGradients() {
        return true;
    }

    @Override
    protected Tensor data(Backend b, Tensor a, Tensor g) {
        Tensor t = b.allocate(a.shape());
        b.binary(BinaryOp.MUL, g, a, t);
        return t;
    }
}
