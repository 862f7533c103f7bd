package dev.salient.model;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.model.ops.Op;
import dev.salient.model.ops.TensorViews;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;

/**
 * An execution plan for one set of input shapes and fetched tensors: the
 * steps that run on the backend (in order, with their ops and shapes), the
 * values folded on the host, and the buffer assignment of every intermediate.
 * Immutable and shareable; {@link #execute} keeps its state per call.
 */
public final class Plan {
    static final int OWNED = -1, ABSENT = -2;

    /**
     * One op on the backend. {@code inputs[i]} is the tensor feeding input i,
     * or "" for an absent or param input (see {@link Op#isParamInput}).
     */
    public record Step(Node node, Op op, String[] inputs, String[] outputs, long[][] inputShapes, long[][] outputShapes) {}

    private final Graph graph;
    private final List<Step> steps;
    private final List<Node> folded;
    private final Map<String, HostTensor> host;
    private final Map<String, long[]> shapes;
    private final Set<String> fetch;
    private final int[][] outSlot;  // step output -> its buffer, or OWNED / ABSENT
    private final long[] offsets;    // buffer -> offset in the arena (floats)
    private final long[] sizes;      // buffer -> floats
    private final long arenaFloats;
    private final int mostLive;
    private final boolean[] epilogue;  // step i's successor may be fused into it (see epilogues)
    private final int[] sum;           // steps a residual sum fuses into step i: 0, 2 (op, Add) or 3 (and an activation)
    private final int[] pre;           // steps of a prologue group from step i: 0, or 2 to 4 (see prologues)
    private final int[] preReader;     // ... and its reader's distance from step i (1 or 2)
    private final boolean[] joined;    // concats whose inputs were written where their output lies (Planner.concatsInPlace)
    private final List<String> frontier;

    Plan(Graph graph, List<Step> steps, List<Node> folded, Map<String, HostTensor> host, Map<String, long[]> shapes,
            Set<String> fetch, int[][] outSlot, long[] offsets, long[] arena, List<String> frontier, boolean[] joined) {
        this.frontier = List.copyOf(frontier);
        this.joined = joined.clone();
        this.graph = graph;
        this.steps = List.copyOf(steps);
        this.folded = List.copyOf(folded);
        this.host = host;
        this.shapes = shapes;
        this.fetch = fetch;
        this.outSlot = outSlot;
        this.offsets = offsets;
        this.arenaFloats = arena[0];
        this.mostLive = (int) arena[1];
        this.sizes = new long[offsets.length];
        for (int i = 0; i < steps.size(); i++)
            for (int j = 0; j < outSlot[i].length; j++)
                if (outSlot[i][j] >= 0)
                    sizes[outSlot[i][j]] = Math.max(sizes[outSlot[i][j]], Math.max(1, Shapes.numel(steps.get(i).outputShapes()[j])));
        this.epilogue = epilogues(this.steps, fetch, outSlot, offsets, sizes);
        this.sum = sums(this.steps, fetch, outSlot, offsets, sizes);
        this.preReader = new int[this.steps.size()];
        this.pre = prologues(this.steps, fetch, outSlot, offsets, sizes, epilogue, sum, preReader);
    }

    /**
     * Prologue groups, which {@link #execute} runs as one step where the op that reads the map
     * fuses it ({@link Op#fusesPrologue}): step i has a single output o, nobody fetches it, and
     * either the next step reads it (as its data input, input 0), and nothing else does, or the
     * next step is an activation of o alone whose output p is read the same way by the step after
     * it; that reading step may carry its own epilogue activation (see {@link #epilogues}) but no
     * residual sum. Neither o nor p is ever written. The group's last output may not overlap what
     * step i reads (it is written while that is read). Per step: the number of steps in its
     * group (2 to 4), or 0.
     */
    private static int[] prologues(List<Step> steps, Set<String> fetch, int[][] outSlot, long[] offsets, long[] sizes,
            boolean[] epilogue, int[] sum, int[] readerAt) {
        Map<String, Integer> readers = readers(steps);
        Map<String, Integer> slotOf = slots(steps, outSlot);
        int[] r = new int[steps.size()];
        for (int i = 0; i + 1 < steps.size(); i++) {
            Step s = steps.get(i);
            if (s.outputs().length != 1 || s.outputs()[0].isEmpty() || fetch.contains(s.outputs()[0])
                    || readers.getOrDefault(s.outputs()[0], 0) != 1)
                continue;
            String o = s.outputs()[0];
            int reader = i + 1;
            Step next = steps.get(i + 1);
            if (!o.equals(next.inputs().length > 0 ? next.inputs()[0] : null)) continue;
            if (next.op().opType().matches("Relu|Clip")) {  // the map's activation, then its reader
                long present = Arrays.stream(next.inputs()).filter(x -> !x.isEmpty()).count();
                if (present != 1 || next.outputs().length != 1 || next.outputs()[0].isEmpty() || i + 2 >= steps.size())
                    continue;
                String p = next.outputs()[0];
                if (fetch.contains(p) || readers.getOrDefault(p, 0) != 1) continue;
                Step after = steps.get(i + 2);
                if (!p.equals(after.inputs().length > 0 ? after.inputs()[0] : null)) continue;
                reader = i + 2;
            }
            // (one reader each: the reader reads the map's output as its data input alone, not as a weight too)
            Step c = steps.get(reader);
            if (c.outputs().length != 1 || c.outputs()[0].isEmpty() || sum[reader] > 0) continue;
            // (the reader's epilogue: an activation only; a step after it that it cannot fuse, as a
            // transition's AveragePool after its conv, left the whole group unfused)
            int last = reader + (epilogue[reader] && steps.get(reader + 1).op().opType().matches("Relu|Clip") ? 1 : 0);
            List<String> read = List.of(s.inputs()[0]);
            if (!s.inputs()[0].isEmpty() && !overlaps(outSlot[last][0], read, slotOf, offsets, sizes)) {
                r[i] = last - i + 1;
                readerAt[i] = reader - i;
            }
        }
        return r;
    }

    /** Whether the prologue group at step si (see {@link #prologues}) runs as one step on b. */
    private boolean prologueFuses(int si, Backend b) {
        if (pre[si] == 0) return false;
        int reader = prologueReader(si);
        Step c = steps.get(reader);
        Op preAct = reader > si + 1 ? steps.get(si + 1).op() : null;
        if (!c.op().fusesPrologue(steps.get(si).op(), steps.get(si).inputShapes(), preAct, c.inputShapes(), b)) return false;
        return !prologueHasEpilogue(si) || c.op().fuses(steps.get(reader + 1).op(), b);
    }

    /** The step of the prologue group at si that reads the map (after the map's activation, if any). */
    private int prologueReader(int si) {
        return si + preReader[si];
    }

    /** Whether the prologue group at si ends with an activation in its reader's epilogue. */
    private boolean prologueHasEpilogue(int si) {
        return si + pre[si] - 1 > prologueReader(si);
    }

    /**
     * Steps whose successor may run as their epilogue in {@link #execute}: the step has one output,
     * nobody fetches it, and the next step is its only reader, with no other tensor input. The
     * successor's output must not overlap memory the step reads (the planner may hand the memory of
     * a tensor that dies at step i to the output of step i + 1), unless the fused step is elementwise
     * ({@link dev.salient.model.ops.Op#fusesInPlace}).
     */
    private static boolean[] epilogues(List<Step> steps, Set<String> fetch, int[][] outSlot, long[] offsets, long[] sizes) {
        Map<String, Integer> readers = readers(steps);
        Map<String, Integer> slotOf = slots(steps, outSlot);
        boolean[] e = new boolean[steps.size()];
        for (int i = 0; i + 1 < steps.size(); i++) {
            Step s = steps.get(i), next = steps.get(i + 1);
            if (s.outputs().length != 1 || s.outputs()[0].isEmpty() || fetch.contains(s.outputs()[0])) continue;
            String o = s.outputs()[0];
            long inputs = Arrays.stream(next.inputs()).filter(x -> !x.isEmpty()).count();
            boolean shape = inputs == 1 && next.inputs().length > 0 && o.equals(next.inputs()[0])
                    && readers.get(o) == 1 && next.outputs().length == 1 && !next.outputs()[0].isEmpty();
            if (!shape) continue;
            List<String> ins = Arrays.asList(s.inputs());
            int target = outSlot[i + 1][0], data = ins.get(0).isEmpty() ? -3 : slotOf.getOrDefault(ins.get(0), -3);
            // an elementwise fused step may write exactly over its data input (same start, same shape)
            boolean inPlace = s.op().fusesInPlace() && target >= 0 && data >= 0 && offsets[target] == offsets[data]
                    && !overlaps(target, ins.subList(1, ins.size()), slotOf, offsets, sizes);
            e[i] = inPlace || !overlaps(target, ins, slotOf, offsets, sizes);
        }
        return e;
    }

    /** How many steps read each tensor. */
    private static Map<String, Integer> readers(List<Step> steps) {
        Map<String, Integer> readers = new HashMap<>();
        for (Step s : steps) for (String in : s.inputs()) if (!in.isEmpty()) readers.merge(in, 1, Integer::sum);
        return readers;
    }

    /** The arena buffer of each step output that has one. */
    private static Map<String, Integer> slots(List<Step> steps, int[][] outSlot) {
        Map<String, Integer> slotOf = new HashMap<>();
        for (int i = 0; i < steps.size(); i++)
            for (int j = 0; j < steps.get(i).outputs().length; j++)
                if (outSlot[i][j] >= 0) slotOf.put(steps.get(i).outputs()[j], outSlot[i][j]);
        return slotOf;
    }

    /** Whether buffer {@code target} overlaps the buffer of any of {@code tensors} (those in the arena). */
    private static boolean overlaps(int target, List<String> tensors, Map<String, Integer> slotOf, long[] offsets,
            long[] sizes) {
        if (target < 0) return false;
        for (String in : tensors) {
            int src = in.isEmpty() ? -3 : slotOf.getOrDefault(in, -3);
            if (src >= 0 && offsets[src] < offsets[target] + sizes[target] && offsets[target] < offsets[src] + sizes[src])
                return true;
        }
        return false;
    }

    /**
     * Residual sums that may run in the epilogue of the op before them in {@link #execute}: step i
     * (a 2-D or 3-D op) has one output, read only by step i + 1, an Add of it and another tensor z of the
     * same shape (no broadcasting), whose sum may in turn be read only by step i + 2, an activation
     * of it alone. Nobody fetches the op's output or the sum. The last fused step's output must
     * overlap neither z nor what step i reads (it is written before they are read). Per step: the
     * number of steps fused (2 or 3), or 0.
     */
    private static int[] sums(List<Step> steps, Set<String> fetch, int[][] outSlot, long[] offsets, long[] sizes) {
        Map<String, Integer> readers = readers(steps);
        Map<String, Integer> slotOf = slots(steps, outSlot);
        int[] r = new int[steps.size()];
        for (int i = 0; i + 1 < steps.size(); i++) {
            Step s = steps.get(i), add = steps.get(i + 1);
            if (s.outputs().length != 1 || s.outputs()[0].isEmpty() || fetch.contains(s.outputs()[0])) continue;
            if (s.inputShapes().length == 0 || s.inputShapes()[0] == null
                    || s.inputShapes()[0].length != 4 && s.inputShapes()[0].length != 5)
                continue;
            String o = s.outputs()[0];
            if (!add.op().opType().equals("Add") || add.inputs().length != 2 || add.outputs().length != 1
                    || add.outputs()[0].isEmpty() || readers.getOrDefault(o, 0) != 1)
                continue;
            int zi = o.equals(add.inputs()[0]) ? 1 : o.equals(add.inputs()[1]) ? 0 : -1;
            if (zi < 0 || add.inputs()[zi].isEmpty() || add.inputs()[zi].equals(o)) continue;
            long[] os = s.outputShapes()[0];
            if (!Arrays.equals(add.inputShapes()[zi], os) || !Arrays.equals(add.outputShapes()[0], os)) continue;
            int last = i + 1;
            String sumOut = add.outputs()[0];
            if (i + 2 < steps.size() && !fetch.contains(sumOut) && readers.getOrDefault(sumOut, 0) == 1) {
                Step act = steps.get(i + 2);
                long present = Arrays.stream(act.inputs()).filter(x -> !x.isEmpty()).count();
                if (present == 1 && act.inputs().length > 0 && sumOut.equals(act.inputs()[0]) && act.outputs().length == 1
                        && !act.outputs()[0].isEmpty() && act.op().opType().matches("Relu|Clip"))
                    last = i + 2;
            }
            List<String> read = new ArrayList<>(Arrays.asList(s.inputs()));
            read.add(add.inputs()[zi]);
            if (!overlaps(outSlot[last][0], read, slotOf, offsets, sizes)) r[i] = last - i + 1;
        }
        return r;
    }

    /** The activation fused after a sum at step i, or null (see {@link #sums}). */
    private Op sumActivation(int i) {
        return sum[i] == 3 ? steps.get(i + 2).op() : null;
    }

    /**
     * The steps of op type {@code opType} that run their successor as their epilogue on {@code b}
     * (and are not applied by their reader instead, {@link #fusedPrologues}).
     */
    int fusedAfter(String opType, Backend b) {
        int n = 0;
        for (int i = 0; i < epilogue.length; i++)
            if (sum[i] == 0 && epilogue[i] && !prologueFuses(i, b) && steps.get(i).op().opType().equals(opType)
                    && steps.get(i).op().fuses(steps.get(i + 1).op(), b))
                n++;
        return n;
    }

    /** The concats that do not run: their inputs are written where their output lies. */
    int joinedConcats() {
        int n = 0;
        for (boolean j : joined) if (j) n++;
        return n;
    }

    /**
     * The steps of op type {@code opType} whose output (or its activation's) the step that reads it
     * applies as it reads it on {@code b} (see {@link #prologues}): never written.
     */
    int fusedPrologues(String opType, Backend b) {
        int n = 0;
        for (int i = 0; i < pre.length; i = groupEnd(i, b) + 1)  // the groups as execute runs them
            if (steps.get(i).op().opType().equals(opType) && prologueFuses(i, b)) n++;
        return n;
    }

    /**
     * How many steps {@link #execute} runs in the epilogue of the step before them on {@code b}
     * (activations, and residual sums with their activations).
     */
    int fusedSteps(Backend b) {
        int n = 0;
        for (int i = 0; i < steps.size(); i++) {
            int last = groupEnd(i, b);
            n += last - i;
            i = last;
        }
        return n;
    }

    /**
     * A suffix plan's given tensors (see {@link Model#suffixInputs}): the tensor it runs from,
     * then the values computed before it that its steps still read. Empty for a whole-graph plan.
     */
    public List<String> frontier() {
        return frontier;
    }

    /** The steps run on the backend, in order. */
    public List<Step> steps() {
        return steps;
    }

    /** Nodes folded on the host for these shapes (shape subgraphs). */
    public List<Node> foldedNodes() {
        return folded;
    }

    /** The shape of any tensor of the plan (inputs, constants, folded values, step outputs), or null. */
    public long[] shape(String tensor) {
        HostTensor h = host.get(tensor);
        if (h != null) return h.shape();
        long[] s = shapes.get(tensor);
        return s == null ? null : s.clone();
    }

    /** A host-known value (constant or folded), or null. */
    public HostTensor hostValue(String tensor) {
        return host.get(tensor);
    }

    /** Floats of intermediate memory this plan allocates per call: its arena (excluding fetched outputs). */
    public long bufferFloats() {
        return arenaFloats;
    }

    /**
     * Bytes of activation memory one call allocates: the intermediate buffers
     * plus the fetched outputs (float32), known before anything is allocated.
     */
    public long activationBytes() {
        long floats = arenaFloats;
        for (int si = 0; si < steps.size(); si++)
            for (int j = 0; j < outSlot[si].length; j++)
                if (outSlot[si][j] == OWNED) floats = addSat(floats, Math.max(1, Shapes.numel(steps.get(si).outputShapes()[j])));
        return floats > Long.MAX_VALUE / 4 ? Long.MAX_VALUE : floats * 4;
    }

    private static long addSat(long a, long b) {
        long r = a + b;
        return r < 0 ? Long.MAX_VALUE : r;
    }

    /** The inputs' shapes, for {@link OpProfile#byShape()} keys; empty otherwise. */
    private static String shapes(Tensor[] in) {
        if (!OpProfile.byShape()) return "";
        StringBuilder sb = new StringBuilder();
        for (Tensor t : in) if (t != null) sb.append(' ').append(java.util.Arrays.toString(t.shape()).replace(" ", ""));
        return sb.toString();
    }

    /** The most intermediate buffers alive at once (an in-place chain of steps is one buffer). */
    public int bufferCount() {
        return mostLive;
    }

    /**
     * Runs the plan. Inputs are the caller's (not closed); the returned tensors
     * (one per fetched name) belong to the caller. {@code weights} maps a graph
     * constant to its tensor on this backend (cached by the model).
     */
    Map<String, Tensor> execute(Backend b, Map<String, Tensor> inputs, BiFunction<Backend, String, Tensor> weights) {
        return execute(b, inputs, weights, null);
    }

    /**
     * Values of another run to take instead of computing them: {@code values} holds tensors of a
     * run of the same graph on the same inputs with some constants different (the caller's, not
     * closed), and {@code changed} names the constants that differ. A step none of whose inputs
     * is a changed constant or computed from one gives the same bits in both runs, so its
     * outputs are copied from {@code values} where a computed step or the caller reads them, and
     * not computed at all otherwise.
     */
    public record Reuse(Map<String, Tensor> values, Set<String> changed) {}

    /** The steps whose outputs differ from a run without the changed constants, and the unchanged outputs that are read. */
    private record Dirty(boolean[] step, Set<String> read) {}

    private Dirty dirty(Reuse reuse, Backend b) {
        Set<String> dirty = new java.util.HashSet<>(reuse.changed());
        for (Node n : folded) {
            boolean hit = false;
            for (String in : n.inputs()) hit |= dirty.contains(in);
            if (hit) dirty.addAll(n.outputs());
        }
        // by groups of steps that run together (a step with those fused into its epilogue): a group
        // runs whole if any of its steps is dirty, reading all its steps' inputs
        boolean[] step = new boolean[steps.size()];
        Set<String> read = new java.util.HashSet<>(fetch);
        for (int i = 0; i < step.length; i++) {
            int last = groupEnd(i, b);
            boolean hit = false;
            for (int j = i; j <= last; j++)
                for (String in : steps.get(j).node().inputs()) hit |= dirty.contains(in);
            if (hit) {
                for (int j = i; j <= last; j++) {
                    step[j] = true;
                    Step s = steps.get(j);
                    for (String o : s.outputs()) if (!o.isEmpty()) dirty.add(o);
                    for (String in : s.inputs()) if (!in.isEmpty() && !dirty.contains(in)) read.add(in);
                }
            }
            i = last;
        }
        return new Dirty(step, read);
    }

    /** As {@link #execute(Backend, Map, BiFunction)}, taking what it can from {@code reuse} (null: nothing). */
    Map<String, Tensor> execute(Backend b, Map<String, Tensor> inputs, BiFunction<Backend, String, Tensor> weights,
            Reuse reuse) {
        return execute(b, inputs, weights, reuse, null);
    }

    /**
     * Only channel {@code channels[n]} of image n of {@code tensor} is read (feature visualisation's
     * channel and neuron objectives): the step group that makes it, where its op can
     * ({@link dev.salient.model.ops.Op#forwardChannels}, a 2-D Conv with its residual Add and
     * activation), computes those channels alone and writes 0 to the others.
     */
    public record Channels(String tensor, int[] channels) {}

    /** Whether step group [si, last] makes the tensor of {@code sel} and runs for its channels alone. */
    private boolean channelsOnly(Channels sel, Backend b, int si, int last, Tensor[] in, Tensor z, Op act, Tensor out) {
        if (sel == null || steps.get(last).outputs().length != 1 || !steps.get(last).outputs()[0].equals(sel.tensor()))
            return false;
        for (int j = last + 1; j < steps.size(); j++)  // a later step reads every channel
            for (String i : steps.get(j).inputs()) if (i.equals(sel.tensor())) return false;
        long t0 = OpProfile.start(b);
        if (!steps.get(si).op().forwardChannels(b, in, z, act, sel.channels(), out)) return false;
        if (OpProfile.on()) {
            StringBuilder what = new StringBuilder("fwd " + steps.get(si).op().opType());
            for (int j = si + 1; j <= last; j++) what.append('+').append(steps.get(j).op().opType());
            OpProfile.stop(b, what + " (one channel per image)" + shapes(in), t0);
        }
        return true;
    }

    /** As {@link #execute(Backend, Map, BiFunction, Reuse)}, computing only the channels of {@code sel} (null: all) of its tensor. */
    Map<String, Tensor> execute(Backend b, Map<String, Tensor> inputs, BiFunction<Backend, String, Tensor> weights,
            Reuse reuse, Channels sel) {
        Tensor arena = takeArena(b);
        List<Tensor> temps = new ArrayList<>();
        Map<String, Tensor> env = new HashMap<>(inputs);
        Map<String, Tensor> result = new LinkedHashMap<>();
        Dirty dirty = reuse == null ? null : dirty(reuse, b);
        boolean ok = false;
        try {
            for (int si = 0; si < steps.size(); si++) {
                Step s = steps.get(si);
                if (dirty != null && reused(b, si, arena, env, result, reuse, dirty)) {
                    si = groupEnd(si, b);
                    continue;
                }
                if (joined[si]) {  // its inputs were written where its output lies: nothing to run
                    outputs(b, si, s, arena, env, result);
                    continue;
                }
                if (prologueFuses(si, b)) {
                    // the map (and its activation) applied by the step that reads it, as it reads it
                    int reader = prologueReader(si), last = si + pre[si] - 1;
                    Step c = steps.get(reader);
                    Tensor[] preIn = inputs(b, s, 0, env, weights, temps), in = inputs(b, c, 1, env, weights, temps);
                    Tensor[] out = outputs(b, last, steps.get(last), arena, env, result);
                    long t0 = OpProfile.start(b);
                    c.op().forwardFusedPrologue(b, preIn, s.op(), reader > si + 1 ? steps.get(si + 1).op() : null, in,
                            last > reader ? steps.get(last).op() : null, out[0]);
                    if (OpProfile.on()) OpProfile.stop(b, "fwd " + s.op().opType() + (reader > si + 1 ? "+" + steps.get(si + 1).op().opType() : "")
                            + "+" + c.op().opType() + (last > reader ? "+" + steps.get(last).op().opType() : "")
                            + shapes(new Tensor[] {preIn[0]}) + shapes(in), t0);  // the map's input, then the reader's own
                    si = last;
                    continue;
                }
                Tensor[] in = inputs(b, s, 0, env, weights, temps);
                if (sum[si] > 0 && s.op().fusesSum(sumActivation(si), b)) {
                    // the Add of the residual z (and the activation after it) run in this step's epilogue
                    Step add = steps.get(si + 1);
                    String zn = add.inputs()[s.outputs()[0].equals(add.inputs()[0]) ? 1 : 0];
                    Tensor z = env.get(zn);
                    if (z == null) {
                        z = constant(b, zn, weights, temps);
                        env.put(zn, z);
                    }
                    int last = si + sum[si] - 1;
                    Tensor[] out = outputs(b, last, steps.get(last), arena, env, result);
                    if (channelsOnly(sel, b, si, last, in, z, sumActivation(si), out[0])) {
                        si = last;
                        continue;
                    }
                    long t0 = OpProfile.start(b);
                    s.op().forwardFusedSum(b, in, z, sumActivation(si), out[0]);
                    if (OpProfile.on())
                        OpProfile.stop(b, "fwd " + s.op().opType() + "+Add" + (sum[si] == 3 ? "+" + steps.get(last).op().opType() : "")
                                + shapes(in), t0);
                    si = last;
                    continue;
                }
                if (epilogue[si] && s.op().fuses(steps.get(si + 1).op(), b)) {
                    // the next step (an activation of this step's output alone) runs in this step's epilogue
                    Step next = steps.get(si + 1);
                    Tensor[] out = outputs(b, si + 1, next, arena, env, result);
                    if (channelsOnly(sel, b, si, si + 1, in, null, next.op(), out[0])) {
                        si++;
                        continue;
                    }
                    long t0 = OpProfile.start(b);
                    s.op().forwardFused(b, in, next.op(), out[0]);
                    if (OpProfile.on()) OpProfile.stop(b, "fwd " + s.op().opType() + "+" + next.op().opType() + shapes(in), t0);
                    si++;
                    continue;
                }
                Tensor[] out = outputs(b, si, s, arena, env, result);
                if (channelsOnly(sel, b, si, si, in, null, null, out[0])) continue;
                long t0 = OpProfile.start(b);
                s.op().forward(b, in, out);
                if (OpProfile.on()) OpProfile.stop(b, "fwd " + s.op().opType() + shapes(in), t0);
            }
            for (String f : fetch) {
                if (result.containsKey(f)) continue;
                Tensor src = inputs.get(f);
                if (src != null) {
                    Tensor copy = b.allocate(src.shape());
                    result.put(f, copy);
                    b.copy(src, copy);
                } else if (host.containsKey(f)) {
                    HostTensor h = host.get(f);
                    result.put(f, b.upload(h.floats(), h.shape()));
                } else {
                    throw new SalientException("tensor '" + f + "' was not computed");
                }
            }
            b.synchronize();
            ok = true;
            return result;
        } finally {
            giveBack(b, arena, ok);
            for (Tensor t : temps) t.close();
            if (!ok) for (Tensor t : result.values()) t.close();
        }
    }

    /** Step s's input tensors from input {@code from} on (those before it null): computed, or constants. */
    private Tensor[] inputs(Backend b, Step s, int from, Map<String, Tensor> env, BiFunction<Backend, String, Tensor> weights,
            List<Tensor> temps) {
        Tensor[] in = new Tensor[s.inputs().length];
        for (int i = from; i < in.length; i++) {
            String name = s.inputs()[i];
            if (name.isEmpty()) continue;
            Tensor t = env.get(name);
            if (t == null) {
                t = constant(b, name, weights, temps);
                env.put(name, t);
            }
            in[i] = t;
        }
        return in;
    }

    /** The last step that runs with step si: the steps fused into its epilogue on b, or si itself. */
    private int groupEnd(int si, Backend b) {
        Step s = steps.get(si);
        if (prologueFuses(si, b)) return si + pre[si] - 1;
        if (sum[si] > 0 && s.op().fusesSum(sumActivation(si), b)) return si + sum[si] - 1;
        if (epilogue[si] && s.op().fuses(steps.get(si + 1).op(), b)) return si + 1;
        return si;
    }

    /**
     * Step si's group (with the steps fused into it) taken from reuse instead of run, when no step
     * of it is dirty and reuse holds each output that is read: copied into its buffer, or skipped
     * when nothing reads it. False: the group runs.
     */
    private boolean reused(Backend b, int si, Tensor arena, Map<String, Tensor> env, Map<String, Tensor> result, Reuse reuse,
            Dirty dirty) {
        int last = groupEnd(si, b);
        for (int j = si; j <= last; j++) if (dirty.step()[j]) return false;
        Step s = steps.get(last);
        for (int j = 0; j < s.outputs().length; j++) {
            String o = s.outputs()[j];
            if (outSlot[last][j] == ABSENT || !dirty.read().contains(o)) continue;
            Tensor v = reuse.values().get(o);
            if (v == null || !Arrays.equals(v.shape(), s.outputShapes()[j]) || v.backend() != b) return false;
        }
        Tensor[] out = outputs(b, last, s, arena, env, result);
        for (int j = 0; j < out.length; j++) {
            if (out[j] == null) continue;
            String o = s.outputs()[j];
            if (dirty.read().contains(o)) b.copy(reuse.values().get(o), out[j]);
            else env.remove(o);
        }
        return true;
    }

    /** The output tensors of step si: views of the arena, or new tensors for fetched outputs. */
    private Tensor[] outputs(Backend b, int si, Step s, Tensor arena, Map<String, Tensor> env,
            Map<String, Tensor> result) {
        Tensor[] out = new Tensor[s.outputs().length];
        for (int j = 0; j < out.length; j++) {
            int slot = outSlot[si][j];
            if (slot == ABSENT) continue;
            long[] shape = s.outputShapes()[j];
            if (slot == OWNED) {
                out[j] = b.allocate(shape);
                result.put(s.outputs()[j], out[j]);
            } else {
                out[j] = TensorViews.viewAt(arena, offsets[slot], shape);
            }
            env.put(s.outputs()[j], out[j]);
        }
        return out;
    }

    // ---- arenas, kept between calls so that repeated calls neither allocate nor page-fault

    private final Map<Backend, java.util.Deque<Tensor>> idle = new java.util.IdentityHashMap<>();
    private boolean released;

    /** An idle arena of this plan, or a new one (null when the plan has no intermediates). */
    private Tensor takeArena(Backend b) {
        if (arenaFloats == 0) return null;
        synchronized (idle) {
            java.util.Deque<Tensor> q = idle.get(b);
            if (q != null && !q.isEmpty()) return q.pop();
        }
        return b.allocate(arenaFloats);
    }

    /** Keeps at most as many idle arenas as calls ran concurrently; frees them once the plan is released. */
    private void giveBack(Backend b, Tensor arena, boolean ok) {
        if (arena == null) return;
        synchronized (idle) {
            if (ok && !released) {
                idle.computeIfAbsent(b, k -> new java.util.ArrayDeque<>()).push(arena);
                return;
            }
        }
        arena.close();
    }

    /** Frees the idle arenas (the model calls this when it drops the plan or closes). */
    void release() {
        synchronized (idle) {
            released = true;
            for (java.util.Deque<Tensor> q : idle.values()) for (Tensor t : q) t.close();
            idle.clear();
        }
    }

    private Tensor constant(Backend b, String name, BiFunction<Backend, String, Tensor> weights, List<Tensor> temps) {
        if (graph.constants().containsKey(name)) return weights.apply(b, name);
        HostTensor h = host.get(name);
        if (h == null) throw new SalientException("tensor '" + name + "' is not available");
        Tensor t = b.upload(h.floats(), h.shape());
        temps.add(t);
        return t;
    }
}
