package dev.salient.model;

import dev.salient.engine.SalientException;
import dev.salient.model.ops.Op;
import dev.salient.model.ops.OpContext;
import dev.salient.model.ops.OpRegistry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Load-time rewriting of a freshly read graph:
 * <ol>
 * <li>constants: Constant nodes and every node whose inputs are all constants
 * and that folds on the host (shape arithmetic) become constants;
 * <li>Identity, inference Dropout and all-zero Pad are removed (their consumers read the input);
 * <li>a zero Pad of the spatial axes feeding only a Conv (or an AveragePool
 * counting pads) becomes that op's pads;
 * <li>BatchNormalization is folded into the preceding Conv when that Conv's
 * output feeds nothing else, otherwise it becomes a per-channel affine node;
 * <li>nodes and constants that no output depends on are dropped.
 * </ol>
 * Shape subgraphs that depend on input shapes fold later, per plan (see {@link Planner}).
 */
final class GraphRewriter {
    private GraphRewriter() {}

    static Graph rewrite(Graph g) {
        g = foldConstants(g);
        g = removeIdentities(g);
        g = foldPads(g);
        g = foldBatchNorms(g);
        return prune(g);
    }

    static HostTensor[] known(Node n, Map<String, HostTensor> consts) {
        HostTensor[] k = new HostTensor[n.inputs().size()];
        for (int i = 0; i < k.length; i++) k[i] = n.hasInput(i) ? consts.get(n.input(i)) : null;
        return k;
    }

    static Graph foldConstants(Graph g) {
        Map<String, HostTensor> consts = new LinkedHashMap<>(g.constants());
        List<Node> kept = new ArrayList<>();
        for (Node n : g.nodes()) {
            HostTensor[] k = known(n, consts);
            boolean all = true;
            for (int i = 0; i < k.length; i++) all &= !n.hasInput(i) || k[i] != null;
            if (all && !n.opType().equals("BatchNormalization") && OpRegistry.isDefaultDomain(n.domain())) {
                Op op = OpRegistry.create(new OpContext(n, g.opset(), k));
                HostTensor[] out = op.fold(k);
                if (out != null) {
                    for (int i = 0; i < out.length && i < n.outputs().size(); i++)
                        if (!n.outputs().get(i).isEmpty()) consts.put(n.outputs().get(i), out[i]);
                    continue;
                }
            }
            kept.add(n);
        }
        return new Graph(kept, g.inputs(), g.outputs(), consts, g.opset(), g.aliases());
    }

    private static boolean used(Graph g, String tensor) {
        return !tensor.isEmpty() && (!g.consumers(tensor).isEmpty() || g.isOutput(tensor));
    }

    static Graph removeIdentities(Graph g) {
        Map<String, String> alias = new HashMap<>();
        List<Node> kept = new ArrayList<>();
        for (Node n : g.nodes()) {
            boolean removable = (n.opType().equals("Identity") || n.opType().equals("Dropout")
                    || (n.opType().equals("Pad") && zeroPad(n, g)))
                    && OpRegistry.isDefaultDomain(n.domain()) && !g.isOutput(n.outputs().get(0));
            if (n.opType().equals("Dropout")) {
                // validates training_mode / is_test, and rejects a used mask output
                OpRegistry.create(new OpContext(n, g.opset(), known(n, g.constants())));
                if (n.outputs().size() > 1 && used(g, n.outputs().get(1)))
                    throw new SalientException("Dropout node '" + n.name() + "': the mask output is not supported");
            }
            Node r = renamed(n, alias);
            if (removable) alias.put(n.outputs().get(0), r.input(0));
            else kept.add(r);
        }
        Map<String, String> all = new HashMap<>(g.aliases());
        all.putAll(alias);
        return new Graph(kept, g.inputs(), g.outputs(), g.constants(), g.opset(), all);
    }

    /** A Pad whose pads are constant and all zero. */
    private static boolean zeroPad(Node n, Graph g) {
        HostTensor[] k = known(n, g.constants());
        if (g.opset() >= 11 && (k.length < 2 || k[1] == null)) return false;
        return dev.salient.model.ops.PadOp.isNoOp(new OpContext(n, g.opset(), k));
    }

    private static Node renamed(Node n, Map<String, String> alias) {
        if (alias.isEmpty()) return n;
        List<String> in = new ArrayList<>();
        boolean changed = false;
        for (String s : n.inputs()) {
            String a = alias.getOrDefault(s, s);
            changed |= !a.equals(s);
            in.add(a);
        }
        return changed ? new Node(n.name(), n.opType(), n.domain(), in, n.outputs(), n.attributes()) : n;
    }

    private static String fresh(Map<String, HostTensor> consts, Set<String> taken, String base) {
        String s = base;
        int i = 1;
        while (consts.containsKey(s) || taken.contains(s)) s = base + "_" + i++;
        return s;
    }

    static Graph foldPads(Graph g) {
        Map<Node, Node> replace = new HashMap<>();
        Set<Node> drop = new HashSet<>();
        for (Node pad : g.nodes()) {
            if (!pad.opType().equals("Pad") || !OpRegistry.isDefaultDomain(pad.domain())) continue;
            String out = pad.outputs().get(0);
            List<Node> users = g.consumers(out);
            if (users.size() != 1 || g.isOutput(out)) continue;
            Node c = users.get(0);
            boolean conv = c.opType().equals("Conv"), avg = c.opType().equals("AveragePool");
            if (!(conv || avg) || !OpRegistry.isDefaultDomain(c.domain()) || !c.input(0).equals(out) || replace.containsKey(c)) continue;
            if (!c.attributes().getString("auto_pad", "NOTSET").equals("NOTSET")) continue;
            if (avg && (c.attributes().getInt("count_include_pad", 0) == 0 || c.attributes().getInt("ceil_mode", 0) != 0)) continue;
            HostTensor[] k = known(pad, g.constants());
            if (g.opset() >= 11 && (k.length < 2 || k[1] == null || (k.length > 2 && pad.hasInput(2) && k[2] == null))) continue;
            long[] extra = dev.salient.model.ops.PadOp.spatialZeroPads(new OpContext(pad, g.opset(), k));
            if (extra == null) continue;
            long[] pads = c.attributes().getInts("pads");
            if (pads == null) pads = new long[extra.length];
            if (pads.length != extra.length) continue;
            long[] merged = new long[pads.length];
            for (int i = 0; i < pads.length; i++) merged[i] = pads[i] + extra[i];
            List<dev.salient.onnx.proto.Onnx.AttributeProto> attrs = new ArrayList<>();
            for (var a : c.attributes().protos().values()) if (!a.getName().equals("pads")) attrs.add(a);
            var pa = dev.salient.onnx.proto.Onnx.AttributeProto.newBuilder().setName("pads")
                    .setType(dev.salient.onnx.proto.Onnx.AttributeProto.AttributeType.INTS);
            for (long v : merged) pa.addInts(v);
            attrs.add(pa.build());
            List<String> ins = new ArrayList<>(c.inputs());
            ins.set(0, pad.input(0));
            replace.put(c, new Node(c.name(), c.opType(), c.domain(), ins, c.outputs(), new Attributes(c.name(), attrs)));
            drop.add(pad);
        }
        if (replace.isEmpty()) return g;
        List<Node> out = new ArrayList<>();
        for (Node n : g.nodes()) if (!drop.contains(n)) out.add(replace.getOrDefault(n, n));
        return new Graph(out, g.inputs(), g.outputs(), g.constants(), g.opset(), g.aliases());
    }

    static Graph foldBatchNorms(Graph g) {
        Map<String, HostTensor> consts = new LinkedHashMap<>(g.constants());
        Set<String> taken = g.tensorNames();
        Map<Node, Node> replace = new HashMap<>();
        Set<Node> drop = new HashSet<>();
        for (Node n : g.nodes()) {
            if (!n.opType().equals("BatchNormalization") || !OpRegistry.isDefaultDomain(n.domain())) continue;
            String err = "BatchNormalization node '" + n.name() + "': ";
            if (n.attributes().getInt("training_mode", 0) != 0) throw new SalientException(err + "training_mode=1 is not supported");
            if (g.opset() < 9 && n.attributes().getInt("spatial", 1) == 0) throw new SalientException(err + "spatial=0 is not supported");
            for (int i = 1; i < n.outputs().size(); i++)
                if (used(g, n.outputs().get(i))) throw new SalientException(err + "training outputs (running mean/var) are not supported");
            HostTensor[] p = new HostTensor[4];
            for (int i = 0; i < 4; i++) {
                p[i] = n.hasInput(i + 1) ? consts.get(n.input(i + 1)) : null;
                if (p[i] == null) throw new SalientException(err + "scale, B, mean and var must be constants");
            }
            int c = p[0].numel();
            for (HostTensor t : p)
                if (t.numel() != c || t.rank() != 1) throw new SalientException(err + "parameters must be 1-D of equal length");
            double eps = n.attributes().getFloat("epsilon", 1e-5f);
            float[] gamma = p[0].floats(), beta = p[1].floats(), mean = p[2].floats(), var = p[3].floats();
            double[] scale = new double[c], shift = new double[c];
            for (int k = 0; k < c; k++) {
                scale[k] = gamma[k] / Math.sqrt(var[k] + eps);
                shift[k] = beta[k] - mean[k] * scale[k];
            }
            Node conv = g.producer(n.input(0));
            if (conv != null && conv.opType().equals("Conv") && OpRegistry.isDefaultDomain(conv.domain()) && !drop.contains(conv)
                    && !replace.containsKey(conv) && g.consumers(conv.outputs().get(0)).size() == 1
                    && !g.isOutput(conv.outputs().get(0)) && consts.containsKey(conv.input(1))
                    && (!conv.hasInput(2) || consts.containsKey(conv.input(2)))
                    && consts.get(conv.input(1)).shape()[0] == c) {
                HostTensor w = consts.get(conv.input(1));
                int per = w.numel() / c;
                HostTensor wFolded;
                if (w.isOffHeap()) { // written straight off the heap, as the weights it replaces
                    java.nio.FloatBuffer src = w.floatBuffer();
                    wFolded = HostTensor.offHeapFloats(w.shape(), b -> {
                        java.nio.FloatBuffer o = b.asFloatBuffer();
                        for (int k = 0; k < c; k++)
                            for (int j = 0; j < per; j++) o.put(k * per + j, (float) (src.get(k * per + j) * scale[k]));
                    });
                } else {
                    float[] wf = w.floats().clone();
                    for (int k = 0; k < c; k++) for (int j = 0; j < per; j++) wf[k * per + j] = (float) (wf[k * per + j] * scale[k]);
                    wFolded = HostTensor.ofFloats(wf, w.shape());
                }
                float[] bf = new float[c];
                float[] b0 = conv.hasInput(2) ? consts.get(conv.input(2)).floats() : null;
                for (int k = 0; k < c; k++) bf[k] = (float) ((b0 == null ? 0 : b0[k]) * scale[k] + shift[k]);
                String wn = fresh(consts, taken, conv.input(1) + "/bn_folded"), bn = fresh(consts, taken, n.name() + "/bn_folded_bias");
                consts.put(wn, wFolded);
                consts.put(bn, HostTensor.ofFloats(bf, c));
                drop.add(conv);
                replace.put(n, new Node(conv.name(), "Conv", conv.domain(), List.of(conv.input(0), wn, bn),
                        List.of(n.outputs().get(0)), conv.attributes()));
            } else {
                float[] sf = new float[c], hf = new float[c];
                for (int k = 0; k < c; k++) {
                    sf[k] = (float) scale[k];
                    hf[k] = (float) shift[k];
                }
                String sn = fresh(consts, taken, n.name() + "/scale"), hn = fresh(consts, taken, n.name() + "/shift");
                consts.put(sn, HostTensor.ofFloats(sf, c));
                consts.put(hn, HostTensor.ofFloats(hf, c));
                replace.put(n, new Node(n.name(), "ChannelAffine", OpRegistry.INTERNAL_DOMAIN, List.of(n.input(0), sn, hn),
                        List.of(n.outputs().get(0)), n.attributes()));
            }
        }
        if (replace.isEmpty()) return g;
        List<Node> out = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (drop.contains(n)) continue;
            out.add(replace.getOrDefault(n, n));
        }
        return new Graph(out, g.inputs(), g.outputs(), consts, g.opset(), g.aliases());
    }

    /** Drops nodes no output depends on, and unused constants. */
    static Graph prune(Graph g) {
        Set<String> needed = new HashSet<>();
        for (ValueInfo o : g.outputs()) needed.add(o.name());
        List<Node> rev = new ArrayList<>();
        List<Node> nodes = g.nodes();
        for (int i = nodes.size() - 1; i >= 0; i--) {
            Node n = nodes.get(i);
            boolean use = false;
            for (String o : n.outputs()) use |= needed.contains(o);
            if (!use) continue;
            rev.add(n);
            for (String in : n.inputs()) if (!in.isEmpty()) needed.add(in);
        }
        java.util.Collections.reverse(rev);
        Map<String, HostTensor> consts = new LinkedHashMap<>();
        for (var e : g.constants().entrySet()) if (needed.contains(e.getKey())) consts.put(e.getKey(), e.getValue());
        return new Graph(rev, g.inputs(), g.outputs(), consts, g.opset(), g.aliases());
    }
}
