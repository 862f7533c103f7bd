package dev.salient.explain;

import dev.salient.engine.CamWeighting;
import dev.salient.model.Model;

/**
 * XGrad-CAM (Fu et al. 2020, arXiv:2008.02312): w_k = sum_hw G·A / (sum_hw A + 1e-7).
 * Output (rows, H, W) in [0,1], as pytorch-grad-cam's XGradCAM.
 * <pre>{@code
 * Attribution a = new XGradCam(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * float[] heat = a.row(0);   // (H,W), values in [0,1]
 * }</pre>
 */
public final class XGradCam extends BaseCam {
    public XGradCam(Model model, String layer) {
        super(model, layer);
    }

    @Override
    public String name() {
        return "xgradcam";
    }

    @Override
    protected CamWeighting weighting() {
        return CamWeighting.XGRADCAM;
    }
}
