package dev.salient.model;

import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.model.ops.Op;
import dev.salient.model.ops.OpContext;
import dev.salient.model.ops.OpRegistry;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Makes a {@link Plan} for concrete input shapes: walks the graph in order,
 * folds on the host every node whose result is known without data (constants,
 * Shape of a planned tensor and what follows from it), infers the shapes of
 * the rest, keeps only the steps the fetched tensors need, and assigns their
 * outputs to reusable buffers by liveness (best fit).
 */
final class Planner {
    private Planner() {}

    static Plan plan(Graph g, Map<String, long[]> inputShapes, Set<String> fetch) {
        return plan(g, inputShapes, fetch, null);
    }

    /**
     * As {@link #plan(Graph, Map, Set)}; with {@code from} not null, a suffix plan: only the
     * steps downstream of {@code from} (those that read it or a tensor computed from it) and
     * leading to {@code fetch}. The tensors those steps read that none of them computes
     * ({@code from} first, then values computed before it, e.g. a residual branch) are the
     * plan's {@link Plan#frontier()}: the caller supplies them.
     */
    static Plan plan(Graph g, Map<String, long[]> inputShapes, Set<String> fetch, String from) {
        Map<String, HostTensor> host = new HashMap<>(g.constants());
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (ValueInfo v : g.inputs()) {
            long[] s = inputShapes.get(v.name());
            if (s == null) throw new SalientException("missing input '" + v.name() + "'");
            shapes.put(v.name(), s.clone());
        }
        List<Plan.Step> all = new ArrayList<>();
        List<Node> folded = new ArrayList<>();
        for (Node n : g.nodes()) {
            int ni = n.inputs().size();
            HostTensor[] known = GraphRewriter.known(n, host);
            long[][] inShapes = new long[ni][];
            boolean allKnown = true;
            for (int i = 0; i < ni; i++) {
                if (!n.hasInput(i)) continue;
                if (known[i] != null) inShapes[i] = known[i].shape();
                else {
                    inShapes[i] = shapes.get(n.input(i));
                    allKnown = false;
                    if (inShapes[i] == null) throw new SalientException(n + ": input '" + n.input(i) + "' is undefined");
                }
            }
            Op op = OpRegistry.create(new OpContext(n, g.opset(), known));
            HostTensor[] values = allKnown ? op.fold(known) : null;
            if (values == null) values = op.foldShapes(inShapes);
            if (values != null) {
                for (int i = 0; i < values.length && i < n.outputs().size(); i++)
                    if (!n.outputs().get(i).isEmpty()) host.put(n.outputs().get(i), values[i]);
                folded.add(n);
                continue;
            }
            long[][] outShapes = op.outputShapes(inShapes);
            String[] ins = new String[ni];
            for (int i = 0; i < ni; i++) ins[i] = n.hasInput(i) && !op.isParamInput(i) ? n.input(i) : "";
            String[] outs = new String[n.outputs().size()];
            for (int i = 0; i < outs.length; i++) {
                String o = n.outputs().get(i);
                if (i >= outShapes.length) {
                    if (!o.isEmpty() && (!g.consumers(o).isEmpty() || g.isOutput(o) || fetch.contains(o)))
                        throw new SalientException(n + ": output " + i + " ('" + o + "') is not supported");
                    outs[i] = "";
                    continue;
                }
                outs[i] = o;
                if (!o.isEmpty()) shapes.put(o, outShapes[i]);
            }
            long[][] outShapesTrim = Arrays.copyOf(outShapes, outs.length);
            all.add(new Plan.Step(n, op, ins, outs, inShapes, outShapesTrim));
        }

        // keep the steps the fetched tensors need
        for (String f : fetch)
            if (!host.containsKey(f) && !shapes.containsKey(f))
                throw new SalientException("unknown tensor '" + f + "' (not an input, constant or node output of the rewritten graph)");
        Set<String> desc = null;  // with from: the tensors computed from it
        if (from != null) {
            if (!shapes.containsKey(from) || host.containsKey(from))
                throw new SalientException("cannot run the graph from '" + from + "': not a computed tensor of the graph");
            desc = new HashSet<>(Set.of(from));
            for (Plan.Step s : all) {
                boolean hit = false;
                for (String in : s.inputs()) hit |= !in.isEmpty() && desc.contains(in);
                if (hit) for (String o : s.outputs()) if (!o.isEmpty()) desc.add(o);
            }
            for (String f : fetch)
                if (!desc.contains(f)) throw new SalientException("'" + f + "' does not depend on '" + from + "'");
        }
        Set<String> needed = new HashSet<>(fetch);
        List<Plan.Step> steps = new ArrayList<>();
        for (int i = all.size() - 1; i >= 0; i--) {
            Plan.Step s = all.get(i);
            boolean use = false;
            for (String o : s.outputs()) use |= !o.isEmpty() && needed.contains(o) && !o.equals(from);
            if (!use) continue;
            if (desc != null) {
                boolean down = false;
                for (String in : s.inputs()) down |= !in.isEmpty() && desc.contains(in);
                if (!down) continue;
            }
            steps.add(s);
            for (String in : s.inputs()) if (!in.isEmpty()) needed.add(in);
        }
        java.util.Collections.reverse(steps);
        List<String> frontier = new ArrayList<>();
        if (from != null) {
            Set<String> made = new HashSet<>();
            for (Plan.Step s : steps) for (String o : s.outputs()) if (!o.isEmpty()) made.add(o);
            frontier.add(from);
            for (Plan.Step s : steps)
                for (String in : s.inputs())
                    if (!in.isEmpty() && !made.contains(in) && !host.containsKey(in) && !frontier.contains(in)) frontier.add(in);
        }

        // memory plan: last use of each step output, best-fit reuse of freed buffers
        Map<String, Integer> lastUse = new HashMap<>();
        for (int i = 0; i < steps.size(); i++) for (String in : steps.get(i).inputs()) if (!in.isEmpty()) lastUse.put(in, i);
        List<Long> slotSize = new ArrayList<>();
        List<Integer> free = new ArrayList<>();
        Map<String, Integer> slotOf = new HashMap<>();
        int[][] outSlot = new int[steps.size()][];
        for (int i = 0; i < steps.size(); i++) {
            Plan.Step s = steps.get(i);
            outSlot[i] = new int[s.outputs().length];
            // in place: output 0 takes the buffer of an elementwise input that dies at this step
            String donor = "";
            if (s.outputs().length > 0 && !s.outputs()[0].isEmpty() && !fetch.contains(s.outputs()[0])) {
                int ip = s.op().inPlaceInput(s.inputShapes(), s.outputShapes()[0]);
                String d = ip >= 0 && ip < s.inputs().length ? s.inputs()[ip] : "";
                if (!d.isEmpty() && slotOf.containsKey(d) && lastUse.get(d) == i
                        && Math.max(1, Shapes.numel(s.outputShapes()[0])) <= slotSize.get(slotOf.get(d))) {
                    donor = d;
                    outSlot[i][0] = slotOf.get(d);
                    slotOf.put(s.outputs()[0], slotOf.get(d));
                }
            }
            for (int j = 0; j < s.outputs().length; j++) {
                String o = s.outputs()[j];
                if (j == 0 && !donor.isEmpty()) continue;
                if (o.isEmpty()) {
                    outSlot[i][j] = Plan.ABSENT;
                    continue;
                }
                if (fetch.contains(o)) {
                    outSlot[i][j] = Plan.OWNED;
                    continue;
                }
                long need = Math.max(1, Shapes.numel(s.outputShapes()[j]));
                int best = -1;
                for (int f : free)
                    if (slotSize.get(f) >= need && (best < 0 || slotSize.get(f) < slotSize.get(best))) best = f;
                if (best < 0 && !free.isEmpty()) { // grow the largest free buffer
                    for (int f : free) if (best < 0 || slotSize.get(f) > slotSize.get(best)) best = f;
                    slotSize.set(best, need);
                }
                if (best < 0) {
                    slotSize.add(need);
                    best = slotSize.size() - 1;
                } else {
                    free.remove(Integer.valueOf(best));
                }
                outSlot[i][j] = best;
                slotOf.put(o, best);
            }
            Set<String> released = new HashSet<>();
            if (!donor.isEmpty()) released.add(donor); // its buffer lives on as output 0
            for (String in : s.inputs())
                if (!in.isEmpty() && lastUse.get(in) == i && slotOf.containsKey(in) && released.add(in)) free.add(slotOf.get(in));
            for (String o : s.outputs())
                if (!o.isEmpty() && !lastUse.containsKey(o) && slotOf.containsKey(o) && released.add(o)) free.add(slotOf.get(o));
        }
        long[] sizes = slotSize.stream().mapToLong(Long::longValue).toArray();
        return new Plan(g, steps, folded, host, shapes, Set.copyOf(fetch), outSlot, sizes, frontier);
    }
}
