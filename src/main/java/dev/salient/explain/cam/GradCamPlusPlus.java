package dev.salient.explain.cam;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.CamWeighting;
import dev.salient.engine.Reduction;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.model.Model;
import dev.salient.model.ops.TensorViews;

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
    public static final MethodSpec SPEC = MethodSpec.cam("gradcam++", "eq. 19 of arXiv:1710.11063, eps 1e-6", GradCamPlusPlus::new).withOptions(COUNTERFACTUAL).withVolumes();

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

    /**
     * Definition, as pytorch-grad-cam: a = g² / (2g² + Σ_hw A · g³ + 1e-6), w = Σ_hw relu(g) · a
     * (its np.where(g != 0) is implied: a is 0 where g is).
     */
    @Override
    protected Tensor channelWeights(Backend b, Tensor a, Tensor g) {
        long n = a.dim(0), k = a.dim(1);
        try (Tensor g2 = b.allocate(g.shape()); Tensor t = b.allocate(g.shape()); Tensor sumA = planeReduce(b, Reduction.SUM, a);
                Tensor eps = b.upload(new float[] {1e-6f}, 1)) {
            b.binary(BinaryOp.MUL, g, g, g2);
            b.binary(BinaryOp.MUL, g2, g, t);
            b.binary(BinaryOp.MUL, t, TensorViews.view(sumA, n, k, 1, 1), t);
            b.axpby(2f, g2, 1f, t);
            b.binary(BinaryOp.ADD, t, eps, t);
            b.binary(BinaryOp.DIV, g2, t, g2);
            b.activationForward(Activation.RELU, g, t, 0, 0);
            b.binary(BinaryOp.MUL, t, g2, t);
            return planeReduce(b, Reduction.SUM, t);
        }
    }

    @Override
    protected CamWeighting fusedWeights() {
        return CamWeighting.GRADCAM_PLUS_PLUS;
    }
}
