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
 * output), a node name (its first output), or {@code auto}: the last activation of the
 * input's rank (4-D for images, 5-D for volumes) before the network pools or flattens it away.
 */
public final class Layers {
    private Layers() {}

    public static String resolve(Model model, String layer, long[] inputShape) {
        Plan p = model.plan(Map.of(model.inputs().get(0).name(), inputShape), Set.of(model.outputs().get(0).name()));
        if (layer == null || layer.equals("auto")) return auto(p, inputShape.length);
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

    /**
     * Requires an activation of the input's rank, (N,K,h,w) for images or (N,K,d,h,w) for
     * volumes, for CAM methods.
     */
    public static void requireSpatial(Model model, String tensor, long[] inputShape, String method) {
        if (inputShape.length == 4) {
            require4d(model, tensor, inputShape, method);
            return;
        }
        Plan p = model.plan(Map.of(model.inputs().get(0).name(), inputShape), Set.of(model.outputs().get(0).name()));
        long[] s = p.shape(tensor);
        if (s == null || s.length != inputShape.length)
            throw new SalientException(method + " needs a " + inputShape.length + "-D layer for a " + inputShape.length
                    + "-D input, but '" + tensor + "' has shape " + (s == null ? "unknown" : java.util.Arrays.toString(s))
                    + " (try --layer auto or one of: " + String.join(", ", candidates(p, 6, inputShape.length)) + ")");
    }

    private static boolean pooled(long[] s) {
        for (int i = 2; i < s.length; i++) if (s[i] != 1) return false;
        return true;
    }

    private static String auto(Plan p, int rank) {
        String last = null;
        for (Plan.Step s : p.steps()) {
            long[] in0 = s.inputShapes().length > 0 && s.inputShapes()[0] != null ? s.inputShapes()[0] : null;
            long[] out0 = s.outputShapes().length > 0 ? s.outputShapes()[0] : null;
            boolean reduces = in0 != null && in0.length == rank && out0 != null
                    && (out0.length != rank || (pooled(out0) && !pooled(in0)));
            if (reduces) return s.inputs()[0];
            if (out0 != null && out0.length == rank) last = s.outputs()[0];
        }
        if (last == null) throw new SalientException("--layer auto: the model has no " + rank + "-D activation");
        return last;
    }

    /** The last few 4-D tensors of the plan, latest first. */
    static List<String> candidates(Plan p, int max) {
        return candidates(p, max, 4);
    }

    /** The last few tensors of the given rank, latest first. */
    static List<String> candidates(Plan p, int max, int rank) {
        List<String> out = new ArrayList<>();
        List<Plan.Step> steps = p.steps();
        for (int i = steps.size() - 1; i >= 0 && out.size() < max; i--) {
            Plan.Step s = steps.get(i);
            if (s.outputShapes().length > 0 && s.outputShapes()[0].length == rank) out.add(s.outputs()[0]);
        }
        return out;
    }
}
