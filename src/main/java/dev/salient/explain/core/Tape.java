package dev.salient.explain.core;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.explain.Target;
import dev.salient.model.Model;
import dev.salient.model.OpProfile;
import dev.salient.model.Plan;
import dev.salient.model.ops.Op;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One forward pass that keeps what a data-only backward needs, and that backward.
 * The backward starts from the raw logits of chosen classes and walks only the
 * region between the requested tensors ({@code wrt}) and the output: Grad-CAM on
 * the last block never visits the stem, and no weight gradient is ever formed.
 *
 * <pre>{@code
 * try (Tape t = Tape.record(model, cpu, x, Set.of("layer4_out"))) {
 *     Map<String, Tensor> g = t.backward(t.targets(Target.top1()), BackwardRules.standard());
 * }
 * }</pre>
 * Not thread-safe; one tape per call.
 */
public final class Tape implements AutoCloseable {
    private final Model model;
    private final Backend backend;
    private final Plan plan;
    private final List<Plan.Step> region;
    private final Set<String> desc;
    private final Set<String> wrt;
    private final String output;
    private final Map<String, Tensor> values;
    private final List<Tensor> temps = new ArrayList<>();
    /**
     * A compact tape ({@link #recordShared}): its values hold the input rows, then one row per
     * reference, each serving {@code repeat} consecutive input rows of the batch's second half
     * (0: every row held).
     */
    private int repeat;
    /** A compact tape's rows held (R + R / repeat) and the batch's rows (2R). */
    private long compactRows, wholeRows;

    private Tape(Model model, Backend backend, Plan plan, List<Plan.Step> region, Set<String> desc, Set<String> wrt,
            String output, Map<String, Tensor> values) {
        this.model = model;
        this.backend = backend;
        this.plan = plan;
        this.region = region;
        this.desc = desc;
        this.wrt = wrt;
        this.output = output;
        this.values = values;
    }

    /**
     * Runs the forward pass on {@code input} (the model's single input), keeping
     * the activations of the region between {@code wrt} and the first output.
     * {@code wrt} names graph tensors: the input's name or layer tensors.
     */
    public static Tape record(Model model, Backend backend, Tensor input, Set<String> wrt) {
        return record(model, backend, input, wrt, model.outputs().get(0).name());
    }

    /**
     * As {@link #record(Model, Backend, Tensor, Set)}, with the forward pass stopped at
     * {@code output}, any graph tensor (a layer): feature visualisation backpropagates from a
     * layer, so nothing after it runs. Its backward starts from a seed of that tensor's shape
     * ({@link #backward(Tensor, BackwardRules, Set)}).
     */
    public static Tape record(Model model, Backend backend, Tensor input, Set<String> wrt, String output) {
        return record(model, backend, input, wrt, output, List.of());
    }

    /**
     * As {@link #record(Model, Backend, Tensor, Set)}, keeping only what walks with {@code rules}
     * read ({@link BackwardRule#readsInputs}, {@link BackwardRule#readsOutputs}), besides the
     * logits and {@code wrt}: an output no rule reads is neither kept nor, where the forward can
     * fuse it away (a Conv before its Relu), written. A backward with other rules may find a
     * value missing. No rules: everything is kept.
     */
    public static Tape record(Model model, Backend backend, Tensor input, Set<String> wrt, List<BackwardRules> rules) {
        return record(model, backend, input, wrt, model.outputs().get(0).name(), rules);
    }

    /**
     * As {@link #record(Model, Backend, Tensor, Set, String)}, keeping only what walks with
     * {@code rules} read, as {@link #record(Model, Backend, Tensor, Set, List)} does: where no rule
     * reads a Conv's output (the standard rules read a Relu's output, not its input), the Conv
     * runs with its Relu, or its residual Add and Relu, fused, which gives the same bits.
     */
    public static Tape record(Model model, Backend backend, Tensor input, Set<String> wrt, String output,
            List<BackwardRules> rules) {
        return record(model, backend, input, wrt, output, rules, null);
    }

    /**
     * As {@link #record(Model, Backend, Tensor, Set, String, List)}, where a backward will seed only
     * channel {@code channels[n]} of image n of {@code output} (feature visualisation's channel and
     * neuron objectives; null: any): the step that makes the output computes those channels alone
     * where it can, and the others read 0 ({@link dev.salient.model.Plan.Channels}).
     */
    public static Tape record(Model model, Backend backend, Tensor input, Set<String> wrt, String output,
            List<BackwardRules> rules, int[] channels) {
        if (model.inputs().size() != 1)
            throw new SalientException("attribution needs a model with one input; this one has " + model.inputs().size());
        String inName = model.inputs().get(0).name();
        Map<String, long[]> shapes = Map.of(inName, input.shape());
        Plan plan = model.plan(shapes, Set.of(output));
        Region r = region(model, plan, inName, output, wrt, rules);
        Map<String, Tensor> values = model.run(backend, Map.of(inName, input), r.fetch(),
                channels == null ? null : new dev.salient.model.Plan.Channels(output, channels));
        return new Tape(model, backend, plan, r.steps(), r.desc(), Set.copyOf(wrt), output, values);
    }

    /**
     * As {@link #record(Model, Backend, Tensor, Set)} for a batch of paired rows whose second half
     * repeats a few reference rows: {@code compact} holds the R input rows, then R / repeat
     * reference rows, and stands for the batch of 2R rows whose row R + r is reference row
     * r / repeat. The forward runs on the compact rows only, and the tape keeps them so; the
     * logits, and any value asked for by name, are laid out for all 2R rows. The engine computes
     * each row the same whatever the batch around it, so this is the tape of the whole batch, bit
     * for bit. A first-half walk ({@link BackwardRules#pairedHalves()}) reads the input rows, and
     * its paired rules the compact references ({@link PairedRule.Halves#whole}); any other walk
     * lays every value out first.
     */
    public static Tape recordShared(Model model, Backend backend, Tensor compact, int repeat, Set<String> wrt) {
        if (model.inputs().size() != 1)
            throw new SalientException("attribution needs a model with one input; this one has " + model.inputs().size());
        long d = compact.dim(0);
        if (repeat < 1 || d % (repeat + 1) != 0) throw new IllegalArgumentException(d + " compact rows at repeat " + repeat);
        String inName = model.inputs().get(0).name();
        String output = model.outputs().get(0).name();
        long[] whole = compact.shape();
        whole[0] = d / (repeat + 1) * repeat * 2;
        Plan plan = model.plan(Map.of(inName, whole), Set.of(output));
        Region r = region(model, plan, inName, output, wrt, List.of());
        Map<String, Tensor> values = model.run(backend, Map.of(inName, compact), r.fetch());
        Cost.forwards(d);
        Tape t = new Tape(model, backend, plan, r.steps(), r.desc(), Set.copyOf(wrt), output, values);
        t.repeat = repeat;
        t.compactRows = d;
        t.wholeRows = whole[0];
        try {
            t.value(output); // the logits laid out for every row
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
        return t;
    }

    /** Rows of the whole batch (2R) for a compact tape's value of R + R / repeat rows; a new tensor, or t itself if it is whole. */
    Tensor whole(Tensor t) {
        if (repeat == 0 || t.rank() == 0 || t.dim(0) != compactRows) return t;
        long row = t.numel() / compactRows, inputs = wholeRows / 2;
        long[] sh = t.shape();
        sh[0] = wholeRows;
        return dev.salient.engine.PairedRows.paired(backend, t, inputs * row, repeat, row, sh);
    }

    /** Lays every value out for the whole batch (a walk over all rows reads them so). */
    private void wholeValues() {
        if (repeat == 0) return;
        for (Map.Entry<String, Tensor> e : values.entrySet()) {
            Tensor w = whole(e.getValue());
            if (w != e.getValue()) {
                e.getValue().close();
                e.setValue(w);
            }
        }
        repeat = 0;
    }

    /**
     * A forward pass of only the graph after {@code from} (see {@link Model#runSuffix}) that keeps
     * the logits, for gradient-free methods whose evaluations change a layer rather than the
     * input: {@code given} holds the suffix's inputs at the batch of {@code inputShape}.
     */
    public static Tape recordSuffix(Model model, Backend backend, long[] inputShape, String from, Map<String, Tensor> given) {
        String output = model.outputs().get(0).name();
        Plan plan = model.suffixPlan(inputShape, from, Set.of(output));
        Map<String, Tensor> values = model.runSuffix(backend, inputShape, from, given, Set.of(output));
        return new Tape(model, backend, plan, List.of(), Set.of(), Set.of(), output, values);
    }

    /** The steps between wrt and the output, the tensors downstream of wrt, and what the forward keeps. */
    record Region(List<Plan.Step> steps, Set<String> desc, Set<String> fetch) {}

    static Region region(Model model, Plan plan, String inName, String output, Set<String> wrt, List<BackwardRules> rules) {
        // no wrt: a forward pass that keeps only the logits (gradient-free methods)
        if (wrt.isEmpty()) return new Region(List.of(), Set.of(), new LinkedHashSet<>(List.of(output)));
        for (String w : wrt)
            if (!w.equals(inName) && plan.shape(w) == null) throw new SalientException("unknown tensor '" + w + "'");
        // forward closure of wrt, then the steps that also lead to the output
        Set<String> desc = new HashSet<>(wrt);
        for (Plan.Step s : plan.steps()) {
            boolean hit = false;
            for (String i : s.inputs()) hit |= !i.isEmpty() && desc.contains(i);
            if (hit) for (String o : s.outputs()) if (!o.isEmpty()) desc.add(o);
        }
        Set<String> anc = new HashSet<>(Set.of(output));
        List<Plan.Step> steps = plan.steps();
        boolean[] inRegion = new boolean[steps.size()];
        for (int k = steps.size() - 1; k >= 0; k--) {
            Plan.Step s = steps.get(k);
            boolean feeds = false;
            for (String o : s.outputs()) feeds |= anc.contains(o);
            if (!feeds) continue;
            for (String i : s.inputs()) if (!i.isEmpty()) anc.add(i);
            boolean fromWrt = false;
            for (String i : s.inputs()) fromWrt |= !i.isEmpty() && desc.contains(i);
            inRegion[k] = fromWrt;
        }
        if (!desc.contains(output))
            throw new SalientException("the output '" + output + "' does not depend on " + wrt);
        List<Plan.Step> region = new ArrayList<>();
        Set<String> fetch = new LinkedHashSet<>();
        fetch.add(output);
        fetch.addAll(wrt);
        for (int k = 0; k < steps.size(); k++) {
            if (!inRegion[k]) continue;
            Plan.Step s = steps.get(k);
            region.add(s);
            boolean readsIn = rules.isEmpty(), readsOut = rules.isEmpty();
            for (BackwardRules rs : rules) {
                BackwardRule rule = rs.ruleFor(s.node(), s.op());
                readsIn |= rule.readsInputs();
                readsOut |= rule.readsOutputs();
            }
            if (readsIn) for (String i : s.inputs()) if (!i.isEmpty() && !isConstant(model, plan, i)) fetch.add(i);
            if (readsOut) for (String o : s.outputs()) if (!o.isEmpty()) fetch.add(o);
        }
        return new Region(region, desc, fetch);
    }

    /**
     * Floats one input row needs while a tape records and walks back to {@code wrt}:
     * the executor's buffers, the input, the kept region, and the most gradient
     * floats the walk holds at once. For chunk sizing.
     */
    public static long floatsPerRow(Model model, long[] rowShape, Set<String> wrt) {
        return floatsPerRow(model, rowShape, wrt, List.of());
    }

    /** As {@link #floatsPerRow(Model, long[], Set)} for a tape that keeps what {@code rules} read. */
    public static long floatsPerRow(Model model, long[] rowShape, Set<String> wrt, List<BackwardRules> rules) {
        String inName = model.inputs().get(0).name();
        String output = model.outputs().get(0).name();
        Plan plan = model.plan(Map.of(inName, rowShape), Set.of(output));
        Region r = region(model, plan, inName, output, wrt, rules);
        long kept = 0;
        for (String f : r.fetch()) {
            long[] sh = f.equals(inName) ? rowShape : plan.shape(f);
            if (sh != null) kept += Shapes.numel(sh);
        }
        return plan.bufferFloats() + kept + Shapes.numel(rowShape) + gradientPeak(r, output, plan.shape(output), wrt);
    }

    /**
     * The most floats of gradients that {@link #walk} holds at once, replayed on the
     * shapes: the live output gradients, the step's input gradients and zero-filled
     * missing output gradients, and for the rule's own temporaries twice the step's
     * output and largest input (LRP's z, quotient and contribution, DeepLIFT's
     * multipliers). A gradient lives from the step that first produces it to the
     * step that consumes it, as in the walk; those of {@code wrt} stay.
     */
    static long gradientPeak(Region r, String output, long[] outputShape, Set<String> wrt) {
        Map<String, Long> live = new HashMap<>();
        long sum = outputShape == null ? 0 : Shapes.numel(outputShape);
        live.put(output, sum);
        long peak = sum;
        List<Plan.Step> steps = r.steps();
        for (int k = steps.size() - 1; k >= 0; k--) {
            Plan.Step s = steps.get(k);
            String[] outs = s.outputs(), ins = s.inputs();
            boolean any = false;
            for (String o : outs) any |= !o.isEmpty() && live.containsKey(o);
            if (!any) continue;
            long zeros = 0, outFloats = 0, dIn = 0, maxIn = 0;
            for (int j = 0; j < outs.length; j++) {
                if (outs[j].isEmpty()) continue;
                long n = Shapes.numel(s.outputShapes()[j]);
                outFloats += n;
                if (!live.containsKey(outs[j])) zeros += n;
            }
            for (int i = 0; i < ins.length; i++) {
                if (ins[i].isEmpty() || s.op().isParamInput(i) || !r.desc().contains(ins[i])) continue;
                long n = Shapes.numel(s.inputShapes()[i]);
                dIn += n;
                maxIn = Math.max(maxIn, n);
            }
            peak = Math.max(peak, sum + zeros + dIn + 2 * (outFloats + maxIn));
            for (int i = 0; i < ins.length; i++) {
                if (ins[i].isEmpty() || s.op().isParamInput(i) || !r.desc().contains(ins[i]) || live.containsKey(ins[i]))
                    continue;
                long n = Shapes.numel(s.inputShapes()[i]);
                live.put(ins[i], n);
                sum += n;
            }
            for (String o : outs) {
                if (o.isEmpty() || wrt.contains(o)) continue;
                Long n = live.remove(o);
                if (n != null) sum -= n;
            }
        }
        return peak;
    }

    private static boolean isConstant(Model model, Plan plan, String name) {
        return model.graph().constants().containsKey(name) || plan.hostValue(name) != null;
    }

    /** The first output (raw logits), (N, classes); owned by the tape. */
    public Tensor logits() {
        return values.get(output);
    }

    /** The recorded output: the logits, or the tensor passed to {@link #record(Model, Backend, Tensor, Set, String)}. */
    public Tensor output() {
        return values.get(output);
    }

    /** A kept forward value (an activation of the region, or a wrt tensor); owned by the tape. */
    public Tensor value(String name) {
        Tensor t = values.get(name);
        if (t == null) throw new SalientException("tensor '" + name + "' was not kept by this tape");
        Tensor w = whole(t);
        if (w != t) {
            t.close();
            values.put(name, w);
        }
        return w;
    }

    /** Resolves a target against this tape's logits: (N, maps per image) class indices. */
    public int[][] targets(Target target) {
        Tensor l = logits();
        if (l.rank() != 2) throw new SalientException("expected logits of shape (N, classes), got " + Shapes.str(l.shape()));
        return target.resolve(l.toArray(), (int) l.dim(0), (int) l.dim(1));
    }

    /**
     * Backpropagates d(sum_n logit[n, classes[n]]) to the wrt tensors, with the
     * given rules. Returns the gradients by wrt name; the caller owns them.
     */
    public Map<String, Tensor> backward(int[] classes, BackwardRules rules) {
        return backward(classes, rules, wrt);
    }

    /**
     * As {@link #backward(int[], BackwardRules)}, to a subset {@code to} of the wrt
     * tensors only: the walk stops where no step leads from {@code to} any more.
     */
    public Map<String, Tensor> backward(int[] classes, BackwardRules rules, Set<String> to) {
        if (!wrt.containsAll(to)) throw new SalientException("tensors " + to + " were not recorded by this tape (" + wrt + ")");
        List<Plan.Step> walk = region;
        Set<String> reach = desc;
        if (!to.equals(wrt)) {
            reach = new HashSet<>(to);
            walk = new ArrayList<>();
            for (Plan.Step s : region) {
                boolean hit = false;
                for (String i : s.inputs()) hit |= !i.isEmpty() && reach.contains(i);
                if (!hit) continue;
                walk.add(s);
                for (String o : s.outputs()) if (!o.isEmpty()) reach.add(o);
            }
        }
        Tensor l = logits();
        int n = (int) l.dim(0), c = (int) l.dim(1);
        if (classes.length != n) throw new SalientException("need one target class per row: " + classes.length + " for " + n);
        float[] seed = new float[n * c];
        for (int i = 0; i < n; i++) {
            if (classes[i] < 0 || classes[i] >= c)
                throw new SalientException("target class " + classes[i] + " is out of range: the model has " + c + " classes");
            seed[i * c + classes[i]] = 1f;
        }
        if (rules.isPairedHalves() && halvable(walk, n, classes)) {
            try {
                return walk(backend.upload(java.util.Arrays.copyOf(seed, n / 2 * c), n / 2, c), rules, to, walk, reach, n / 2);
            } catch (HalvesDiverge d) {
                // a paired rule found the reference half's gradient leaving the input half's: all rows
            }
        }
        wholeValues();
        Map<String, Tensor> all = walk(backend.upload(seed, l.shape()), rules, to, walk, reach, n);
        if (!rules.isPairedHalves()) return all;
        // paired rules return the input half's gradients, as the first-half walk does
        Map<String, Tensor> first = new LinkedHashMap<>();
        try {
            for (var e : all.entrySet()) first.put(e.getKey(), Driver.rows(backend, e.getValue(), 0, e.getValue().dim(0) / 2));
        } finally {
            for (Tensor t : all.values()) t.close();
        }
        return first;
    }

    /**
     * A {@link PassThrough} step with one output gradient and one data input that has none yet:
     * the output's gradient becomes the input's, as the rule's copy would make it (same elements,
     * same shape). False where the rule must run.
     */
    private boolean handOn(Plan.Step s, BackwardRules rules, Set<String> reach, Set<String> to, Map<String, Tensor> grads,
            Tensor[] dOut) {
        if (!(rules.ruleFor(s.node(), s.op()) instanceof PassThrough) || s.outputs().length != 1 || dOut[0] == null
                || to.contains(s.outputs()[0]))
            return false;
        int data = -1;
        for (int i = 0; i < s.inputs().length; i++) {
            String in = s.inputs()[i];
            if (in.isEmpty() || s.op().isParamInput(i) || !reach.contains(in)) continue;
            if (data >= 0) return false;
            data = i;
        }
        if (data < 0 || grads.containsKey(s.inputs()[data])) return false;
        long[] shape = s.inputShapes()[data].clone();
        if (dOut[0].rank() == 0 || shape.length != dOut[0].rank()) return false;
        shape[0] = dOut[0].dim(0); // a first-half walk's rows
        if (!java.util.Arrays.equals(shape, dOut[0].shape())) return false;
        grads.put(s.inputs()[data], grads.remove(s.outputs()[0]));
        return true;
    }

    /** A Relu whose backward runs inside that of the step at walk index {@code reader}. */
    private record Fusion(Plan.Step relu, int reader) {}

    /**
     * The Relus of a walk whose backward can run inside a reader's, keyed by the Relu's output:
     * both steps take their own exact VJP, the reader (a Conv or MaxPool over planes, as
     * {@link Op#backwardFusesRelu} says) reads the output as its data input 0 and is the last of
     * its readers the walk visits (the lowest index), and no gradient is asked for there or seeded
     * there. The reader then writes the Relu input's gradient: its own data gradient plus what the
     * other readers gave (where it can add them), masked, in one pass instead of three (the fan-in
     * sum, the Relu's mask and the reader's product), the same floats.
     */
    private Map<String, Fusion> fusableRelus(List<Plan.Step> walk, BackwardRules rules, Set<String> to) {
        Map<String, Integer> readers = new HashMap<>(), last = new HashMap<>();
        Map<String, Plan.Step> relus = new HashMap<>();
        for (int k = 0; k < walk.size(); k++) {
            Plan.Step s = walk.get(k);
            for (int i = 0; i < s.inputs().length; i++)
                if (!s.inputs()[i].isEmpty()) {
                    readers.merge(s.inputs()[i], 1, Integer::sum);
                    last.putIfAbsent(s.inputs()[i], k);
                }
            if (s.op().opType().equals("Relu") && s.outputs().length == 1 && s.inputs().length == 1
                    && rules.isOwn(s.node(), s.op()))
                relus.put(s.outputs()[0], s);
        }
        Map<String, Fusion> fused = new HashMap<>();
        for (Map.Entry<String, Plan.Step> e : relus.entrySet()) {
            String v = e.getKey();
            Plan.Step relu = e.getValue();
            Integer k = last.get(v);
            if (k == null || to.contains(v) || v.equals(output)) continue;
            Plan.Step s = walk.get(k);
            int own = 0;
            for (String in : s.inputs()) if (in.equals(v)) own++;
            if (own != 1 || !s.inputs()[0].equals(v)) continue;
            if (!rules.isOwn(s.node(), s.op()) || !s.op().backwardFusesRelu(s.inputShapes(), readers.get(v) > 1)) continue;
            if (!java.util.Arrays.equals(s.inputShapes()[0], relu.inputShapes()[0])) continue;
            fused.put(v, new Fusion(relu, k));
        }
        return fused;
    }

    /** Where each value is made and read in a walk: the index of its producing step, and of each step that reads it. */
    private record WalkIndex(Map<String, Integer> producer, Map<String, List<Integer>> readers) {
        static WalkIndex of(List<Plan.Step> walk) {
            Map<String, Integer> producer = new HashMap<>();
            Map<String, List<Integer>> readers = new HashMap<>();
            for (int k = 0; k < walk.size(); k++) {
                Plan.Step s = walk.get(k);
                for (String o : s.outputs()) if (!o.isEmpty()) producer.put(o, k);
                for (String i : s.inputs()) if (!i.isEmpty()) readers.computeIfAbsent(i, x -> new ArrayList<>()).add(k);
            }
            return new WalkIndex(producer, readers);
        }
    }

    /**
     * Whether, when both inputs of the Add at walk index {@code k} get its output's gradient g, input
     * {@code view} may read g in place (a borrowed view) while {@code owner} owns it: the walk's next
     * use of either is the view's own VJP reading it, and nothing changes g before that. So the view
     * has no reader but the Add; its producer takes its own VJP (which reads the gradient and writes
     * only its inputs' gradients) and is no pass-through (which would hand the view on); and the walk
     * visits that producer before the owner's producer and before every other reader of the owner
     * (whose contributions are added into g).
     */
    private static boolean viewable(List<Plan.Step> walk, WalkIndex index, BackwardRules rules, int k, String view, String owner) {
        Integer p = index.producer().get(view);
        List<Integer> viewReaders = index.readers().get(view);
        if (p == null || viewReaders == null || viewReaders.size() != 1 || viewReaders.get(0) != k) return false;
        Plan.Step ps = walk.get(p);
        if (!rules.isOwn(ps.node(), ps.op()) || rules.ruleFor(ps.node(), ps.op()) instanceof PassThrough) return false;
        Integer po = index.producer().get(owner);
        if (po != null && po >= p) return false;
        for (int r : index.readers().getOrDefault(owner, List.of())) if (r != k && r >= p) return false;
        return true;
    }

    /**
     * An Add of two distinct values of its output's shape, on its own VJP (which copies the output's
     * gradient to each input): the gradient itself goes to one input that has none yet, added into
     * the gradient an input already has, and for a second input without one it is read in place where
     * the walk allows ({@link #viewable}: a residual block's two branches), else copied. The floats
     * are the VJP's: the same values, or the fan-in's sum of them.
     */
    private boolean handOnSum(Plan.Step s, BackwardRules rules, Set<String> reach, Set<String> to, Map<String, Tensor> grads,
            Tensor[] dOut, List<Plan.Step> walk, WalkIndex index, int k) {
        if (!s.op().opType().equals("Add") || s.outputs().length != 1 || s.inputs().length != 2 || dOut[0] == null
                || to.contains(s.outputs()[0]) || !rules.isOwn(s.node(), s.op()))
            return false;
        String[] ins = s.inputs();
        if (ins[0].isEmpty() || ins[1].isEmpty() || ins[0].equals(ins[1])) return false;
        if (dOut[0].rank() == 0) return false;
        for (int i = 0; i < 2; i++) {
            if (s.op().isParamInput(i)) return false;
            long[] shape = s.inputShapes()[i].clone();
            if (shape.length != dOut[0].rank()) return false;
            shape[0] = dOut[0].dim(0); // a first-half walk's rows
            if (!java.util.Arrays.equals(shape, dOut[0].shape())) return false;
        }
        long t0 = OpProfile.start(backend);
        Tensor g = grads.remove(s.outputs()[0]);
        int mover = -1;
        for (int i = 0; i < 2; i++)
            if (reach.contains(ins[i]) && !grads.containsKey(ins[i]) && mover < 0) mover = i;
        // both without a gradient: one owns g, the other reads it in place where the walk allows
        int viewer = -1;
        if (mover >= 0 && reach.contains(ins[1 - mover]) && !grads.containsKey(ins[1 - mover]) && !to.contains(ins[0])
                && !to.contains(ins[1]))
            for (int v = 0; v < 2 && viewer < 0; v++)
                if (viewable(walk, index, rules, k, ins[v], ins[1 - v])) viewer = v;
        if (viewer >= 0) {
            grads.put(ins[1 - viewer], g);
            grads.put(ins[viewer], Tensor.borrowed(backend, g.data(), g, g.shape()));
            if (OpProfile.on()) OpProfile.stop(backend, "bwd Add, handed on [" + rules.name() + "]", t0);
            return true;
        }
        boolean ok = false;
        try {
            for (int i = 0; i < 2; i++) {
                if (i == mover || !reach.contains(ins[i])) continue;
                Tensor prev = grads.get(ins[i]);
                if (prev != null) {
                    backend.axpby(1f, g, 1f, prev);
                } else {
                    Tensor c = backend.allocate(g.shape());
                    grads.put(ins[i], c);
                    backend.copy(g, c);
                }
            }
            if (mover >= 0) grads.put(ins[mover], g);
            ok = true;
        } finally {
            if (mover < 0 || !ok) g.close();
        }
        if (OpProfile.on()) OpProfile.stop(backend, "bwd Add, handed on [" + rules.name() + "]", t0);
        return true;
    }

    /** Op types whose backward treats every row of a batch on its own (with the dim-0 check below). */
    private static final Set<String> ROWWISE = Set.of("Conv", "Gemm", "MatMul", "Relu", "LeakyRelu", "PRelu", "Clip",
            "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Add", "Sub", "Mul", "Div", "MaxPool", "AveragePool",
            "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Concat", "BatchNormalization", "Identity",
            "Dropout", "Pad");

    /**
     * Whether a walk over the first half of the rows gives the first half of a walk over all:
     * an even batch whose halves target the same classes, and steps that keep rows apart (every
     * activation they read or write has the batch as its first axis, and the op works row by row).
     */
    private boolean halvable(List<Plan.Step> walk, int n, int[] classes) {
        if (n % 2 != 0) return false;
        for (int i = 0; i < n / 2; i++) if (classes[i] != classes[n / 2 + i]) return false;
        for (Plan.Step s : walk) {
            if (!ROWWISE.contains(s.op().opType())) return false;
            for (int i = 0; i < s.inputs().length; i++) {
                String in = s.inputs()[i];
                if (in.isEmpty() || s.op().isParamInput(i) || !values.containsKey(in) && !desc.contains(in)) continue;
                if (s.inputShapes()[i].length == 0 || s.inputShapes()[i][0] != n) return false;
            }
            for (long[] o : s.outputShapes()) if (o.length == 0 || o[0] != n) return false;
        }
        return true;
    }

    /**
     * The first {@code rows} rows of t (its first axis) as a view, when its first axis is the tape's
     * batch, or a compact tape's rows (the input rows lead both).
     */
    private Tensor firstRows(Tensor t, int rows, int n) {
        if (t == null || rows == n || t.rank() == 0) return t;
        long d = t.dim(0);
        if (d != n && !(repeat > 0 && d == compactRows && rows == wholeRows / 2)) return t;
        long[] sh = t.shape().clone();
        sh[0] = rows;
        return dev.salient.model.ops.TensorViews.view(t, sh);
    }

    private static long[] withFirst(long[] shape, int rows, int n) {
        if (rows == n || shape.length == 0 || shape[0] != n) return shape;
        long[] sh = shape.clone();
        sh[0] = rows;
        return sh;
    }

    /**
     * Backpropagates {@code sum(seed ⊙ output)} to the wrt tensors in {@code to}: the data
     * gradient of any scalar objective that is linear in the recorded output, or the
     * vector-Jacobian product of the output with {@code seed} (same shape as {@link #output()};
     * not closed). The caller owns the returned gradients.
     */
    public Map<String, Tensor> backward(Tensor seed, BackwardRules rules, Set<String> to) {
        if (!wrt.containsAll(to)) throw new SalientException("tensors " + to + " were not recorded by this tape (" + wrt + ")");
        if (!java.util.Arrays.equals(seed.shape(), output().shape()))
            throw new SalientException("backward seed of shape " + Shapes.str(seed.shape()) + " for an output of shape "
                    + Shapes.str(output().shape()));
        if (!to.equals(wrt)) throw new SalientException("a seeded backward walks to all recorded tensors " + wrt);
        wholeValues();
        Tensor own = backend.allocate(seed.shape());
        backend.copy(seed, own);
        return walk(own, rules, to, region, desc, (int) seed.dim(0));
    }

    /**
     * The walk itself; takes ownership of {@code seed}. {@code rows}: the tape's batch, or its
     * first half for a paired walk ({@link PairedRule}), whose gradients then hold that half.
     */
    private Map<String, Tensor> walk(Tensor seed, BackwardRules rules, Set<String> to, List<Plan.Step> walk, Set<String> reach,
            int rows) {
        final int n = (int) logits().dim(0);
        final PairedRule.Halves halves = new PairedRule.Halves(this::whole);
        // mixAhead[k]: a step the walk visits after step k (a lower index) mixes the halves
        final boolean[] mixAhead = new boolean[walk.size()];
        if (rows != n)
            for (int k = 1; k < walk.size(); k++) {
                Plan.Step p = walk.get(k - 1);
                mixAhead[k] = mixAhead[k - 1] || rules.ruleFor(p.node(), p.op()) instanceof PairedRule pr && pr.mixesHalves();
            }
        Map<String, Tensor> grads = new HashMap<>();
        Map<String, Tensor> result = new LinkedHashMap<>();
        Map<String, Fusion> reluOf = rows == n ? fusableRelus(walk, rules, to) : Map.of();
        WalkIndex index = WalkIndex.of(walk);
        boolean ok = false;
        try {
            grads.put(output, seed);
            for (int k = walk.size() - 1; k >= 0; k--) {
                Plan.Step s = walk.get(k);
                String[] outs = s.outputs();
                Tensor[] dOut = new Tensor[outs.length];
                boolean any = false;
                for (int j = 0; j < outs.length; j++) {
                    dOut[j] = outs[j].isEmpty() ? null : grads.get(outs[j]);
                    any |= dOut[j] != null;
                }
                if (!any) continue;
                if (handOn(s, rules, reach, to, grads, dOut)) continue;
                if (handOnSum(s, rules, reach, to, grads, dOut, walk, index, k)) continue;
                List<Tensor> local = new ArrayList<>();
                try {
                    for (int j = 0; j < outs.length; j++)
                        if (dOut[j] == null && !outs[j].isEmpty()) {
                            dOut[j] = backend.zeros(withFirst(s.outputShapes()[j], rows, n));
                            local.add(dOut[j]);
                        }
                    Op op = s.op();
                    BackwardRule rule = rules.ruleFor(s.node(), op);
                    // a Relu whose output this step reads last: its backward runs fused into this one's (the
                    // output's other gradient contributions added first), its input gets the gradient, and
                    // the walk then finds nothing to do at the Relu
                    Fusion fusion = s.inputs().length > 0 ? reluOf.get(s.inputs()[0]) : null;
                    Plan.Step relu = fusion != null && fusion.reader() == k ? fusion.relu() : null;
                    Tensor others = relu != null ? grads.get(s.inputs()[0]) : null;
                    if (relu != null && (!reach.contains(s.inputs()[0]) || !reach.contains(relu.inputs()[0])
                            || values.get(s.inputs()[0]) == null || others != null && !op.backwardFusesRelu(s.inputShapes(), true)))
                        relu = null;
                    // a first-half walk: paired rules read both halves, the others see the first
                    boolean whole = rows == n || rule instanceof PairedRule;
                    String[] ins = s.inputs();
                    Tensor[] in = new Tensor[ins.length];
                    Tensor[] out = new Tensor[outs.length];
                    Tensor[] dIn = new Tensor[ins.length];
                    for (int i = 0; i < ins.length; i++) {
                        if (ins[i].isEmpty() || op.isParamInput(i)) continue;
                        // a value no rule reads may not be kept: such a rule gets it only if it is
                        in[i] = rule.readsInputs() ? input(ins[i]) : values.get(ins[i]);
                        if (!whole && values.containsKey(ins[i])) in[i] = firstRows(in[i], rows, n);
                        if (reach.contains(ins[i])) {
                            dIn[i] = backend.allocate(withFirst(s.inputShapes()[i], rows, n));
                            local.add(dIn[i]);
                        }
                    }
                    for (int j = 0; j < outs.length; j++)
                        if (!outs[j].isEmpty()) out[j] = whole ? values.get(outs[j]) : firstRows(values.get(outs[j]), rows, n);
                    long t0 = OpProfile.start(backend);
                    String[] into = ins;
                    if (relu != null) {
                        op.backwardThroughRelu(backend, in, out, dOut, dIn, values.get(ins[0]), others);
                        into = ins.clone();
                        into[0] = relu.inputs()[0];
                        if (others != null) grads.remove(ins[0]).close();
                    } else if (rows != n && rule instanceof PairedRule pr) {
                        halves.mixingAhead(mixAhead[k]);
                        pr.applyHalf(op, backend, in, out, dOut, dIn, halves);
                    }
                    else rule.apply(op, backend, in, out, dOut, dIn);
                    if (OpProfile.on())
                        OpProfile.stop(backend, "bwd " + op.opType() + (relu != null ? "+Relu" : "") + " [" + rules.name() + "]"
                                + (OpProfile.byShape() && in.length > 0 && in[0] != null ? " " + Shapes.str(in[0].shape()) : ""), t0);
                    for (int i = 0; i < ins.length; i++) {
                        if (dIn[i] == null) continue;
                        Tensor prev = grads.get(into[i]);
                        if (prev == null) {
                            grads.put(into[i], dIn[i]);
                            local.remove(dIn[i]);
                        } else {
                            long t1 = OpProfile.start(backend);
                            backend.axpby(1f, dIn[i], 1f, prev);
                            if (OpProfile.on()) OpProfile.stop(backend, "bwd fan-in sum", t1);
                        }
                    }
                } finally {
                    for (Tensor t : local) t.close();
                }
                // output gradients are consumed: free them unless asked for
                for (String o : outs) {
                    if (o.isEmpty() || to.contains(o)) continue;
                    Tensor g = grads.remove(o);
                    if (g != null) g.close();
                }
            }
            for (String w : to) {
                Tensor g = grads.remove(w);
                if (g == null) {
                    long[] shape = values.get(w).shape();
                    shape[0] = n;
                    shape = withFirst(shape, rows, n);
                    g = backend.zeros(shape);
                }
                result.put(w, g);
            }
            ok = true;
            return result;
        } finally {
            for (Tensor t : grads.values()) t.close();
            if (!ok) for (Tensor t : result.values()) t.close();
        }
    }

    private Tensor input(String name) {
        Tensor t = values.get(name);
        if (t != null) return t;
        if (model.graph().constants().containsKey(name)) return model.weight(backend, name);
        var h = plan.hostValue(name);
        if (h != null) {
            Tensor u = backend.upload(h.floats(), h.shape());
            temps.add(u);
            return u;
        }
        throw new SalientException("tensor '" + name + "' is not available to the backward pass");
    }

    @Override
    public void close() {
        for (Tensor t : values.values()) t.close();
        values.clear();
        for (Tensor t : temps) t.close();
        temps.clear();
    }
}
