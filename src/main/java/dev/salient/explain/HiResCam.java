package dev.salient.explain;

import dev.salient.engine.CamCombine;
import dev.salient.model.Model;

/**
 * HiResCAM (Draelos and Carin 2020, arXiv:2011.08891): cam = sum_k G_k·A_k, elementwise.
 * Output (rows, H, W) in [0,1], as pytorch-grad-cam's HiResCAM.
 * <pre>{@code
 * Attribution a = new HiResCam(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * float[] heat = a.row(0);   // (H,W), values in [0,1]
 * }</pre>
 */
public final class HiResCam extends BaseCam {
    public HiResCam(Model model, String layer) {
        super(model, layer);
    }

    @Override
    public String name() {
        return "hirescam";
    }

    @Override
    protected CamCombine combine() {
        return CamCombine.HIRESCAM;
    }
}
