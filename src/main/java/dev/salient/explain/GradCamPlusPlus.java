package dev.salient.explain;

import dev.salient.engine.CamWeighting;
import dev.salient.model.Model;

/**
 * Grad-CAM++ (Chattopadhyay et al. 2018): channel weights from eq. 19 of
 * arXiv:1710.11063 with eps 1e-6: w_k = sum_hw relu(G)·g²/(2g² + sum_hw(A)·g³ + eps).
 * Output (rows, H, W) in [0,1], as pytorch-grad-cam's GradCAMPlusPlus.
 * <pre>{@code
 * Attribution a = new GradCamPlusPlus(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * float[] heat = a.row(0);   // (H,W), values in [0,1]
 * }</pre>
 */
public final class GradCamPlusPlus extends BaseCam {
    public GradCamPlusPlus(Model model, String layer) {
        super(model, layer);
    }

    @Override
    public String name() {
        return "gradcam++";
    }

    @Override
    protected CamWeighting weighting() {
        return CamWeighting.GRADCAM_PLUS_PLUS;
    }
}
