package dev.salient.explain.core;

import dev.salient.engine.SalientException;
import dev.salient.model.Model;
import dev.salient.model.Node;
import dev.salient.model.Plan;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Resolves a layer argument to a graph tensor: an ONNX tensor name (a node's
 * output), a node name (its first output), or {@code auto}: the last 4-D
 * activation before the network pools or flattens it away.
 */
public final class Layers {
    private Layers() {}

    public static String resolve(Model model, String layer, long[] inputShape) {
        Plan p = model.plan(Map.of(model.inputs().get(0).name(), inputShape), Set.of(model.outputs().get(0).name()));
        if (layer == null || layer.equals("auto")) return auto(p);
        if (p.shape(layer) != null && model.graph().producer(layer) != null) return layer;
        Node n = model.graph().node(layer);
        if (n != null && !n.outputs().isEmpty() && p.shape(n.outputs().get(0)) != null) return n.outputs().get(0);
        throw new SalientException("unknown layer '" + layer + "' (some valid names: " + String.join(", ", candidates(p, 6)) + ")");
    }

    /** Requires a 4-D (N,K,h,w) activation for CAM methods. */
    public static void require4d(Model model, String tensor, long[] inputShape, String method) {
        Plan p = model.plan(Map.of(model.inputs().get(0).name(), inputShape), Set.of(model.outputs().get(0).name()));
        long[] s = p.shape(tensor);
        if (s == null || s.length != 4)
            throw new SalientException(method + " needs a 4-D (N,C,H,W) layer, but '" + tensor + "' has shape "
                    + (s == null ? "unknown" : java.util.Arrays.toString(s)) + " (try --layer auto or one of: "
                    + String.join(", ", candidates(p, 6)) + ")");
    }

    private static String auto(Plan p) {
        String last = null;
        for (Plan.Step s : p.steps()) {
            long[] in0 = s.inputShapes().length > 0 && s.inputShapes()[0] != null ? s.inputShapes()[0] : null;
            long[] out0 = s.outputShapes().length > 0 ? s.outputShapes()[0] : null;
            boolean reduces = in0 != null && in0.length == 4 && out0 != null
                    && (out0.length != 4 || (out0[2] == 1 && out0[3] == 1 && (in0[2] > 1 || in0[3] > 1)));
            if (reduces) return s.inputs()[0];
            if (out0 != null && out0.length == 4) last = s.outputs()[0];
        }
        if (last == null) throw new SalientException("--layer auto: the model has no 4-D activation");
        return last;
    }

    /** The last few 4-D tensors of the plan, latest first. */
    static List<String> candidates(Plan p, int max) {
        List<String> out = new ArrayList<>();
        List<Plan.Step> steps = p.steps();
        for (int i = steps.size() - 1; i >= 0 && out.size() < max; i--) {
            Plan.Step s = steps.get(i);
            if (s.outputShapes().length > 0 && s.outputShapes()[0].length == 4) out.add(s.outputs()[0]);
        }
        return out;
    }
}
