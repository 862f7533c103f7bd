package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.CamWeighting;
import dev.salient.engine.Reduction;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.model.Model;

/**
 * Grad-CAM (Selvaraju et al. 2017, arXiv:1610.02391): channel weights are the mean
 * gradient over the map, w_k = mean_hw G_k.
 * Output (rows, H, W) in [0,1], as pytorch-grad-cam's GradCAM.
 * <pre>{@code
 * Attribution a = new GradCam(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * float[] heat = a.row(0);   // (H,W), values in [0,1]
 * }</pre>
 */
public final class GradCam extends BaseCam {
    public static final MethodSpec SPEC = MethodSpec.cam("gradcam", "`w_k = mean_hw G_k`", GradCam::new).withOptions(COUNTERFACTUAL).withVolumes();

    public GradCam(Model model, String layer) {
        super(model, layer);
    }

    public GradCam(Model model, MethodOptions o) {
        super(model, o);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    /** Definition: the plane mean of G. */
    @Override
    protected Tensor channelWeights(Backend b, Tensor a, Tensor g) {
        return planeReduce(b, Reduction.MEAN, g);
    }

    @Override
    protected CamWeighting fusedWeights() {
        return CamWeighting.GRADCAM;
    }
}
