package dev.salient.explain.cam;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.model.Model;

/**
 * Element-wise Grad-CAM: cam = sum_k relu(G_k · A_k), as pytorch-grad-cam's
 * GradCAMElementWise (the ReLU is taken per element before the channel sum, unlike
 * HiResCAM). Output (rows, H, W) in [0,1].
 * <pre>{@code
 * Attribution a = new GradCamElementWise(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class GradCamElementWise extends BaseCam {
    public static final MethodSpec SPEC = MethodSpec.cam("gradcamelementwise",
            "`sum_k relu(G_k A_k)` (pytorch-grad-cam GradCAMElementWise)", GradCamElementWise::new)
            .withOptions(COUNTERFACTUAL).withVolumes();

    public GradCamElementWise(Model model, String layer) {
        super(model, layer);
    }

    public GradCamElementWise(Model model, MethodOptions o) {
        super(model, o);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected Tensor combine(Backend b, Tensor a, Tensor g) {
        long n = a.dim(0), h = a.dim(2), w = a.dim(3);
        Tensor cam = b.allocate(n, h, w);
        try (Tensor p = b.allocate(a.shape())) {
            b.binary(BinaryOp.MUL, g, a, p);
            b.activationForward(Activation.RELU, p, p, 0f, 0f);
            b.reduceSumTo(p, TensorViews.reshaped(cam, n, 1, h, w));
            return cam;
        } catch (RuntimeException e) {
            cam.close();
            throw e;
        }
    }
}
