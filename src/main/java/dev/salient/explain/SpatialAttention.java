package dev.salient.explain;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;

/**
 * Activation-based spatial attention (Zagoruyko and Komodakis 2017, arXiv:1612.03928):
 * cam = sum_c |A_c|^p with p = 2 by default, through the CAM pipeline (ReLU, min-max,
 * bilinear resize, min-max). Class-agnostic: every target of an image gets the same map.
 * Any 4-D tensor works as the layer, including a model's own attention gates (the
 * Sigmoid output feeding a Mul in SE or CBAM blocks), named by their tensor.
 * <pre>{@code
 * Attribution a = new SpatialAttention(model, "auto", 2).explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class SpatialAttention extends BaseCam {
    public static final int DEFAULT_POWER = 2;
    private final int power;

    /** @param power the exponent p, a positive integer (1, 2 and 4 are the paper's) */
    public SpatialAttention(Model model, String layer, int power) {
        super(model, layer);
        if (power < 1) throw new SalientException("attention needs --power >= 1 (an integer), got " + power);
        this.power = power;
    }

    @Override
    public String name() {
        return "attention";
    }

    @Override
    protected boolean usesGradients() {
        return false;
    }

    @Override
    protected Tensor rawCam(Backend b, Tensor a, Tensor g) {
        long n = a.dim(0), h = a.dim(2), w = a.dim(3);
        Tensor cam = b.allocate(n, h, w);
        try (Tensor abs = b.allocate(a.shape()); Tensor p = power > 1 ? b.allocate(a.shape()) : null) {
            b.activationForward(Activation.ABS, a, abs, 0f, 0f);
            Tensor acc = abs;
            if (p != null) {
                b.copy(abs, p);
                for (int i = 1; i < power; i++) b.binary(BinaryOp.MUL, p, abs, p);
                acc = p;
            }
            b.reduceSumTo(acc, TensorViews.reshaped(cam, n, 1, h, w));
            return cam;
        } catch (RuntimeException e) {
            cam.close();
            throw e;
        }
    }
}
