package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.CamWeighting;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
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
    public static final MethodSpec SPEC = MethodSpec.cam("gradcam++", "eq. 19 of arXiv:1710.11063, eps 1e-6", GradCamPlusPlus::new).withOptions(COUNTERFACTUAL);

    public GradCamPlusPlus(Model model, String layer) {
        super(model, layer);
    }

    public GradCamPlusPlus(Model model, MethodOptions o) {
        super(model, o);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected Tensor channelWeights(Backend b, Tensor a, Tensor g) {
        Tensor w = b.allocate(a.dim(0), a.dim(1));
        try {
            b.gradcamWeights(CamWeighting.GRADCAM_PLUS_PLUS, a, g, w);
            return w;
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
    }
}
