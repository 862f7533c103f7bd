package dev.salient.explain.cam;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.CamCombine;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.model.Model;

/**
 * LayerCAM (Jiang et al. 2021): cam = sum_k relu(G_k)·A_k, elementwise.
 * Output (rows, H, W) in [0,1], as pytorch-grad-cam's LayerCAM.
 * <pre>{@code
 * Attribution a = new LayerCam(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * float[] heat = a.row(0);   // (H,W), values in [0,1]
 * }</pre>
 */
public final class LayerCam extends BaseCam {
    public static final MethodSpec SPEC = MethodSpec.cam("layercam", "`sum_k relu(G_k) A_k`", LayerCam::new).withOptions(COUNTERFACTUAL).withVolumes();

    public LayerCam(Model model, String layer) {
        super(model, layer);
    }

    public LayerCam(Model model, MethodOptions o) {
        super(model, o);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    /** Definition: Σ_k relu(G_k)·A_k. */
    @Override
    protected Tensor combine(Backend b, Tensor a, Tensor g) {
        try (Tensor t = b.allocate(g.shape())) {
            b.activationForward(Activation.RELU, g, t, 0, 0);
            b.binary(BinaryOp.MUL, t, a, t);
            return channelSum(b, t);
        }
    }

    @Override
    protected CamCombine fusedCombine() {
        return CamCombine.LAYERCAM;
    }
}
