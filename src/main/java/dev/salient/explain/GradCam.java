package dev.salient.explain;

import dev.salient.engine.CamWeighting;
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
    public GradCam(Model model, String layer) {
        super(model, layer);
    }

    @Override
    public String name() {
        return "gradcam";
    }

    @Override
    protected CamWeighting weighting() {
        return CamWeighting.GRADCAM;
    }
}
