package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.CamCombine;
import dev.salient.engine.CamWeighting;
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
 * combination ({@link #combine}) in Java, composed from Backend primitives, as
 * pytorch-grad-cam writes {@code get_cam_weights} in numpy; a fused kernel may
 * replace either ({@link #fusedWeights}, {@link #fusedCombine}) and is then
 * compared with it by a test. A method that finishes differently overrides
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
     * {@link #usesGradient()} is false), composed from Backend primitives: the
     * method's definition. The caller owns the result.
     */
    protected Tensor channelWeights(Backend b, Tensor a, Tensor g) {
        throw new UnsupportedOperationException(name() + " overrides neither channelWeights nor combine");
    }

    /**
     * A fused kernel that computes {@link #channelWeights} in one pass, or null. When set it
     * replaces the composed path; {@code CamFusedKernelTest} compares the two for every CAM
     * method of {@link dev.salient.explain.Methods}.
     */
    protected CamWeighting fusedWeights() {
        return null;
    }

    /** A fused kernel that computes {@link #combine} in one pass, or null (checked like {@link #fusedWeights}). */
    protected CamCombine fusedCombine() {
        return null;
    }

    /**
     * The raw map (N,h,w) before ReLU and normalisation, composed from primitives; by
     * default the weighted channel sum Σ_k w_k A_k. The caller owns it.
     */
    protected Tensor combine(Backend b, Tensor a, Tensor g) {
        try (Tensor w = weights(b, a, g)) {
            return weightedChannelSum(b, a, w);
        }
    }

    /** The channel weights: the fused kernel when there is one, else {@link #channelWeights}. */
    public final Tensor weights(Backend b, Tensor a, Tensor g) {
        CamWeighting f = fusedWeights();
        if (f == null) return channelWeights(b, a, g);
        Tensor w = b.allocate(a.dim(0), a.dim(1));
        try {
            b.gradcamWeights(f, a, g, w);
            return w;
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
    }

    /** The raw map: the fused kernel when there is one, else {@link #combine}. */
    public final Tensor rawMap(Backend b, Tensor a, Tensor g) {
        CamCombine f = fusedCombine();
        if (f == null) return combine(b, a, g);
        Tensor cam = b.allocate(a.dim(0), a.dim(2), a.dim(3));
        try {
            b.camCombine(f, a, g, cam);
            return cam;
        } catch (RuntimeException e) {
            cam.close();
            throw e;
        }
    }

    /** Σ_k w_k A_k: (N,h,w) from A (N,K,h,w) and w (N,K), by the fused weighted-sum kernel. */
    protected static Tensor weightedChannelSum(Backend b, Tensor a, Tensor w) {
        Tensor cam = b.allocate(a.dim(0), a.dim(2), a.dim(3));
        try {
            b.camCombine(CamCombine.WEIGHTED, a, w, cam);
            return cam;
        } catch (RuntimeException e) {
            cam.close();
            throw e;
        }
    }

    /** Σ_k M_k: (N,h,w) from M (N,K,h,w), the channel sum by reduceSumTo. */
    protected static Tensor channelSum(Backend b, Tensor m) {
        Tensor cam = b.allocate(m.dim(0), m.dim(2), m.dim(3));
        try {
            b.reduceSumTo(m, dev.salient.model.ops.TensorViews.view(cam, m.dim(0), 1, m.dim(2), m.dim(3)));
            return cam;
        } catch (RuntimeException e) {
            cam.close();
            throw e;
        }
    }

    /** Per (image, channel) reduction over the plane: (N,K) from (N,K,h,w). */
    protected static Tensor planeReduce(Backend b, dev.salient.engine.Reduction op, Tensor m) {
        Tensor w = b.allocate(m.dim(0), m.dim(1));
        try {
            b.reduceRows(op, m, w);
            return w;
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
    }

    /**
     * The output map (N,H,W) from the raw map (N,h,w), which it may overwrite:
     * pytorch-grad-cam's ReLU, min-max, bilinear resize and min-max.
     */
    protected Tensor finishMap(Backend b, Tensor raw, long[] inputShape) {
        return finishImages(b, raw, inputShape);
    }

    /** The finish of {@link #finishMap}: ReLU, min-max, bilinear resize to the input's (H,W), min-max. */
    static Tensor finishImages(Backend b, Tensor raw, long[] inputShape) {
        Tensor out = b.allocate(raw.dim(0), inputShape[2], inputShape[3]);
        try {
            b.camFinish(raw, out);
            return out;
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
    }

    /**
     * The output maps (N,D,H,W) of a volume from the raw maps (N,d,h,w), which it overwrites:
     * the finish of {@link #finishMap} in 3-D, ReLU, min-max per image, trilinear resize with
     * half-voxel centres (torch's align_corners=False), min-max. The trilinear resize runs as
     * its two separable passes on the bilinear primitive: (h,w) per depth slice, then depth
     * (a bilinear resize whose width is unchanged is the identity along it).
     */
    protected static Tensor finishVolume(Backend b, Tensor raw, long[] inputShape) {
        long n = raw.dim(0), d = raw.dim(1), h = raw.dim(2), w = raw.dim(3);
        long od = inputShape[2], oh = inputShape[3], ow = inputShape[4];
        b.activationForward(dev.salient.engine.Activation.RELU, raw, raw, 0f, 0f);
        PlaneMinMax.apply(b, TensorViews.reshaped(raw, n, 1, d * h, w));
        Tensor out = b.allocate(n, od, oh, ow);
        try (Tensor planes = b.allocate(n, d, oh, ow)) {
            b.bilinearResize(raw, planes);
            b.bilinearResize(TensorViews.reshaped(planes, n, 1, d, oh * ow), TensorViews.reshaped(out, n, 1, od, oh * ow));
            PlaneMinMax.apply(b, TensorViews.reshaped(out, n, 1, od * oh, ow));
            return out;
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        if (batch.rank() != 4 && batch.rank() != 5) return new Maps("", batch.shape(), null);
        String tensor = layerTensor(batch.shape());
        Layers.requireSpatial(model, tensor, batch.shape(), name());
        long[] layerShape = model.plan(Map.of(inputName(), batch.shape()), Set.of(model.outputs().get(0).name())).shape(tensor);
        checkLayer(tensor, layerShape);
        return new Maps(tensor, batch.shape(), layerShape);
    }

    /** A volume's layer (N,K,d,h,w) seen as (N,K,d*h,w): the channel weights and combinations reduce over the whole map. */
    private static Tensor flat(Tensor t) {
        if (t == null || t.rank() != 5) return t;
        return TensorViews.reshaped(t, t.dim(0), t.dim(1), t.dim(2) * t.dim(3), t.dim(4));
    }

    private final class Maps implements Expansion {
        private final String tensor;
        private final long[] inputShape, layerShape;

        Maps(String tensor, long[] inputShape, long[] layerShape) {
            this.tensor = tensor;
            this.inputShape = inputShape;
            this.layerShape = layerShape;
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
            return java.util.Arrays.copyOfRange(shape, 2, shape.length);
        }

        @Override
        public Chunk begin(Backend b, Tensor x, int firstImage) {
            return new Chunk() {
                @Override
                public Tensor accumulate(Backend bb, Tape tape, List<Map<String, Tensor>> grads, int s0, int count, Tensor acc) {
                    Tensor g = grads.isEmpty() ? null : grads.get(0).get(tensor);
                    if (g != null && counterfactual) bb.axpby(0f, g, -1f, g);
                    return rawMap(bb, flat(tape.value(tensor)), flat(g));
                }

                @Override
                public Tensor finish(Backend bb, Tensor acc) {
                    if (inputShape.length == 5)
                        return finishVolume(bb, TensorViews.reshaped(acc, acc.dim(0), layerShape[2], layerShape[3],
                                layerShape[4]), inputShape);
                    return finishMap(bb, acc, inputShape);
                }
            };
        }
    }
}
