package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.CamWeighting;
import dev.salient.engine.Reduction;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
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
    public static final MethodSpec SPEC = MethodSpec.cam("xgradcam", "`w_k = sum_hw G A / (sum_hw A + 1e-7)`", XGradCam::new).withOptions(COUNTERFACTUAL).withVolumes();

    public XGradCam(Model model, String layer) {
        super(model, layer);
    }

    public XGradCam(Model model, MethodOptions o) {
        super(model, o);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    /** Definition: w = Σ_hw G·A / (Σ_hw A + 1e-7). */
    @Override
    protected Tensor channelWeights(Backend b, Tensor a, Tensor g) {
        try (Tensor t = b.allocate(g.shape()); Tensor den = planeReduce(b, Reduction.SUM, a);
                Tensor eps = b.upload(new float[] {1e-7f}, 1)) {
            b.binary(BinaryOp.MUL, g, a, t);
            Tensor num = planeReduce(b, Reduction.SUM, t);
            b.binary(BinaryOp.ADD, den, eps, den);
            b.binary(BinaryOp.DIV, num, den, num);
            return num;
        }
    }

    @Override
    protected CamWeighting fusedWeights() {
        return CamWeighting.XGRADCAM;
    }
}
