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
 * the rest, keeps only the steps the fetched tensors need, and lays their
 * outputs out in one arena by liveness: tensors alive at the same step never
 * share memory, all others may (largest first, lowest free offset).
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

        // memory plan: buffers by liveness (an elementwise step runs in place in the buffer of an input that dies
        // there), then packed into one arena by offset
        Map<String, Integer> lastUse = new HashMap<>();
        for (int i = 0; i < steps.size(); i++) for (String in : steps.get(i).inputs()) if (!in.isEmpty()) lastUse.put(in, i);
        // a ChannelAffine (and its Relu or Clip) before a Conv may run as the conv's prologue (Plan.prologues),
        // the conv reading the affine's input: that input lives until the conv and the step after it (which
        // may run in the conv's epilogue), so neither output is placed over it (DenseNet's transitions: their
        // BatchNorm and Relu ran as passes of their own before). So may a 1x1 Conv (and its activation)
        // before a depthwise 3x3 Conv (MobileNetV2's expansions), or a depthwise 3x3 Conv before a 1x1 Conv,
        // the pair reading the first conv's input.
        for (int i = 0; i + 1 < steps.size(); i++) {
            Plan.Step s = steps.get(i);
            if (s.inputs().length == 0 || s.inputs()[0].isEmpty()) continue;
            int reader = i + 1;
            if (steps.get(reader).op().opType().matches("Relu|Clip") && i + 2 < steps.size()) reader = i + 2;
            if (!steps.get(reader).op().opType().equals("Conv")) continue;
            boolean convs = s.op().opType().equals("Conv")
                    && (kernel(s, 1) && depthwise3x3(steps.get(reader)) || depthwise3x3(s) && kernel(steps.get(reader), 1));
            if (s.op().opType().equals("ChannelAffine") || convs)
                lastUse.merge(s.inputs()[0], Math.min(reader + 1, steps.size() - 1), Math::max);
        }
        List<long[]> bufs = new ArrayList<>(); // {floats, first step, last step}
        // concats laid out in place: each group of tensors shares one buffer (a root), each member a view
        // of it at its offset; the members' slots come after the placed buffers' (kids: {root, offset})
        Map<String, Integer> madeAt = new HashMap<>();  // the step that computes each tensor
        for (int i = 0; i < steps.size(); i++) for (String o : steps.get(i).outputs()) if (!o.isEmpty()) madeAt.put(o, i);
        boolean[] joined = new boolean[steps.size()];
        Map<String, long[]> at = concatsInPlace(steps, madeAt.keySet(), fetch, shapes, joined);
        Map<Long, Integer> rootOf = new HashMap<>();
        List<long[]> kids = new ArrayList<>();
        Map<String, Integer> kidOf = new HashMap<>();
        for (var e : at.entrySet()) {
            long[] m = e.getValue();  // {group, offset from the group's start, floats}
            Integer root = rootOf.get(m[0]);
            int first = madeAt.get(e.getKey()), last = Math.max(first, lastUse.getOrDefault(e.getKey(), first));
            if (root == null) {
                bufs.add(new long[] {m[1] + m[2], first, last});
                rootOf.put(m[0], root = bufs.size() - 1);
            }
            long[] r = bufs.get(root);
            r[0] = Math.max(r[0], m[1] + m[2]);
            r[1] = Math.min(r[1], first);
            r[2] = Math.max(r[2], last);
            kids.add(new long[] {root, m[1]});
            kidOf.put(e.getKey(), kids.size() - 1);
        }
        Map<String, Integer> bufOf = new HashMap<>();
        int[][] outBuf = new int[steps.size()][];
        for (int i = 0; i < steps.size(); i++) {
            Plan.Step s = steps.get(i);
            outBuf[i] = new int[s.outputs().length];
            String donor = "";
            if (s.outputs().length > 0 && !s.outputs()[0].isEmpty() && !fetch.contains(s.outputs()[0])
                    && !kidOf.containsKey(s.outputs()[0])) {
                int ip = s.op().inPlaceInput(s.inputShapes(), s.outputShapes()[0]);
                // an Add of the step just before it takes that step's buffer, so the step may run the sum
                // in its epilogue (Plan.sums: the output must not overlap the other addend)
                if (s.op().opType().equals("Add") && i > 0 && s.inputs().length == 2 && steps.get(i - 1).outputs().length == 1)
                    for (int j = 0; j < 2; j++)
                        if (s.inputs()[j].equals(steps.get(i - 1).outputs()[0]) && lastUse.get(s.inputs()[j]) == i
                                && Arrays.equals(s.inputShapes()[j], s.outputShapes()[0]))
                            ip = j;
                String d = ip >= 0 && ip < s.inputs().length ? s.inputs()[ip] : "";
                if (!d.isEmpty() && bufOf.containsKey(d) && lastUse.get(d) == i
                        && Math.max(1, Shapes.numel(s.outputShapes()[0])) <= bufs.get(bufOf.get(d))[0]) {
                    donor = d;
                    outBuf[i][0] = bufOf.get(d);
                    bufOf.put(s.outputs()[0], bufOf.get(d));
                }
            }
            for (int j = 0; j < s.outputs().length; j++) {
                String o = s.outputs()[j];
                if (j == 0 && !donor.isEmpty()) continue;
                if (o.isEmpty()) {
                    outBuf[i][j] = Plan.ABSENT;
                } else if (kidOf.containsKey(o)) {
                    outBuf[i][j] = -3 - kidOf.get(o);  // its group's slot, numbered below once the buffers are known
                } else if (fetch.contains(o)) {
                    outBuf[i][j] = Plan.OWNED;
                } else {
                    bufs.add(new long[] {Math.max(1, Shapes.numel(s.outputShapes()[j])), i, i});
                    outBuf[i][j] = bufs.size() - 1;
                    bufOf.put(o, bufs.size() - 1);
                }
            }
        }
        for (var e : bufOf.entrySet()) { // a buffer lives until the last read of any tensor it holds
            long[] b = bufs.get(e.getValue());
            Integer last = lastUse.get(e.getKey());
            if (last != null) b[2] = Math.max(b[2], last);
        }
        long[][] placed = Arena.place(bufs);
        long[] offsets = Arrays.copyOf(placed[0], bufs.size() + kids.size());
        for (int k = 0; k < kids.size(); k++) offsets[bufs.size() + k] = placed[0][(int) kids.get(k)[0]] + kids.get(k)[1];
        for (int[] row : outBuf)
            for (int j = 0; j < row.length; j++) if (row[j] <= -3) row[j] = bufs.size() + (-3 - row[j]);
        return new Plan(g, steps, folded, host, shapes, Set.copyOf(fetch), outBuf, offsets, placed[1], frontier, joined);
    }

    /**
     * Concats whose output is their inputs laid end to end ({@link Op#concatenatesInPlace}: DenseNet's
     * feature concats at batch 1, where each dense layer concatenates the block's input with every
     * feature map made so far) are not run: the steps that make their inputs write them where the
     * output lies, so every concat of a block is a view of one buffer. A concat qualifies when its
     * output and inputs are computed by steps, none is fetched (a fetched tensor is the caller's own),
     * no input appears twice or is empty, and the offsets it asks for agree with those of the concats
     * already laid out (the same tensor at one place; inputs that no concat makes never overlapping;
     * every offset a multiple of the arena's alignment). {@code made}: the tensors the steps compute.
     * Returns each member tensor's {group, offset from the group's start, floats}; marks the concats
     * that are not run in {@code joined}.
     */
    static Map<String, long[]> concatsInPlace(List<Plan.Step> steps, Set<String> made, Set<String> fetch,
            Map<String, long[]> shapes, boolean[] joined) {
        Map<String, long[]> at = new HashMap<>();  // tensor -> {group, offset (may be negative until the end)}
        Set<String> joins = new HashSet<>();       // outputs of the concats laid out
        long groups = 0;
        for (int i = 0; i < steps.size(); i++) {
            Plan.Step s = steps.get(i);
            if (s.outputs().length != 1 || s.inputs().length == 0 || !s.op().concatenatesInPlace(s.inputShapes())) continue;
            String o = s.outputs()[0];
            if (o.isEmpty() || fetch.contains(o) || !made.contains(o)) continue;
            boolean ok = true;
            Set<String> seen = new HashSet<>();
            for (String in : s.inputs())
                ok &= !in.isEmpty() && made.contains(in) && !fetch.contains(in) && seen.add(in) && Shapes.numel(shapes.get(in)) > 0;
            if (!ok) continue;
            Map<String, long[]> t = new HashMap<>();
            for (var e : at.entrySet()) t.put(e.getKey(), e.getValue().clone());
            if (!t.containsKey(o)) t.put(o, new long[] {groups++, 0});
            long pos = t.get(o)[1];
            for (String in : s.inputs()) {
                long[] want = {t.get(o)[0], pos};
                long[] cur = t.get(in);
                if (cur == null) {
                    t.put(in, want);
                } else if (cur[0] == want[0]) {
                    ok &= cur[1] == want[1];
                } else {  // the input's whole group moves into the output's, shifted to put it in place
                    long from = cur[0], shift = want[1] - cur[1];
                    for (long[] m : t.values())
                        if (m[0] == from) {
                            m[0] = want[0];
                            m[1] += shift;
                        }
                }
                pos += Shapes.numel(shapes.get(in));
            }
            Set<String> outs = new HashSet<>(joins);
            outs.add(o);
            if (ok && laidOut(t, t.get(o)[0], outs, shapes)) {
                at = t;
                joins.add(o);
                joined[i] = true;
            }
        }
        Map<Long, Long> start = new HashMap<>();
        for (long[] m : at.values()) start.merge(m[0], m[1], Math::min);
        Map<String, long[]> r = new HashMap<>();
        for (var e : at.entrySet())
            r.put(e.getKey(), new long[] {e.getValue()[0], e.getValue()[1] - start.get(e.getValue()[0]), Shapes.numel(shapes.get(e.getKey()))});
        return r;
    }

    /** Whether group g's members are aligned and those no concat makes ({@code outs}) pairwise disjoint. */
    private static boolean laidOut(Map<String, long[]> at, long g, Set<String> outs, Map<String, long[]> shapes) {
        List<long[]> leaves = new ArrayList<>();
        long min = Long.MAX_VALUE;
        for (long[] m : at.values()) if (m[0] == g) min = Math.min(min, m[1]);
        for (var e : at.entrySet()) {
            long[] m = e.getValue();
            if (m[0] != g) continue;
            if ((m[1] - min) % Arena.ALIGN != 0) return false;
            if (!outs.contains(e.getKey())) leaves.add(new long[] {m[1], m[1] + Shapes.numel(shapes.get(e.getKey()))});
        }
        leaves.sort((a, b) -> Long.compare(a[0], b[0]));
        for (int k = 1; k < leaves.size(); k++) if (leaves.get(k)[0] < leaves.get(k - 1)[1]) return false;
        return true;
    }

    /** Offsets of buffers in one arena: largest first, each at the lowest offset free for its whole lifetime. */
    static final class Arena {
        /** Offsets are multiples of 16 floats (64 bytes, a cache line). */
        static final long ALIGN = 16;

        private Arena() {}

        /**
         * Places buffers {floats, first step, last step}; returns {offsets, {arena floats, the most
         * buffers live at once}}. Two buffers whose lifetimes share a step never overlap.
         */
        static long[][] place(List<long[]> bufs) {
            int n = bufs.size();
            Integer[] order = new Integer[n];
            for (int i = 0; i < n; i++) order[i] = i;
            Arrays.sort(order, (a, b) -> bufs.get(a)[0] != bufs.get(b)[0] ? Long.compare(bufs.get(b)[0], bufs.get(a)[0])
                    : Long.compare(bufs.get(a)[1], bufs.get(b)[1]));
            long[] off = new long[n];
            List<Integer> done = new ArrayList<>();
            long total = 0;
            for (int k : order) {
                long[] b = bufs.get(k);
                long size = round(b[0]);
                List<long[]> busy = new ArrayList<>(); // address ranges of placed buffers alive at the same time
                for (int d : done) {
                    long[] o = bufs.get(d);
                    if (o[1] <= b[2] && b[1] <= o[2]) busy.add(new long[] {off[d], off[d] + round(o[0])});
                }
                busy.sort((x, y) -> Long.compare(x[0], y[0]));
                long at = 0;
                for (long[] r : busy) {
                    if (r[0] - at >= size) break;
                    at = Math.max(at, r[1]);
                }
                off[k] = at;
                total = Math.max(total, at + size);
                done.add(k);
            }
            int steps = 0;
            for (long[] b : bufs) steps = (int) Math.max(steps, b[2] + 1);
            int[] live = new int[steps + 1];
            for (long[] b : bufs) {
                live[(int) b[1]]++;
                live[(int) b[2] + 1]--;
            }
            long most = 0, cur = 0;
            for (int v : live) most = Math.max(most, cur += v);
            return new long[][] {off, {total, most}};
        }

        private static long round(long floats) {
            return (floats + ALIGN - 1) / ALIGN * ALIGN;
        }
    }

    /** Whether step s (a Conv) has 3x3 filters of one input channel each over several channels: a depthwise conv. */
    private static boolean depthwise3x3(Plan.Step s) {
        long[][] in = s.inputShapes();
        return kernel(s, 3) && in[1][1] == 1 && in[0] != null && in[0].length == 4 && in[0][1] > 1;
    }

    /** Whether step s (a Conv) has 2-D filters of size r x r: its weight shape (k, c, r, r). */
    private static boolean kernel(Plan.Step s, int r) {
        long[][] in = s.inputShapes();
        return in.length > 1 && in[1] != null && in[1].length == 4 && in[1][2] == r && in[1][3] == r;
    }
}
