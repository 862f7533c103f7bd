package dev.salient.explain;

import dev.salient.engine.CamCombine;
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
    public LayerCam(Model model, String layer) {
        super(model, layer);
    }

    @Override
    public String name() {
        return "layercam";
    }

    @Override
    protected CamCombine combine() {
        return CamCombine.LAYERCAM;
    }
}
