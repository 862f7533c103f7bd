package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.CamCombine;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.Layers;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The CAM family as pytorch-grad-cam computes it. This base captures the layer's
 * activation A (N,K,h,w) and the gradient G of the target logit with respect to
 * it (the backward walks only from the output to the layer), forms the channel
 * combination, then ReLU, per-image min-max, bilinear resize to the input size
 * (half-pixel centres) and min-max again. Output (rows, H, W) in [0,1].
 * Subclasses give the channel weights ({@link #channelWeights}) or the whole
 * combination ({@link #combine}); a method that finishes differently overrides
 * {@link #finishMap}.
 */
public abstract class BaseCam extends Explainer {
    /**
     * Counterfactual maps (Grad-CAM paper, arXiv:1610.02391 section 5.2): the gradients are
     * negated before the channel weights are formed, so the map shows what argues against
     * the class. Listed by every gradient-weighted CAM's spec.
     */
    public static final MethodOption<Boolean> COUNTERFACTUAL = MethodOption.of("--counterfactual", "true|false", false, s -> {
        if (s.isEmpty() || s.equals("true")) return true;
        if (s.equals("false")) return false;
        throw new SalientException("--counterfactual takes no value (or true/false), got '" + s + "'");
    }, "Negate the gradients: map what argues against the class (default: false).");

    protected final String layer;
    private boolean counterfactual;

    /** @param layer an ONNX tensor name, a node name, or "auto" (the last 4-D activation before pooling) */
    protected BaseCam(Model model, String layer) {
        super(model);
        this.layer = layer == null ? "auto" : layer;
    }

    /** From spec options: {@link MethodOption#LAYER}. */
    protected BaseCam(Model model, MethodOptions o) {
        this(model, o.get(MethodOption.LAYER));
        this.counterfactual = o.get(COUNTERFACTUAL);
    }

    /** Whether the gradients are negated ({@link #COUNTERFACTUAL}). */
    public boolean counterfactual() {
        return counterfactual;
    }

    /**
     * Checks, before any work, that the method can explain through {@code tensor} (layer shape
     * (N,K,h,w)); throws one clear line otherwise. Nothing to check by default.
     */
    protected void checkLayer(String tensor, long[] layerShape) {}

    /** The graph tensor this explainer reads for an input of the given shape. */
    public String layerTensor(long[] inputShape) {
        return Layers.resolve(model, layer, inputShape);
    }

    /** Whether the combination reads the gradient (false for gradient-free CAMs: no backward pass is run). */
    protected boolean usesGradient() {
        return true;
    }

    /**
     * The channel weights w (N,K) from A and G (both (N,K,h,w); G is null when
     * {@link #usesGradient()} is false). The caller owns the result.
     */
    protected Tensor channelWeights(Backend b, Tensor a, Tensor g) {
        throw new UnsupportedOperationException(name() + " overrides neither channelWeights nor combine");
    }

    /** The raw map (N,h,w) before ReLU and normalisation; by default Σ_k w_k A_k. The caller owns it. */
    protected Tensor combine(Backend b, Tensor a, Tensor g) {
        int n = (int) a.dim(0);
        Tensor cam = b.allocate(n, a.dim(2), a.dim(3));
        try (Tensor w = channelWeights(b, a, g)) {
            b.camCombine(CamCombine.WEIGHTED, a, w, cam);
            return cam;
        } catch (RuntimeException e) {
            cam.close();
            throw e;
        }
    }

    /**
     * The output map (N,H,W) from the raw map (N,h,w), which it may overwrite:
     * pytorch-grad-cam's ReLU, min-max, bilinear resize and min-max.
     */
    protected Tensor finishMap(Backend b, Tensor raw, long[] inputShape) {
        Tensor out = b.allocate(raw.dim(0), inputShape[2], inputShape[3]);
        try {
            b.camFinish(raw, out);
            return out;
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        if (batch.rank() != 4) return new Maps("", batch.shape());
        String tensor = layerTensor(batch.shape());
        Layers.require4d(model, tensor, batch.shape(), name());
        checkLayer(tensor, model.plan(Map.of(inputName(), batch.shape()), Set.of(model.outputs().get(0).name())).shape(tensor));
        return new Maps(tensor, batch.shape());
    }

    private final class Maps implements Expansion {
        private final String tensor;
        private final long[] inputShape;

        Maps(String tensor, long[] inputShape) {
            this.tensor = tensor;
            this.inputShape = inputShape;
        }

        @Override
        public Set<String> wrt() {
            return Set.of(tensor);
        }

        @Override
        public List<Pass> passes() {
            return usesGradient() ? Expansion.super.passes() : List.of();
        }

        @Override
        public long[] rowShape(long[] shape) {
            return new long[] {shape[2], shape[3]};
        }

        @Override
        public Chunk begin(Backend b, Tensor x, int firstImage) {
            return new Chunk() {
                @Override
                public Tensor accumulate(Backend bb, Tape tape, List<Map<String, Tensor>> grads, int s0, int count, Tensor acc) {
                    Tensor g = grads.isEmpty() ? null : grads.get(0).get(tensor);
                    if (g != null && counterfactual) bb.axpby(0f, g, -1f, g);
                    return combine(bb, tape.value(tensor), g);
                }

                @Override
                public Tensor finish(Backend bb, Tensor acc) {
                    return finishMap(bb, acc, inputShape);
                }
            };
        }
    }
}
