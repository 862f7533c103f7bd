package dev.salient.explain.cam;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
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
    /** The exponent p: a positive integer (the paper uses 1, 2 and 4). */
    public static final MethodOption<Integer> POWER = MethodOption.intAtLeast("--power", "P", 2, 1,
            "attention: the exponent p of sum_c |A_c|^p, an integer >= 1 (default: 2).");
    public static final MethodSpec SPEC = MethodSpec.cam("attention",
            "`sum_c abs(A_c)^p` (Zagoruyko & Komodakis 2017), class-agnostic", SpatialAttention::new).withOptions(POWER);

    private final int power;

    public SpatialAttention(Model model, String layer, int power) {
        super(model, layer);
        this.power = POWER.parse(Integer.toString(power));
    }

    public SpatialAttention(Model model, MethodOptions o) {
        super(model, o);
        this.power = o.get(POWER);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected boolean usesGradient() {
        return false;
    }

    @Override
    protected Tensor combine(Backend b, Tensor a, Tensor g) {
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
