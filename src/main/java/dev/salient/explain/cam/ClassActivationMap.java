package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.Reduction;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.model.HostTensor;
import dev.salient.model.Model;
import dev.salient.model.Node;
import java.util.List;
import java.util.Set;

/**
 * The original CAM (Zhou et al. 2016, arXiv:1512.04150): the channel weights are the
 * classifier's row of the target class, w_k = W[t,k], read from the graph's head
 * GlobalAveragePool -> (Flatten) -> Gemm/MatMul that turns the layer into the logits. No
 * weight is read from the gradient of anything but that head. Then the CAM pipeline: ReLU, min-max, bilinear resize, min-max.
 * For such a head CAM equals Grad-CAM up to the positive factor h·w.
 * <pre>{@code
 * Attribution a = new ClassActivationMap(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class ClassActivationMap extends BaseCam {
    public static final MethodSpec SPEC = MethodSpec.cam("cam",
            "`w_k = W[t,k]`, the classifier row of the head GlobalAveragePool -> (Flatten) -> Gemm found in the graph "
                    + "(Zhou et al. 2016); other heads are refused", ClassActivationMap::new);
    private static final Set<String> PASS = Set.of("Flatten", "Reshape", "Squeeze", "Identity", "Dropout");

    public ClassActivationMap(Model model, String layer) {
        super(model, layer);
    }

    public ClassActivationMap(Model model, MethodOptions o) {
        super(model, o);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    /** The classifier weights as (classes, K): row c weighs the layer's K channels for class c. */
    record Head(float[] weights, int classes, int channels) {}

    /** Finds GlobalAveragePool -> (Flatten|Reshape|Squeeze)* -> Gemm|MatMul -> the logits after {@code tensor}. */
    Head head(String tensor, long channels) {
        var g = model.graph();
        String t = tensor;
        Node n = only(g.consumers(t), tensor);
        if (!n.opType().equals("GlobalAveragePool")) throw notHead(tensor, n);
        t = n.outputs().get(0);
        n = only(g.consumers(t), tensor);
        while (PASS.contains(n.opType())) {
            t = n.outputs().get(0);
            n = only(g.consumers(t), tensor);
        }
        boolean gemm = n.opType().equals("Gemm"), matmul = n.opType().equals("MatMul");
        if (!(gemm || matmul) || !n.input(0).equals(t)) throw notHead(tensor, n);
        if (!n.outputs().get(0).equals(model.outputs().get(0).name()))
            throw new SalientException("cam needs the Gemm after GlobalAveragePool to give the logits, but '" + n.name()
                    + "' feeds " + g.consumers(n.outputs().get(0)).stream().map(Node::opType).toList()
                    + " (use gradcam, which needs no such head)");
        HostTensor b = g.constants().get(n.input(1));
        if (b == null || b.rank() != 2)
            throw new SalientException("cam needs a constant 2-D classifier weight, but '" + n.name() + "' multiplies by '"
                    + n.input(1) + "'");
        boolean transB = gemm && n.attributes().getInt("transB", 0) != 0;
        if (gemm && n.attributes().getInt("transA", 0) != 0) throw notHead(tensor, n);
        float alpha = gemm ? n.attributes().getFloat("alpha", 1f) : 1f;
        int rows = (int) b.shape()[0], cols = (int) b.shape()[1];
        int k = transB ? cols : rows, classes = transB ? rows : cols;
        if (k != channels)
            throw new SalientException("cam: the classifier '" + n.name() + "' takes " + k + " features but layer '" + tensor
                    + "' has " + channels + " channels");
        float[] src = b.floats(), w = new float[classes * k];
        for (int c = 0; c < classes; c++)
            for (int j = 0; j < k; j++) w[c * k + j] = alpha * (transB ? src[c * cols + j] : src[j * cols + c]);
        return new Head(w, classes, k);
    }

    private static Node only(List<Node> consumers, String tensor) {
        if (consumers.size() != 1)
            throw new SalientException("cam needs the layer to feed GlobalAveragePool -> (Flatten) -> Gemm -> logits only, but a "
                    + "tensor after '" + tensor + "' has " + consumers.size() + " consumers (use gradcam, which needs no such head)");
        return consumers.get(0);
    }

    private static SalientException notHead(String tensor, Node n) {
        return new SalientException("cam needs the layer to feed GlobalAveragePool -> (Flatten) -> Gemm -> logits, but after '"
                + tensor + "' comes " + n.opType() + " '" + n.name() + "' (use gradcam, which needs no such head)");
    }

    @Override
    protected void checkLayer(String tensor, long[] layerShape) {
        head(tensor, layerShape[1]);
    }

    /**
     * w_k = sum_hw G_k: through the head that {@link #checkLayer} verified (GlobalAveragePool,
     * then the Gemm), the target logit's gradient is W[t,k]/(h·w) at every position, so the sum
     * is the classifier row W[t,k] (to float rounding) for each row's own target class. The
     * backward walks only the head.
     */
    @Override
    protected Tensor channelWeights(Backend b, Tensor a, Tensor g) {
        long n = a.dim(0), k = a.dim(1);
        Tensor w = b.allocate(n, k);
        try {
            b.reduceRows(Reduction.SUM, TensorViews.reshaped(g, n * k, a.dim(2) * a.dim(3)), TensorViews.reshaped(w, n * k));
            return w;
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
    }
}
