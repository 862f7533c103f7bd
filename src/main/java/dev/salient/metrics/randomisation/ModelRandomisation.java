package dev.salient.metrics.randomisation;

import dev.salient.engine.SalientException;
import dev.salient.model.HostTensor;
import dev.salient.model.Model;
import dev.salient.model.Node;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Cascading model-parameter randomisation (Adebayo et al., "Sanity checks for saliency maps",
 * NeurIPS 2018; Quantus MPRT with layer_order="top_down"): the layers with weights (Conv and
 * Gemm nodes, after the loader has folded BatchNormalization into the convs) are taken from
 * the output back to the input, and step i re-initialises layers 0..i of that order, each
 * with PyTorch's default {@code reset_parameters} for Conv2d/Linear: weight and bias
 * U(−1/√fan_in, 1/√fan_in). The draws of a layer are a function of the seed and the layer's
 * index only, so every step re-uses the earlier layers' random weights (cumulative). The
 * randomised weights go into a copy of the model ({@link Model#withConstants}); the loaded
 * model is never changed. Quantus also resets BatchNorm to its initial state; here BN is
 * part of the folded conv, whose weights are drawn afresh. Every layer step is reported on its
 * own: Quantus MPRT's average mode includes the unrandomised comparison through a key mismatch
 * ("orig" vs "original", PEERS.md §6); no such average is formed here.
 */
public final class ModelRandomisation {
    private ModelRandomisation() {}

    /** A layer with weights: its node name, weight and bias constants (bias may be null) and fan-in. */
    public record Layer(String name, String weight, String bias, long fanIn) {}

    /** The layers with weights, top-down (output first). Fails with one line if the model has no conv weights. */
    public static List<Layer> layersTopDown(Model m) {
        List<Layer> out = new ArrayList<>();
        boolean conv = false;
        Map<String, HostTensor> consts = m.graph().constants();
        for (Node n : m.graph().nodes()) {
            boolean isConv = n.opType().equals("Conv"), isGemm = n.opType().equals("Gemm");
            if (!isConv && !isGemm) continue;
            HostTensor w = consts.get(n.input(1));
            if (w == null || !w.isFloat()) continue;
            String bias = n.hasInput(2) && consts.containsKey(n.input(2)) ? n.input(2) : null;
            long[] s = w.shape();
            long fanIn;
            if (isConv) {
                fanIn = 1;
                for (int i = 1; i < s.length; i++) fanIn *= s[i];
                conv = true;
            } else {
                boolean transB = n.attributes().getInt("transB", 0) != 0;
                fanIn = transB ? s[1] : s[0];
            }
            out.add(new Layer(n.name().isEmpty() ? n.outputs().get(0) : n.name(), n.input(1), bias, fanIn));
        }
        if (!conv)
            throw new SalientException("randomisation needs a model with conv weights; " + m.graph().nodes().size()
                    + "-node model has no Conv layer with constant weights");
        java.util.Collections.reverse(out);
        return out;
    }

    /** The model with layers [0, upTo] of {@code layers} re-initialised (a new model; the caller closes it). */
    public static Model randomised(Model m, List<Layer> layers, int upTo, long seed) {
        return randomised(m, layers, upTo, seed, new HashMap<>());
    }

    /**
     * As {@link #randomised(Model, List, int, long)}, taking each layer's draws from {@code draws}
     * (layer index to its weight and bias) and adding the ones it makes: a cascade's step i re-uses
     * the draws of steps before it, which depend on the seed and the layer only, so a run makes
     * each layer's draws once instead of once per later step.
     */
    public static Model randomised(Model m, List<Layer> layers, int upTo, long seed, Map<Integer, HostTensor[]> draws) {
        Map<String, HostTensor> repl = new HashMap<>();
        Map<String, HostTensor> consts = m.graph().constants();
        for (int i = 0; i <= upTo; i++) {
            Layer l = layers.get(i);
            final int layer = i;
            HostTensor[] d = draws.computeIfAbsent(i, k -> {
                double bound = 1 / Math.sqrt(l.fanIn());
                SplittableRandom r = new SplittableRandom(seed * 1_000_003L + layer);
                HostTensor w = uniform(consts.get(l.weight()).shape(), bound, r);
                HostTensor b = l.bias() != null ? uniform(consts.get(l.bias()).shape(), bound, r) : null;
                return new HostTensor[] {w, b};
            });
            repl.put(l.weight(), d[0]);
            if (l.bias() != null) repl.put(l.bias(), d[1]);
        }
        return m.withConstants(repl);
    }

    private static HostTensor uniform(long[] shape, double bound, SplittableRandom r) {
        long n = 1;
        for (long d : shape) n *= d;
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = (float) (bound * (2 * r.nextDouble() - 1));
        return HostTensor.ofFloats(v, shape);
    }
}
