package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.model.Model;

/**
 * EigenGrad-CAM: {@link EigenCam} on G ⊙ A, the activations times the target's gradients,
 * as pytorch-grad-cam's EigenGradCAM. Class-specific. Output (rows, H, W) in [0,1].
 * <pre>{@code
 * Attribution a = new EigenGradCam(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class EigenGradCam extends EigenCam {
    public static final MethodSpec SPEC = MethodSpec.cam("eigengradcam", "`eigencam` of `G*A`", EigenGradCam::new)
            .withOptions(COUNTERFACTUAL);

    public EigenGradCam(Model model, String layer) {
        super(model, layer);
    }

    public EigenGradCam(Model model, MethodOptions o) {
        super(model, o);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected boolean usesGradient() {
        return true;
    }

    @Override
    protected Tensor data(Backend b, Tensor a, Tensor g) {
        Tensor t = b.allocate(a.shape());
        b.binary(BinaryOp.MUL, g, a, t);
        return t;
    }
}
