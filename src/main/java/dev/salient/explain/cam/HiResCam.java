package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.CamCombine;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
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
    public static final MethodSpec SPEC = MethodSpec.cam("hirescam", "`sum_k G_k A_k`", HiResCam::new).withOptions(COUNTERFACTUAL).withVolumes();

    public HiResCam(Model model, String layer) {
        super(model, layer);
    }

    public HiResCam(Model model, MethodOptions o) {
        super(model, o);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    /** Definition: Σ_k G_k·A_k. */
    @Override
    protected Tensor combine(Backend b, Tensor a, Tensor g) {
        try (Tensor t = b.allocate(g.shape())) {
            b.binary(BinaryOp.MUL, g, a, t);
            return channelSum(b, t);
        }
    }

    @Override
    protected CamCombine fusedCombine() {
        return CamCombine.HIRESCAM;
    }
}
