package dev.salient.model;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.onnx.OnnxReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A loaded ONNX model: the rewritten graph IR (BatchNorm folded, constants and
 * shape subgraphs folded, Dropout/Identity removed) and a forward executor
 * with a liveness-based memory plan, cached per input shape.
 *
 * <pre>{@code
 * try (Model m = Model.load(Path.of("resnet.onnx")); Tensor x = cpu.upload(pixels, 1, 3, 224, 224)) {
 *     try (Tensor logits = m.forward(Engine.cpu(), x)) { ... }
 * }
 * }</pre>
 *
 * <p><b>Thread-safety:</b> a loaded Model is immutable and safe to share.
 * {@link #forward} and {@link #run} may be called concurrently from several
 * threads: each call has its own executor state (a buffer set taken from the
 * plan's idle sets, or allocated when all are in use, and returned after the
 * call), plans are cached in a concurrent map, and weights are uploaded once
 * per backend under a lock. Memory held between calls: the weights, and per
 * cached plan as many buffer sets as calls ran at once.
 * {@link #close} must not race with running calls.
 */
public final class Model implements AutoCloseable {
    private static final int MAX_PLANS = 64;

    private final Path file;
    private final Graph graph;
    private final List<ValueInfo> inputs;
    private final List<ValueInfo> outputs;
    private final Map<String, Plan> plans = new ConcurrentHashMap<>();
    private final Map<Backend, Map<String, Tensor>> weights = new IdentityHashMap<>();
    /** Tensors derived from uploaded weights (modified weights of LRP rules), by weight and kind. */
    private final Map<Tensor, Map<String, Tensor>> derived = new IdentityHashMap<>();
    private volatile boolean closed;
    private volatile long memoryLimit = MemoryLimit.hostDefault();

    private final Set<String> removed;
    /** The off-heap constants this model holds (one hold each, let go on close). */
    private final Set<NativeFloats> held;

    private Model(Path file, Graph graph, List<ValueInfo> outputs, Set<String> removed) {
        this.file = file;
        this.removed = Set.copyOf(removed);
        this.graph = graph;
        this.inputs = graph.inputs();
        this.outputs = List.copyOf(outputs);
        Set<NativeFloats> h = offHeap(graph.constants());
        List<NativeFloats> done = new ArrayList<>();
        try {
            for (NativeFloats n : h) {
                n.retain();
                done.add(n);
            }
        } catch (RuntimeException e) {
            for (NativeFloats n : done) n.release();
            throw e;
        }
        this.held = h;
    }

    private static Set<NativeFloats> offHeap(Map<String, HostTensor> constants) {
        Set<NativeFloats> s = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        for (HostTensor t : constants.values()) if (t.isOffHeap()) s.add(t.nativeFloats());
        return s;
    }

    /** Loads and rewrites a model; any problem is a {@link SalientException} with one line. */
    public static Model load(Path onnxFile) {
        return load(onnxFile, Map.of());
    }

    /**
     * Loads a model with some graph inputs bound to constant values (e.g. an
     * int64 shape input of a test graph); bound inputs are folded like initializers.
     */
    public static Model load(Path onnxFile, Map<String, HostTensor> bindInputs) {
        try {
            Graph original = OnnxReader.read(onnxFile, bindInputs);
            Graph g = GraphRewriter.rewrite(original);
            List<ValueInfo> outs = g.outputs();
            boolean allStatic = true;
            for (ValueInfo v : g.inputs()) allStatic &= v.isStatic();
            Set<String> outNames = new LinkedHashSet<>();
            for (ValueInfo o : g.outputs()) outNames.add(o.name());
            if (allStatic) {
                // static shapes: fold shape subgraphs into constants now and record output shapes
                Map<String, long[]> shapes = new HashMap<>();
                for (ValueInfo v : g.inputs()) shapes.put(v.name(), v.shape());
                Plan p = Planner.plan(g, shapes, outNames);
                g = foldPlanned(g, p);
                List<ValueInfo> o2 = new ArrayList<>();
                for (ValueInfo o : outs) o2.add(new ValueInfo(o.name(), p.shape(o.name())));
                outs = o2;
            } else {
                // dynamic batch only: validate the graph at batch 1 now (plans are made per call); other dynamic
                // dims (e.g. image size) have no safe stand-in, so their errors surface at the first call
                boolean batchOnly = true;
                Map<String, long[]> shapes = new HashMap<>();
                for (ValueInfo v : g.inputs()) {
                    long[] s = v.shape();
                    if (s == null) batchOnly = false;
                    else for (int i = 1; i < s.length; i++) batchOnly &= s[i] >= 0;
                    if (s != null) shapes.put(v.name(), Arrays.stream(s).map(d -> d < 0 ? 1 : d).toArray());
                }
                if (batchOnly) Planner.plan(g, shapes, outNames);
            }
            Set<String> removed = original.tensorNames();
            removed.removeAll(g.tensorNames());
            removed.removeAll(g.aliases().keySet());
            g = weightsOffHeap(g);
            Model model = new Model(onnxFile, g, outs, removed);
            freeRewrittenAway(original, bindInputs);
            return model;
        } catch (SalientException e) {
            throw new SalientException(oneLine(onnxFile + ": " + stripPrefix(e.getMessage(), onnxFile.toString())), e);
        } catch (ArithmeticException e) {
            throw new SalientException(onnxFile + ": size overflow while planning (" + e.getMessage() + ")");
        } catch (RuntimeException e) { // a malformed model that slipped past the checks: still one line, never a trace
            throw new SalientException(oneLine(onnxFile + ": invalid model (" + e.getClass().getSimpleName() + ": "
                    + e.getMessage() + ")"), e);
        }
    }

    /**
     * The graph with its large float constants off the Java heap: those the load made on the heap
     * (folded BatchNorm weights, Constant nodes, folded subgraphs) are copied out, so that the heap
     * keeps no weights once the load's garbage is collected.
     */
    private static Graph weightsOffHeap(Graph g) {
        Map<String, HostTensor> c = null;
        for (var e : g.constants().entrySet()) {
            HostTensor t = e.getValue();
            if (t.isFloat() && !t.isOffHeap() && t.numel() >= HostTensor.OFF_HEAP_MIN_NUMEL) {
                if (c == null) c = new LinkedHashMap<>(g.constants());
                c.put(e.getKey(), t.offHeap());
            }
        }
        return c == null ? g : new Graph(g.nodes(), g.inputs(), g.outputs(), c, g.opset(), g.aliases());
    }

    /** Frees at once the off-heap constants the file held that the rewrite replaced (e.g. weights before BatchNorm folding). */
    private static void freeRewrittenAway(Graph original, Map<String, HostTensor> bound) {
        Set<NativeFloats> mine = offHeap(original.constants());
        mine.removeAll(offHeap(bound));
        for (NativeFloats n : mine) n.freeIfUnheld();
    }

    /** Escapes control characters (names inside a model may hold anything) so that a message stays one line. */
    static String oneLine(String msg) {
        if (msg == null) return "null";
        StringBuilder b = new StringBuilder(msg.length());
        for (int i = 0; i < msg.length(); i++) {
            char c = msg.charAt(i);
            if (c < 0x20 || c == 0x7f || c == 0x2028 || c == 0x2029 || c == 0x85) b.append(String.format("\\x%02x", (int) c & 0xff));
            else b.append(c);
        }
        return b.toString();
    }

    private static String stripPrefix(String msg, String f) {
        return msg != null && msg.startsWith(f + ": ") ? msg.substring(f.length() + 2) : msg;
    }

    /** Replaces the nodes a static plan folded on the host by their values. */
    private static Graph foldPlanned(Graph g, Plan p) {
        if (p.foldedNodes().isEmpty()) return g;
        Set<Node> folded = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        folded.addAll(p.foldedNodes());
        Map<String, HostTensor> consts = new LinkedHashMap<>(g.constants());
        List<Node> kept = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (!folded.contains(n)) {
                kept.add(n);
                continue;
            }
            for (String o : n.outputs()) if (!o.isEmpty() && p.hostValue(o) != null) consts.put(o, p.hostValue(o));
        }
        return GraphRewriter.prune(new Graph(kept, g.inputs(), g.outputs(), consts, g.opset(), g.aliases()));
    }

    /** The run-time inputs (initializers excluded), with -1 for dynamic dims. */
    public List<ValueInfo> inputs() {
        return inputs;
    }

    /** The outputs; shapes are concrete when the inputs are static, else as declared. */
    public List<ValueInfo> outputs() {
        return outputs;
    }

    /** The rewritten graph IR. */
    public Graph graph() {
        return graph;
    }

    /**
     * Runs the model on its single input and returns its first output (the caller owns it). On the
     * CPU, a light model (see {@link #subBatch}) runs a large batch as sub-batches whose activations
     * stay in the last-level cache; each image's bits are its own in any batch, so the result is the
     * same.
     */
    public Tensor forward(Backend backend, Tensor input) {
        if (inputs.size() != 1)
            throw new SalientException(file + ": forward needs a model with one input; this one has " + inputs.size()
                    + " (use run)");
        String in = inputs.get(0).name(), out = outputs.get(0).name();
        int sub = input.rank() > 0 && backend == Engine.cpu() && prefix == null && !input.isClosed() ? subBatch(input) : 0;
        if (sub == 0 || input.dim(0) <= sub) return run(backend, Map.of(in, input), Set.of(out)).get(out);
        Classifier c = classifier(input);
        if (c == null) return inSubBatches(backend, input, sub, out);
        // the sub-batches up to the classifier's input, then the classifier once over the whole batch
        try (Tensor features = inSubBatches(backend, input, sub, c.input())) {
            return run(backend, Map.of(in, input), Set.of(out), null,
                    new Plan.Reuse(Map.of(c.input(), features), Set.of(c.weight()))).get(out);
        }
    }

    /** Tensor {@code fetch} of the model on {@code input}, run {@code sub} images at a time. */
    private Tensor inSubBatches(Backend backend, Tensor input, int sub, String fetch) {
        String in = inputs.get(0).name();
        long n = input.dim(0), per = input.numel() / n;
        Tensor y = null;
        try {
            for (long n0 = 0; n0 < n; n0 += sub) {
                long n1 = Math.min(n, n0 + sub);
                long[] xs = input.shape().clone();
                xs[0] = n1 - n0;
                Tensor xc = Tensor.borrowed(backend, input.data().getPointer(n0 * per), input, xs);
                try (Tensor yc = run(backend, Map.of(in, xc), Set.of(fetch)).get(fetch)) {
                    if (y == null) {
                        long[] ys = yc.shape().clone();
                        ys[0] = n;
                        y = backend.allocate(ys);
                    }
                    backend.copyRange(yc, 0, y, n0 * (y.numel() / n), yc.numel());
                }
            }
            return y;
        } catch (RuntimeException ex) {
            if (y != null) y.close();
            throw ex;
        }
    }

    /**
     * The step that makes the output of a split batch from a tensor of the sub-batches: a Gemm or
     * MatMul whose constant weight is at least {@link #CLASSIFIER_BYTES}, run once over the whole
     * batch so that its weight is read once, not once per sub-batch (MobileNetV2's 1280 x 1000
     * classifier, 5 MB, at batch 32 in sub-batches of 8: four calls of 0.38 ms against one of about
     * 0.5). Its rows are the canonical product's chains, one per image, so the bits are those of the
     * sub-batches. Null where there is none, or where the whole batch's plan would exceed the memory
     * budget (its arena is allocated, though only the classifier's slots are written).
     */
    private Classifier classifier(Tensor input) {
        String out = graph.resolve(outputs.get(0).name());
        Plan whole;
        try {
            whole = cachedPlan(Map.of(inputs.get(0).name(), input.shape()), Set.of(out));
        } catch (RuntimeException e) {
            return null;
        }
        if (whole.steps().isEmpty() || whole.activationBytes() > memoryLimit) return null;
        Plan.Step last = whole.steps().get(whole.steps().size() - 1);
        String t = last.op().opType();
        if (!(t.equals("Gemm") || t.equals("MatMul")) || last.outputs().length != 1 || !last.outputs()[0].equals(out)
                || last.inputs().length < 2)
            return null;
        String x = last.inputs()[0], w = last.inputs()[1];
        HostTensor weight = graph.constants().get(w);
        if (x.isEmpty() || graph.constants().containsKey(x) || graph.isInput(x) || weight == null
                || Shapes.numel(weight.shape()) * 4 < CLASSIFIER_BYTES)
            return null;
        return new Classifier(x, w);
    }

    /** Bytes of weight from which {@link #forward} runs a split batch's classifier once: 1 MiB. */
    static final long CLASSIFIER_BYTES = 1L << 20;

    /** A classifier step's input tensor and constant weight. */
    private record Classifier(String input, String weight) {}

    /**
     * Whether a node computes each image's rows from that image's alone, as far as its attributes
     * tell: no axis 0 (Softmax, Concat, Gather, ...), no reduction over it or over every axis, no
     * Transpose that moves it. The shapes at batch 1 and 2 catch the rest (a Reshape that folds the
     * batch in).
     */
    private static boolean rowwise(Node n, long[][] inputShapes) {
        Attributes a = n.attributes();
        int rank = inputShapes.length > 0 && inputShapes[0] != null ? inputShapes[0].length : 0;
        if (a.has("axis") && Math.floorMod(a.getInt("axis", 1), Math.max(1, rank)) == 0) return false;
        if (a.has("axes")) {
            for (long x : a.getInts("axes")) if (Math.floorMod(x, Math.max(1, rank)) == 0) return false;
        } else if (n.opType().startsWith("Reduce")) {
            return false;  // over every axis, or axes given as an input
        }
        if (n.opType().equals("Transpose") && a.has("perm") && a.getInts("perm").length > 0 && a.getInts("perm")[0] != 0)
            return false;
        return true;
    }

    /** Bytes of last-level cache the sub-batches of {@link #forward} aim to stay in: the host's L3, else 32 MiB. */
    static final long CACHE_BYTES = lastLevelCache();

    private static long lastLevelCache() {
        try {
            String v = java.nio.file.Files.readString(Path.of("/sys/devices/system/cpu/cpu0/cache/index3/size")).trim();
            long m = v.endsWith("K") ? 1L << 10 : v.endsWith("M") ? 1L << 20 : 1;
            long b = Long.parseLong(v.replaceAll("[KM]$", "")) * m;
            if (b >= 1L << 20) return b;
        } catch (java.io.IOException | RuntimeException e) {
            // no sysfs entry: the default
        }
        return 32L << 20;
    }

    /** A light model does fewer FLOPs per image than this many times the bytes of its largest activation per image. */
    static final double LIGHT_FLOPS_PER_BYTE = 400;

    private final Map<List<Long>, Integer> subBatches = new ConcurrentHashMap<>();

    /**
     * Images per sub-batch of {@link #forward} for this input's image shape, 0 for the batch whole
     * (always where the model declares a fixed batch). A model whose arithmetic per image is small
     * against its activations (conv and Gemm FLOPs per image below {@link #LIGHT_FLOPS_PER_BYTE} times
     * the bytes of its largest activation of one image) is bound by moving them through the caches,
     * so its sub-batches hold about as many images as fit that activation in the last-level cache:
     * the nearer power of two by ratio (uneven sub-batches split unevenly over the threads:
     * MobileNetV2 at batch 5 and 6 ran 4.9 and 4.7 ms an image, at 4 and 8 4.1; 7 images fit its
     * 4.8 MB expansion in 32 MiB, and sub-batches of 8 ran its batch 32 in 133-141 ms against 141-156
     * for 4, alternating on a noisy machine). A batch is split only where every step keeps one row per
     * image (its shapes at batch 1 and 2, and {@link #rowwise}); there the system property
     * {@code salient.subBatch} sets the size instead (0: never split). Measured on Zen 4 (2 cores,
     * 32 MiB L3), img/s at batch 2 / 4 / 8 / 16 / 32: MobileNetV2 (125 FLOPs a byte of its 96x112x112
     * expansion) 234-238 / 241-244 / 245-246 / 237-243 / 207-229; ResNet-18 (1130) -, 85, 85, 85, 80;
     * ResNet-50 (2560) -, 25.3, 26.4, 26.7, 27.4; DenseNet-121 (1770) -, 35.3, 34.6, 33.1, 35.0.
     */
    int subBatch(Tensor input) {
        long[] declared = inputs.get(0).shape();
        if (declared != null && (declared.length == 0 || declared[0] >= 0)) return 0;  // a fixed batch
        String prop = System.getProperty("salient.subBatch");
        int forced = -1;
        if (prop != null) {
            try {
                forced = Math.max(0, Integer.parseInt(prop.trim()));
            } catch (NumberFormatException e) {
                throw new SalientException("salient.subBatch must be an integer, got '" + prop + "'");
            }
        }
        long[] shape = input.shape();
        List<Long> key = new ArrayList<>();
        for (int i = 1; i < shape.length; i++) key.add(shape[i]);
        int sub = subBatches.computeIfAbsent(key, k -> splittable(shape));
        return sub < 0 ? 0 : forced >= 0 ? forced : sub;
    }

    /** {@link #subBatch}'s size for images of this shape: -1 where the batch may not be split, 0 where it runs whole. */
    private int splittable(long[] shape) {
        long[] one = shape.clone(), two = shape.clone();
        one[0] = 1;
        two[0] = 2;
        Plan p, p2;
        try {
            Set<String> out = new LinkedHashSet<>(List.of(graph.resolve(outputs.get(0).name())));
            p = cachedPlan(Map.of(inputs.get(0).name(), one), out);
            p2 = cachedPlan(Map.of(inputs.get(0).name(), two), out);
        } catch (RuntimeException e) {
            return -1;  // no plan for one or two images: the batch whole
        }
        if (p.steps().size() != p2.steps().size()) return -1;
        double flops = 0;
        long largest = 0;
        for (int si = 0; si < p.steps().size(); si++) {
            Plan.Step st = p.steps().get(si);
            if (!rowwise(st.node(), st.inputShapes())) return -1;
            long[][] os2 = p2.steps().get(si).outputShapes();
            for (int j = 0; j < st.outputShapes().length; j++) {
                long[] os = st.outputShapes()[j];
                if (os == null) continue;
                // one row per image at batch 1 and 2, else the batch is not split
                if (os.length == 0 || os[0] != 1 || os2[j] == null || os2[j].length == 0 || os2[j][0] != 2) return -1;
                largest = Math.max(largest, Shapes.numel(os) * 4);
            }
            String t = st.op().opType();
            long[][] is = st.inputShapes();
            if (st.outputShapes().length == 0 || st.outputShapes()[0] == null || is.length < 2 || is[1] == null) continue;
            long outs = Shapes.numel(st.outputShapes()[0]);
            if (t.equals("Conv") && is[1].length >= 3) flops += 2.0 * outs * (Shapes.numel(is[1]) / is[1][0]);
            else if ((t.equals("Gemm") || t.equals("MatMul")) && is[0] != null && is[0].length > 0)
                flops += 2.0 * outs * is[0][is[0].length - 1];
        }
        if (largest == 0 || flops >= LIGHT_FLOPS_PER_BYTE * largest) return 0;
        int fit = (int) Math.max(1, Math.min(1 << 20, CACHE_BYTES / largest)), pow = Integer.highestOneBit(fit);
        return 2 * fit >= 3 * pow ? 2 * pow : pow;  // the nearer power of two, by ratio
    }

    /**
     * Runs the model and returns the fetched tensors: any graph tensor name
     * (outputs or intermediates of the rewritten graph). The caller owns the
     * returned tensors; the inputs are not closed.
     */
    public Map<String, Tensor> run(Backend backend, Map<String, Tensor> in, Set<String> fetch) {
        return run(backend, in, fetch, null);
    }

    /**
     * As {@link #run(Backend, Map, Set)}, where only channel {@code channels.channels()[n]} of image
     * n of the tensor {@code channels.tensor()} will be read (null: every channel): the step that
     * makes it computes those alone where it can, and writes 0 to the others
     * ({@link Plan.Channels}). What else is fetched is computed in full.
     */
    public Map<String, Tensor> run(Backend backend, Map<String, Tensor> in, Set<String> fetch, Plan.Channels channels) {
        return run(backend, in, fetch, channels, null);
    }

    /** As {@link #run(Backend, Map, Set, Plan.Channels)}, taking from {@code given} what it can (null: from {@link #prefix}). */
    private Map<String, Tensor> run(Backend backend, Map<String, Tensor> in, Set<String> fetch, Plan.Channels channels,
            Plan.Reuse given) {
        if (closed) throw new SalientException(file + ": model is closed");
        if (fetch.isEmpty()) throw new SalientException("nothing to fetch");
        Map<String, long[]> shapes = new HashMap<>();
        for (ValueInfo v : inputs) {
            Tensor t = in.get(v.name());
            if (t == null) throw new SalientException("missing input '" + v.name() + "' (model inputs: " + inputs + ")");
            if (t.backend() != backend)
                throw new SalientException("input '" + v.name() + "' lives on backend " + t.backend().name() + ", not " + backend.name());
            long[] s = t.shape();
            long[] want = v.shape();
            if (want != null) {
                boolean okShape = want.length == s.length;
                for (int i = 0; okShape && i < s.length; i++) okShape = want[i] < 0 || want[i] == s[i];
                if (!okShape)
                    throw new SalientException("input '" + v.name() + "': expected shape " + Arrays.toString(want)
                            + " (-1 = any), got " + Arrays.toString(s));
            }
            shapes.put(v.name(), s);
        }
        for (String k : in.keySet())
            if (shapes.get(k) == null) throw new SalientException("unknown input '" + k + "' (model inputs: " + inputs + ")");
        // fetch names of removed pass-throughs read the tensor they equal
        Map<String, String> real = new LinkedHashMap<>();
        for (String f : fetch) {
            if (removed.contains(f))
                throw new SalientException("tensor '" + f + "' was folded away at load (e.g. a Conv output merged with its"
                        + " BatchNormalization, or a constant); fetch the rewritten graph's tensor instead");
            real.put(f, graph.resolve(f));
        }
        Plan plan = cachedPlan(shapes, new LinkedHashSet<>(real.values()));
        long need = plan.activationBytes();
        if (need > memoryLimit)
            throw new MemoryLimit.Exceeded(file.getFileName() + ": running the model on input " + shapesStr(shapes) + " needs "
                    + MemoryLimit.mib(need) + " of activation memory, over the memory budget of " + MemoryLimit.mib(memoryLimit)
                    + " (lower --batch or the image size, or raise --memory-budget)");
        Plan.Reuse reuse = given;
        Prefix p = prefix;
        if (reuse == null && p != null && inputs.size() == 1) {
            Tensor t = in.get(inputs.get(0).name());
            if (t.numel() == p.input().length && Arrays.equals(t.toArray(), p.input()))
                reuse = new Plan.Reuse(p.values(), p.changed());
        }
        Plan.Channels sel = channels == null ? null : new Plan.Channels(graph.resolve(channels.tensor()), channels.channels());
        Map<String, Tensor> got = plan.execute(backend, in, this::weight, reuse, sel);
        if (real.keySet().equals(got.keySet())) return got;
        Map<String, Tensor> out = new LinkedHashMap<>();
        Set<String> handed = new java.util.HashSet<>();
        try {
            for (var e : real.entrySet()) {
                Tensor t = got.get(e.getValue());
                if (handed.add(e.getValue())) {
                    out.put(e.getKey(), t);
                } else { // two names for one tensor: each caller-owned result is its own copy
                    Tensor c = backend.allocate(t.shape());
                    out.put(e.getKey(), c);
                    backend.copy(t, c);
                }
            }
        } catch (RuntimeException ex) {
            for (Tensor t : got.values()) t.close();
            for (Tensor t : out.values()) if (!got.containsValue(t)) t.close();
            throw ex;
        }
        return out;
    }

    /**
     * Values of a run of a model of the same graph (one whose constants {@code changed} differ
     * from this model's, e.g. the model this one was made from by {@link #withConstants}) on the
     * input {@code input}: a run of this model on that input, bit for bit, takes from them every
     * value that the changed constants do not reach instead of computing it ({@link Plan.Reuse}).
     * The tensors stay the caller's and must outlive the runs.
     */
    public record Prefix(float[] input, Map<String, Tensor> values, Set<String> changed) {}

    private volatile Prefix prefix;

    /** Sets the values a run may take instead of computing them (null: none); returns this model. */
    public Model reusing(Prefix p) {
        this.prefix = p;
        return this;
    }

    /**
     * Caps the activation memory of one call (bytes; default {@link MemoryLimit#hostDefault()}):
     * a call whose plan needs more is refused before it allocates, with a
     * {@link MemoryLimit.Exceeded} that says how much it would need. Returns this model.
     */
    public Model memoryLimit(long bytes) {
        if (bytes <= 0) throw new SalientException("memory limit must be positive, got " + bytes);
        this.memoryLimit = bytes;
        return this;
    }

    public long memoryLimit() {
        return memoryLimit;
    }

    private String shapesStr(Map<String, long[]> shapes) {
        StringBuilder b = new StringBuilder();
        for (ValueInfo v : inputs) {
            if (b.length() > 0) b.append(", ");
            long[] sh = shapes.get(v.name());
            b.append('(');
            for (int i = 0; i < sh.length; i++) b.append(i > 0 ? "," : "").append(sh[i]);
            b.append(')');
        }
        return b.toString();
    }

    /**
     * The plan for these input shapes and fetched tensors of the rewritten graph
     * (for graph-level tools such as a backward walk): its steps, ops and shapes.
     * Plans are cached per shapes and fetch set, shared with {@link #run}.
     */
    public Plan plan(Map<String, long[]> inputShapes, Set<String> fetch) {
        Set<String> f = new LinkedHashSet<>();
        for (String s : fetch) f.add(graph.resolve(s));
        return cachedPlan(inputShapes, f);
    }

    /**
     * The tensors a forward from {@code from} to {@code fetch} reads (the plan's
     * {@link Plan#frontier()}): {@code from} first, then the values computed before it that the
     * rest of the graph still needs, such as the input of a residual branch. For an input of
     * {@code inputShape}; a caller computes them once (by {@link #run}) and feeds them to
     * {@link #runSuffix} as often as it likes.
     */
    public List<String> suffixInputs(long[] inputShape, String from, Set<String> fetch) {
        return suffixPlan(inputShape, from, fetch).frontier();
    }

    /** The suffix plan of {@link #suffixInputs}: only the steps downstream of {@code from} that lead to {@code fetch}. */
    public Plan suffixPlan(long[] inputShape, String from, Set<String> fetch) {
        if (inputs.size() != 1) throw new SalientException(file + ": a suffix forward needs a model with one input");
        String f0 = graph.resolve(from);
        if (removed.contains(from))
            throw new SalientException("tensor '" + from + "' was folded away at load; run from the rewritten graph's tensor instead");
        Set<String> f = new LinkedHashSet<>();
        for (String s : fetch) f.add(graph.resolve(s));
        return cachedPlan(Map.of(inputs.get(0).name(), inputShape), f, f0);
    }

    /**
     * Runs only the part of the graph after {@code from}: {@code given} holds every tensor of
     * {@link #suffixInputs} at the batch of {@code inputShape} (the model input's shape that
     * those values correspond to, for shape inference; the input itself is not read unless it
     * is one of them). Returns the fetched tensors (caller-owned); {@code given} is not closed.
     */
    public Map<String, Tensor> runSuffix(Backend backend, long[] inputShape, String from, Map<String, Tensor> given,
            Set<String> fetch) {
        if (closed) throw new SalientException(file + ": model is closed");
        if (fetch.isEmpty()) throw new SalientException("nothing to fetch");
        for (String x : fetch)
            if (removed.contains(x)) throw new SalientException("tensor '" + x + "' was folded away at load");
        Plan plan = suffixPlan(inputShape, from, fetch);
        Map<String, Tensor> in = new HashMap<>();
        for (String t : plan.frontier()) {
            Tensor v = t.equals(graph.resolve(from)) ? given.get(from) : given.get(t);
            if (v == null) v = given.get(t);
            if (v == null) throw new SalientException("a forward from '" + from + "' needs tensor '" + t + "' (needs " + plan.frontier() + ")");
            if (v.backend() != backend)
                throw new SalientException("tensor '" + t + "' lives on backend " + v.backend().name() + ", not " + backend.name());
            if (!Arrays.equals(v.shape(), plan.shape(t)))
                throw new SalientException("tensor '" + t + "': expected shape " + Arrays.toString(plan.shape(t)) + ", got "
                        + Arrays.toString(v.shape()));
            in.put(t, v);
        }
        long need = plan.activationBytes();
        if (need > memoryLimit)
            throw new MemoryLimit.Exceeded(file.getFileName() + ": running the model from '" + from + "' needs "
                    + MemoryLimit.mib(need) + " of activation memory, over the memory budget of " + MemoryLimit.mib(memoryLimit)
                    + " (lower --batch or the image size, or raise --memory-budget)");
        Map<String, Tensor> got = plan.execute(backend, in, this::weight);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String x : fetch) out.put(x, got.get(graph.resolve(x)));
        if (out.size() != got.size() || out.containsValue(null)) {
            for (Tensor t : got.values()) t.close();
            throw new SalientException("fetch the rewritten graph's tensors once each: " + fetch);
        }
        return out;
    }

    /** The cached plan for input shapes and (resolved) fetch names, planned on first use. */
    private Plan cachedPlan(Map<String, long[]> shapes, Set<String> realFetch) {
        return cachedPlan(shapes, realFetch, null);
    }

    /** As {@link #cachedPlan(Map, Set)}, for the suffix after {@code from} when not null. */
    private Plan cachedPlan(Map<String, long[]> shapes, Set<String> realFetch, String from) {
        StringBuilder key = new StringBuilder(from == null ? "" : "from " + from + ";");
        for (ValueInfo v : inputs) key.append(v.name()).append(Arrays.toString(shapes.get(v.name()))).append(';');
        List<String> sortedFetch = new ArrayList<>(realFetch);
        java.util.Collections.sort(sortedFetch);
        key.append(sortedFetch);
        String k = key.toString();
        Plan plan = plans.get(k);
        if (plan == null) {
            try {
                plan = Planner.plan(graph, shapes, realFetch, from);
            } catch (SalientException e) {
                throw new SalientException(oneLine(e.getMessage()), e);
            }
            synchronized (plans) {
                if (plans.size() >= MAX_PLANS) {
                    for (Plan p : plans.values()) p.release();
                    plans.clear();
                }
                Plan prev = plans.putIfAbsent(k, plan);
                if (prev != null) plan = prev;
            }
        }
        return plan;
    }

    /** A graph constant uploaded to a backend, cached for the model's lifetime (owned by the model: do not close). */
    public Tensor weight(Backend backend, String name) {
        HostTensor h = graph.constants().get(name);
        if (h == null) throw new SalientException("no constant '" + name + "'");
        synchronized (weights) {
            if (closed) throw new SalientException(file + ": model is closed");
            Map<String, Tensor> m = weights.computeIfAbsent(backend, b -> new HashMap<>());
            Tensor t = m.get(name);
            if (t == null) {
                // the CPU backend reads off-heap weights in place; other backends get a copy
                t = h.isOffHeap() && backend == Engine.cpu() ? Tensor.borrowed(backend, h.nativeFloats().pointer(), h.nativeFloats(), h.shape())
                        : backend.upload(h.floats(), h.shape());
                m.put(name, t);
            }
            return t;
        }
    }

    /**
     * A tensor derived from one of this model's uploaded weights ({@code weight}, as
     * {@link #weight} returned it), made once by {@code make} per weight and {@code kind} and
     * cached for the model's lifetime (owned by the model: do not close). Returns null when
     * {@code weight} is not an uploaded weight of this model; the caller then makes its own.
     */
    public Tensor derived(Tensor weight, String kind, java.util.function.UnaryOperator<Tensor> make) {
        synchronized (weights) {
            if (closed) throw new SalientException(file + ": model is closed");
            Map<String, Tensor> mine = weights.get(weight.backend());
            if (mine == null || !mine.containsValue(weight)) return null;
            Map<String, Tensor> m = derived.computeIfAbsent(weight, w -> new HashMap<>());
            Tensor t = m.get(kind);
            if (t == null) {
                t = make.apply(weight);
                m.put(kind, t);
            }
            return t;
        }
    }

    /** How many derived tensors the model holds (see {@link #derived}). */
    public int derivedCount() {
        synchronized (weights) {
            int n = 0;
            for (Map<String, Tensor> m : derived.values()) n += m.size();
            return n;
        }
    }

    /**
     * A model of the same graph with some constants (weights) replaced: its own weight caches
     * and plans, the same file name and memory limit. This model is left as it is.
     */
    public Model withConstants(Map<String, HostTensor> replaced) {
        Map<String, HostTensor> c = new LinkedHashMap<>(graph.constants());
        for (Map.Entry<String, HostTensor> e : replaced.entrySet()) {
            HostTensor old = c.get(e.getKey());
            if (old == null) throw new SalientException("no constant '" + e.getKey() + "'");
            if (!Arrays.equals(old.shape(), e.getValue().shape()))
                throw new SalientException("constant '" + e.getKey() + "' has shape " + Arrays.toString(old.shape())
                        + ", not " + Arrays.toString(e.getValue().shape()));
            c.put(e.getKey(), e.getValue());
        }
        Graph g = new Graph(graph.nodes(), graph.inputs(), graph.outputs(), c, graph.opset(), graph.aliases());
        return new Model(file, g, outputs, removed).memoryLimit(memoryLimit);
    }

    /**
     * Frees the weights uploaded to every backend, the tensors derived from them, and this model's
     * hold on its off-heap constants (freed once no model made from them by
     * {@link #withConstants} holds them). Closing twice does nothing more.
     */
    @Override
    public void close() {
        synchronized (weights) {
            if (closed) return;
            closed = true;
            for (Map<String, Tensor> m : derived.values()) for (Tensor t : m.values()) t.close();
            derived.clear();
            for (Map<String, Tensor> m : weights.values()) for (Tensor t : m.values()) t.close();
            weights.clear();
            for (NativeFloats n : held) n.release();
        }
        synchronized (plans) {
            for (Plan p : plans.values()) p.release();
            plans.clear();
        }
    }

    @Override
    public String toString() {
        return "Model(" + file + ", inputs " + inputs + ", outputs " + outputs + ", " + graph.nodes().size() + " nodes)";
    }
}
