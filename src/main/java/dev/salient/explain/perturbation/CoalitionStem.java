package dev.salient.explain.perturbation;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.Tensor;
import dev.salient.model.Attributes;
import dev.salient.model.Graph;
import dev.salient.model.HostTensor;
import dev.salient.model.Model;
import dev.salient.model.Node;
import dev.salient.model.ops.OpRegistry;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The first conv of a model as the coalition methods evaluate it (Backend#coalitionConv): a Conv on
 * the model's image input (groups 1, dilation 1, explicit pads, constant weights and bias), then
 * the Relu or Clip that alone reads it, then the MaxPool that alone reads that (ResNet's
 * conv-relu-pool stem, MobileNet's conv-clip, VGG's conv-relu). A coalition's input is
 * b + m ⊙ (x − b) with m constant on each segment, so by the conv's linearity its output is the
 * baseline's conv plus each kept segment's share of the conv of x − b, and each evaluation costs a
 * few multiply-adds per output instead of the conv; the graph after {@link #from} runs as usual.
 *
 * @param weight the conv's weight constant (K,C,R,S)
 * @param bias its bias constant (K), or null
 * @param act null, RELU or CLIP after the conv, with {@code lo, hi} for CLIP
 * @param pool null or the max pool's (kh, kw, sh, sw, padTop, padLeft) after the activation
 * @param from the tensor the rest of the graph starts from: the pool's output, else the activation's, else the conv's
 */
public record CoalitionStem(String weight, String bias, long[] strides, long[] pads, Activation act, float lo, float hi,
        int[] pool, String from) {

    /** Whether the perturbation methods take the stem where the backend can (a switch for tests and benchmarks, which compare with the whole model). */
    public static volatile boolean enabled = true;

    /**
     * The stem as the perturbation methods may evaluate it on this backend for this batch (N,C,H,W),
     * or null: the backend has no coalition conv, the model no such first conv, or the rest of the
     * graph reads something from before the stem besides its output.
     */
    public static CoalitionStem forBatch(Model model, Backend backend, Tensor batch) {
        if (!enabled || !backend.fusesCoalitionConv() || batch.rank() != 4) return null;
        CoalitionStem st = of(model);
        if (st == null) return null;
        Conv2dGeometry g = st.geometry(model, (int) batch.dim(1), (int) batch.dim(2), (int) batch.dim(3));
        if (g == null || g.r() * g.s() > 64) return null;
        long[] one = batch.shape().clone();
        one[0] = 1;
        List<String> frontier = model.suffixInputs(one, st.from(), Set.of(model.outputs().get(0).name()));
        return frontier.size() == 1 && frontier.get(0).equals(st.from()) ? st : null;
    }

    /** The stem's output for images x (N,C,H,W): the graph up to {@link #from} run on them. The caller owns it. */
    public Tensor run(Model model, Backend b, Tensor x) {
        return model.run(b, Map.of(model.inputs().get(0).name(), x), Set.of(from)).get(from);
    }

    /** The stem of {@code model}, or null when its first op is not such a conv. */
    static CoalitionStem of(Model model) {
        Graph g = model.graph();
        if (model.inputs().size() != 1) return null;
        String in = model.inputs().get(0).name();
        List<Node> first = g.consumers(in);
        if (first.size() != 1) return null;
        Node conv = first.get(0);
        Map<String, HostTensor> consts = g.constants();
        if (!isDefault(conv, "Conv") || !conv.input(0).equals(in) || !consts.containsKey(conv.input(1))
                || (conv.hasInput(2) && !consts.containsKey(conv.input(2))))
            return null;
        Attributes a = conv.attributes();
        if (a.getInt("group", 1) != 1 || !a.getString("auto_pad", "NOTSET").equals("NOTSET") || !ones(a.getInts("dilations")))
            return null;
        HostTensor w = consts.get(conv.input(1));
        if (w.rank() != 4) return null;
        long[] strides = a.getInts("strides"), pads = a.getInts("pads");
        if (strides == null) strides = new long[] {1, 1};
        if (pads == null) pads = new long[4];
        if (strides.length != 2 || pads.length != 4) return null;
        String t = conv.outputs().get(0);
        Activation act = null;
        float lo = 0, hi = 0;
        Node next = only(g, t);
        if (next != null && isDefault(next, "Relu")) {
            act = Activation.RELU;
        } else if (next != null && isDefault(next, "Clip")) {
            float[] b = clipBounds(g, next);
            if (b == null) return null;
            act = Activation.CLIP;
            lo = b[0];
            hi = b[1];
        }
        if (act != null) {
            t = next.outputs().get(0);
            next = only(g, t);
        }
        int[] pool = null;
        if (next != null && isDefault(next, "MaxPool") && next.outputs().size() == 1) {
            Attributes p = next.attributes();
            long[] k = p.getInts("kernel_shape"), s = p.getInts("strides"), pp = p.getInts("pads");
            if (k != null && k.length == 2 && (s == null || s.length == 2) && (pp == null || pp.length == 4)
                    && p.getInt("ceil_mode", 0) == 0 && p.getString("auto_pad", "NOTSET").equals("NOTSET")
                    && ones(p.getInts("dilations"))) {
                pool = new int[] {(int) k[0], (int) k[1], s == null ? 1 : (int) s[0], s == null ? 1 : (int) s[1],
                        pp == null ? 0 : (int) pp[0], pp == null ? 0 : (int) pp[1]};
                t = next.outputs().get(0);
            }
        }
        if (g.isOutput(t)) return null;
        return new CoalitionStem(conv.input(1), conv.hasInput(2) ? conv.input(2) : null, strides, pads, act, lo, hi, pool, t);
    }

    /** The conv's geometry on one image (C,H,W); null when the weights do not take C channels. */
    public Conv2dGeometry geometry(Model model, int c, int h, int w) {
        long[] ws = model.graph().constants().get(weight).shape();
        if (ws[1] != c) return null;
        return new Conv2dGeometry(1, c, h, w, (int) ws[0], (int) ws[2], (int) ws[3], (int) strides[0], (int) strides[1],
                (int) pads[0], (int) pads[1], (int) pads[2], (int) pads[3], 1, 1, 1);
    }

    /** The pool's 8 numbers for Backend#coalitionConv: its 6, then the pooled size from the stem output's shape. */
    int[] poolOver(long[] pooledShape) {
        if (pool == null) return null;
        int[] q = java.util.Arrays.copyOf(pool, 8);
        q[6] = (int) pooledShape[2];
        q[7] = (int) pooledShape[3];
        return q;
    }

    private static boolean isDefault(Node n, String op) {
        return n.opType().equals(op) && OpRegistry.isDefaultDomain(n.domain());
    }

    /** The one node reading tensor t, or null when t has several readers (or none) or is an output. */
    private static Node only(Graph g, String t) {
        List<Node> c = g.consumers(t);
        return c.size() == 1 && !g.isOutput(t) ? c.get(0) : null;
    }

    private static boolean ones(long[] v) {
        if (v == null) return true;
        for (long x : v) if (x != 1) return false;
        return true;
    }

    /** A Clip's (min, max): attributes before opset 11, else constant inputs; null when not constant. */
    private static float[] clipBounds(Graph g, Node n) {
        if (g.opset() < 11)
            return new float[] {n.attributes().getFloat("min", Float.NEGATIVE_INFINITY),
                    n.attributes().getFloat("max", Float.POSITIVE_INFINITY)};
        float[] r = {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY};
        for (int i = 1; i <= 2; i++) {
            if (!n.hasInput(i)) continue;
            HostTensor t = g.constants().get(n.input(i));
            if (t == null || dev.salient.engine.Shapes.numel(t.shape()) != 1) return null;
            r[i - 1] = (float) t.get(0);
        }
        return r;
    }

}
