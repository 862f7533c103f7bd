package dev.salient.batch;

import com.google.gson.JsonObject;
import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.Methods;
import dev.salient.explain.Target;
import dev.salient.io.Images;
import dev.salient.io.NdArray;
import dev.salient.io.Preprocess;
import dev.salient.model.Model;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * Attribution of a whole dataset: source -> shards -> checkpoint -> sink.
 *
 * <p>Items of a {@link BatchSource} are cut into shards of {@code shardSize}
 * consecutive images. Images are decoded on a pool of threads that runs a bounded
 * window ahead of the engine (decode overlaps compute, memory stays bounded); the
 * engine runs every method on batches that never cross a shard; a {@link ShardWriter}
 * thread streams the results to the shard's files and commits each shard atomically,
 * then the manifest. A run that is killed loses at most its open shard: with
 * {@code resume} it checks the manifest (its own checksum, the model's, the options
 * and each committed shard's file checksums), skips what is committed and computes
 * the rest, and ends with the same files an uninterrupted run writes. An image that
 * cannot be read or explained is recorded with its error and the run goes on.
 *
 * <pre>{@code
 * BatchJob.Result r = BatchJob.builder(Path.of("resnet18.onnx"), BatchSource.open(Path.of("images/"), null), Path.of("out"))
 *         .methods(BatchJob.methods(List.of("gradcam", "ig"), Map.of("--steps", "32"), 1L << 30))
 *         .shardSize(256).resume(true).build().run();
 * }</pre>
 * This class has no Spark dependency; the Spark job reuses {@link #explainBatch}.
 */
public final class BatchJob {
    public enum Format { NPY, PARQUET }

    /** Runs one method on a batch on a backend. */
    @FunctionalInterface
    public interface Runner {
        Attribution explain(Backend backend, Tensor batch, Target target);
    }

    /**
     * A method to run: its CLI name, its options as the manifest records them (a
     * resumed run must have the same), and how to make it for a loaded model.
     */
    public record Method(String name, Map<String, Object> options, Function<Model, Runner> factory) {}

    public static Method method(String name, Map<String, Object> options, Function<Model, Runner> factory) {
        return new Method(name, options, factory);
    }

    /**
     * Methods by name, from their specs, with options given as command-line text
     * ({@code --steps} -> {@code "32"}): each method takes the options its spec lists;
     * an option that none of them takes is a one-line error. The manifest records each
     * method's options as its spec reports them.
     */
    public static List<Method> methods(List<String> names, Map<String, String> given, long memoryBudget) {
        List<Method> out = new ArrayList<>();
        java.util.Set<String> used = new java.util.HashSet<>();
        for (String raw : names) {
            MethodSpec spec = Methods.get(raw.strip().toLowerCase(java.util.Locale.ROOT));
            Map<String, String> mine = new java.util.TreeMap<>();
            for (var e : given.entrySet())
                if (spec.option(e.getKey()) != null) {
                    mine.put(e.getKey(), e.getValue());
                    used.add(e.getKey());
                }
            MethodOptions o = MethodOptions.parse(spec, mine);
            out.add(new Method(spec.name(), o.report(spec), m -> spec.create(m, o).memoryBudget(memoryBudget)::explain));
        }
        for (String k : given.keySet())
            if (!used.contains(k))
                throw new SalientException(k + " is not an option of " + String.join(", ", names)
                        + " (see 'salient explain --method NAME --help')");
        return out;
    }

    /** Progress callbacks, on the engine thread. */
    public interface Listener {
        /** Before the first image: how many images the run has, how many are already committed. */
        default void started(long total, long alreadyDone) {}

        /** After each engine batch: images handled so far in this run (including failures). */
        default void progress(long handled) {}

        /** A warning (a committed shard that failed its checksum and is recomputed). */
        default void warning(String line) {}
    }

    /** One failed image. */
    public record Failure(long index, String path, String error) {}

    /**
     * What a run did: images in the dataset, those computed now (ok + failed),
     * those skipped as already committed, the failures of this run (the first
     * 100), and time per phase: decode (summed over the decode threads), engine,
     * write (the writer thread), and how long the engine waited for decode and write.
     */
    public record Result(long total, long computed, long failedNow, long skipped, long failedTotal, int shards,
            List<Failure> failures, double seconds, double decodeSeconds, double engineSeconds, double writeSeconds,
            double waitDecodeSeconds, double waitWriteSeconds) {
        public boolean partial() {
            return failedTotal > 0;
        }
    }

    private final Path modelPath;
    private final BatchSource source;
    private final Path out;
    private final List<Method> methods;
    private final String target;
    private final Preprocess preprocess;
    private final int shardSize, batch, decodeThreads, prefetch;
    private final Format format;
    private final boolean resume;
    private final Backend backend;
    private final Map<String, Object> extra;
    private final Listener listener;

    private BatchJob(Builder b) {
        this.modelPath = b.model;
        this.source = b.source;
        this.out = b.out;
        this.methods = List.copyOf(b.methods);
        this.target = b.target;
        this.preprocess = b.preprocess;
        this.shardSize = b.shardSize;
        this.batch = b.batch;
        this.decodeThreads = b.decodeThreads;
        this.prefetch = b.prefetch > 0 ? b.prefetch : Math.max(2 * b.batch, 8);
        this.format = b.format;
        this.resume = b.resume;
        this.backend = b.backend;
        this.extra = b.extra;
        this.listener = b.listener;
    }

    public static Builder builder(Path model, BatchSource source, Path out) {
        return new Builder(model, source, out);
    }

    public static final class Builder {
        private final Path model;
        private final BatchSource source;
        private final Path out;
        private final List<Method> methods = new ArrayList<>();
        private String target = "top1";
        private Preprocess preprocess = Preprocess.defaults();
        private int shardSize = 256, batch = 32, decodeThreads = 2, prefetch;
        private Format format = Format.NPY;
        private boolean resume;
        private Backend backend;
        private Map<String, Object> extra = Map.of();
        private Listener listener = new Listener() {};

        private Builder(Path model, BatchSource source, Path out) {
            this.model = Objects.requireNonNull(model);
            this.source = Objects.requireNonNull(source);
            this.out = Objects.requireNonNull(out);
        }

        public Builder method(Method m) {
            methods.add(m);
            return this;
        }

        public Builder methods(List<Method> ms) {
            methods.addAll(ms);
            return this;
        }

        /** top1 (default), a class index K, or {@code label}: each image's own label. */
        public Builder target(String t) {
            target = t;
            return this;
        }

        public Builder preprocess(Preprocess p) {
            preprocess = p;
            return this;
        }

        public Builder shardSize(int n) {
            shardSize = n;
            return this;
        }

        /** Images per engine batch (default 32). */
        public Builder batch(int n) {
            batch = n;
            return this;
        }

        public Builder decodeThreads(int n) {
            decodeThreads = n;
            return this;
        }

        /** Images decoded ahead of the engine at most (default max(2 x batch, 8)). */
        public Builder prefetch(int n) {
            prefetch = n;
            return this;
        }

        public Builder format(Format f) {
            format = f;
            return this;
        }

        public Builder resume(boolean r) {
            resume = r;
            return this;
        }

        public Builder backend(Backend b) {
            backend = b;
            return this;
        }

        /** More run settings that must match on resume (e.g. the memory budget). */
        public Builder extra(Map<String, Object> e) {
            extra = e;
            return this;
        }

        public Builder listener(Listener l) {
            listener = l;
            return this;
        }

        public BatchJob build() {
            if (methods.isEmpty()) throw new SalientException("batch needs at least one method");
            if (shardSize <= 0) throw new SalientException("--shard-size must be positive, got " + shardSize);
            if (batch <= 0) throw new SalientException("--batch must be positive, got " + batch);
            if (decodeThreads <= 0) throw new SalientException("--decode-threads must be positive, got " + decodeThreads);
            if (prefetch < 0) throw new SalientException("--prefetch must be positive, got " + prefetch);
            if (backend == null) throw new SalientException("batch needs a backend");
            java.util.Set<String> seen = new java.util.HashSet<>();
            for (Method m : methods)
                if (!seen.add(m.name())) throw new SalientException("method '" + m.name() + "' is listed twice");
            if (!target.equals("top1") && !target.equals("label")) {
                try {
                    if (Integer.parseInt(target) < 0) throw new NumberFormatException();
                } catch (NumberFormatException e) {
                    throw new SalientException("batch --target must be top1, label or a class index, got '" + target + "'");
                }
            }
            return new BatchJob(this);
        }
    }

    /** Runs (or resumes) the job. */
    public Result run() throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        String modelSha = AtomicFiles.sha256(checkedModel());
        prepareOut();
        long total = source.size();
        int shards = Math.toIntExact((total + shardSize - 1) / shardSize);
        try (Model model = Model.load(modelPath)) {
            long[] declared = model.inputs().get(0).shape();
            if (declared.length != 4 || declared[1] <= 0)
                throw new SalientException("batch needs a model with a 4-D (N,C,H,W) image input, this one's is "
                        + dev.salient.io.Inputs.shapeStr(declared));
            Preprocess.Resolved pre = preprocess.resolve(declared[1], declared[2], declared[3]);
            JsonObject run = runConfig(modelSha, pre, model);
            Manifest manifest = openManifest(run, shards);
            Set<Integer> done = verified(manifest);
            long skipped = 0;
            for (int s : done) skipped += manifest.shards.get(s).count();
            listener.started(total, skipped);

            List<Runner> runners = new ArrayList<>();
            for (Method m : methods) runners.add(m.factory().apply(model));
            ShardWriter writer = new ShardWriter(out, format, methods.stream().map(Method::name).toList(), manifest);
            manifest.write(out.resolve(Manifest.NAME));
            writer.start();
            ExecutorService pool = Executors.newFixedThreadPool(decodeThreads, r -> {
                Thread t = new Thread(r, "salient-batch-decode");
                t.setDaemon(true);
                return t;
            });
            AtomicLong decodeNanos = new AtomicLong();
            long engineNanos = 0, waitDecode = 0, waitWrite = 0, computed = 0, failedNow = 0;
            List<Failure> failures = new ArrayList<>();
            boolean finished = false;
            try {
                long first = 0;
                while (first < total && done.contains((int) (first / shardSize))) first += shardSize;
                Iterator<BatchSource.Item> items = source.items(Math.min(first, total));
                ArrayDeque<Pending> window = new ArrayDeque<>();
                int shard = -1;
                long shardFirst = 0;
                int shardCount = 0;
                List<BatchSource.Item> batchItems = new ArrayList<>();
                List<String> batchErrors = new ArrayList<>();
                List<NdArray> batchInputs = new ArrayList<>();
                while (true) {
                    // keep the decode window full, skipping committed shards without decoding them
                    while (window.size() < prefetch && items.hasNext()) {
                        BatchSource.Item it = items.next();
                        if (done.contains((int) (it.index() / shardSize))) continue;
                        window.add(new Pending(it, pool.submit(() -> decode(it, pre, decodeNanos))));
                    }
                    Pending p = window.poll();
                    int s = p == null ? -1 : (int) (p.item.index() / shardSize);
                    if (shard >= 0 && s != shard) {
                        // the shard is complete: flush its last batch and commit it
                        long[] w = flush(writer, shard, batchItems, batchErrors, batchInputs, runners, failures);
                        engineNanos += w[0];
                        waitWrite += w[1];
                        failedNow += w[2];
                        long tw = System.nanoTime();
                        writer.endShard(shard, shardFirst, shardCount);
                        waitWrite += System.nanoTime() - tw;
                        shard = -1;
                    }
                    if (p == null) break;
                    if (shard < 0) {
                        shard = s;
                        shardFirst = (long) s * shardSize;
                        shardCount = (int) Math.min(shardSize, total - shardFirst);
                    }
                    long tw = System.nanoTime();
                    NdArray x = null;
                    String error;
                    try {
                        x = p.decoded.get();
                        error = null;
                    } catch (ExecutionException e) {
                        Throwable c = e.getCause();
                        if (!(c instanceof SalientException)) throw new IllegalStateException(c);
                        error = c.getMessage();
                    }
                    waitDecode += System.nanoTime() - tw;
                    if (error == null && target.equals("label") && p.item.label() == null) {
                        error = p.item.path() + ": has no label for --target label";
                        x = null;
                    }
                    batchItems.add(p.item);
                    batchErrors.add(error);
                    batchInputs.add(x);
                    computed++;
                    if (error != null) {
                        failedNow++;
                        if (failures.size() < 100) failures.add(new Failure(p.item.index(), p.item.path(), error));
                    }
                    if (batchInputs.stream().filter(Objects::nonNull).count() >= batch) {
                        long[] w = flush(writer, shard, batchItems, batchErrors, batchInputs, runners, failures);
                        engineNanos += w[0];
                        waitWrite += w[1];
                        failedNow += w[2];
                        listener.progress(computed);
                    }
                }
                listener.progress(computed);
                long tw = System.nanoTime();
                writer.finish();
                waitWrite += System.nanoTime() - tw;
                finished = true;
            } catch (ShardWriter.WriterFailure e) {
                throw stopped(e.getCause(), manifest);
            } finally {
                pool.shutdownNow();
                if (!finished) writer.abort();
            }
            long failedTotal = 0;
            for (Manifest.Shard s : manifest.shards.values()) failedTotal += s.failed();
            double sec = 1e-9;
            return new Result(total, computed, failedNow, skipped, failedTotal, shards, failures,
                    (System.nanoTime() - t0) * sec, decodeNanos.get() * sec, engineNanos * sec, writer.writeNanos() * sec,
                    waitDecode * sec, waitWrite * sec);
        }
    }

    private record Pending(BatchSource.Item item, Future<NdArray> decoded) {}

    private static NdArray decode(BatchSource.Item it, Preprocess.Resolved pre, AtomicLong nanos) {
        long t0 = System.nanoTime();
        try {
            Images.Decoded d = it.bytes() != null ? ImageBytes.decode(it.bytes(), it.path()) : Images.decode(Path.of(it.path()));
            return Images.preprocess(d, pre, it.path()).input();
        } catch (java.nio.file.InvalidPathException e) {
            throw new SalientException(it.path() + ": not a valid path");
        } finally {
            nanos.addAndGet(System.nanoTime() - t0);
        }
    }

    /**
     * Runs the methods on the batch's decoded images and hands the results to the
     * writer; clears the lists. Returns {engine ns, wait-for-writer ns, images failed in the engine}.
     */
    private long[] flush(ShardWriter writer, int shard, List<BatchSource.Item> items, List<String> errors,
            List<NdArray> inputs, List<Runner> runners, List<Failure> failures) throws InterruptedException {
        if (items.isEmpty()) return new long[3];
        long t0 = System.nanoTime();
        int n = items.size();
        String[] err = errors.toArray(new String[0]);
        int[] inBatch = new int[n];
        List<NdArray> xs = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (err[i] != null) {
                inBatch[i] = -1;
                continue;
            }
            inBatch[i] = xs.size();
            xs.add(inputs.get(i));
            labels.add(items.get(i).label());
        }
        Map<String, Attribution> maps = new LinkedHashMap<>();
        long failedHere = 0;
        if (!xs.isEmpty()) {
            try {
                maps = explainBatch(backend, runners, methods, NdArray.concatFirst(xs), target(labels));
            } catch (SalientException whole) {
                // find the image the batch failed on: run each alone, keep the ones that work
                List<NdArray> kept = new ArrayList<>();
                List<Integer> keptLabels = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    if (err[i] != null) continue;
                    try {
                        explainBatch(backend, runners, methods, inputs.get(i), target(List.of(labelOr0(items.get(i)))));
                        inBatch[i] = kept.size();
                        kept.add(inputs.get(i));
                        keptLabels.add(items.get(i).label());
                    } catch (SalientException one) {
                        err[i] = one.getMessage();
                        inBatch[i] = -1;
                        failedHere++;
                        if (failures.size() < 100) failures.add(new Failure(items.get(i).index(), items.get(i).path(), err[i]));
                    }
                }
                if (!kept.isEmpty()) maps = explainBatch(backend, runners, methods, NdArray.concatFirst(kept), target(keptLabels));
            }
        }
        long engine = System.nanoTime() - t0;
        long tw = System.nanoTime();
        writer.put(new ShardWriter.Batch(shard, List.copyOf(items), err, inBatch, maps));
        long wait = System.nanoTime() - tw;
        items.clear();
        errors.clear();
        inputs.clear();
        return new long[] {engine, wait, failedHere};
    }

    private static int labelOr0(BatchSource.Item it) {
        return it.label() == null ? 0 : it.label();
    }

    private Target target(List<Integer> labels) {
        if (target.equals("top1")) return Target.top1();
        if (target.equals("label")) return Target.perImage(labels.stream().mapToInt(Integer::intValue).toArray());
        return Target.index(Integer.parseInt(target));
    }

    /**
     * Runs each method on one uploaded batch: the engine step shared by {@code salient
     * batch} and the Spark job. {@code x} is (N,C,H,W), already preprocessed.
     */
    public static Map<String, Attribution> explainBatch(Backend backend, List<Runner> runners, List<Method> methods,
            NdArray x, Target target) {
        Map<String, Attribution> maps = new LinkedHashMap<>();
        try (Tensor t = x.upload(backend)) {
            for (int m = 0; m < runners.size(); m++) maps.put(methods.get(m).name(), runners.get(m).explain(backend, t, target));
        }
        return maps;
    }

    private Path checkedModel() {
        if (!Files.isRegularFile(modelPath)) throw new SalientException(modelPath + ": no such model file");
        return modelPath;
    }

    /** The run's identity: what must be the same for a resume to continue it. */
    private JsonObject runConfig(String modelSha, Preprocess.Resolved pre, Model model) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("model_sha256", modelSha);
        r.put("input", source.describe());
        if (!source.classes().isEmpty()) r.put("classes", source.classes());
        List<Map<String, Object>> ms = new ArrayList<>();
        for (Method m : methods) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("name", m.name());
            e.put("options", m.options());
            ms.add(e);
        }
        r.put("methods", ms);
        r.put("target", target);
        r.put("preprocess", pre.toString());
        r.put("shard_size", shardSize);
        r.put("format", format.name().toLowerCase(java.util.Locale.ROOT));
        r.put("batch", batch);
        r.put("device", backend.name());
        r.putAll(extra);
        return Manifest.toJson(r);
    }

    private void prepareOut() throws IOException {
        if (Files.exists(out) && !Files.isDirectory(out)) throw new SalientException("--out " + out + " exists and is not a folder");
        boolean hasManifest = Files.exists(out.resolve(Manifest.NAME));
        if (hasManifest && !resume)
            throw new SalientException(out + " already holds a batch run (manifest.json); pass --resume to continue it, "
                    + "or choose a new --out");
        if (!hasManifest && Files.isDirectory(out)) {
            try (var s = Files.list(out)) {
                List<String> foreign = s.map(p -> p.getFileName().toString())
                        .filter(n -> !n.equals("shards") && !n.startsWith(".manifest.json")).toList();
                if (!foreign.isEmpty())
                    throw new SalientException("--out " + out + " is not empty and holds no batch run (found " + foreign.get(0)
                            + "); choose an empty or new folder");
            }
        }
        Files.createDirectories(out.resolve("shards"));
        // temporary files of a killed run: never part of a committed shard
        try (var s = Files.list(out.resolve("shards"))) {
            for (Path p : s.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList()) Files.deleteIfExists(p);
        }
        Files.deleteIfExists(AtomicFiles.temporary(out.resolve(Manifest.NAME)));
    }

    private Manifest openManifest(JsonObject run, int shards) {
        Path f = out.resolve(Manifest.NAME);
        if (!Files.exists(f)) return new Manifest(run, shards);
        Manifest m = Manifest.read(f);
        String d = m.difference(run);
        if (d != null)
            throw new SalientException("--resume: " + out + " holds a run with other settings (" + d + "); "
                    + "use the original model and options, or a new --out");
        return m;
    }

    /** The committed shards whose files are all there with their recorded checksums. */
    private Set<Integer> verified(Manifest m) throws IOException {
        Set<Integer> ok = new java.util.TreeSet<>();
        for (var it = m.shards.values().iterator(); it.hasNext(); ) {
            Manifest.Shard s = it.next();
            String bad = null;
            for (var f : s.files().entrySet()) {
                Path p = out.resolve("shards").resolve(f.getKey());
                if (!Files.isRegularFile(p)) bad = f.getKey() + " is missing";
                else if (!AtomicFiles.sha256(p).equals(f.getValue())) bad = f.getKey() + " does not match its checksum";
                if (bad != null) break;
            }
            if (bad == null) ok.add(s.index());
            else {
                listener.warning("shard " + s.index() + ": " + bad + "; computing it again");
                it.remove();
            }
        }
        return ok;
    }

    private SalientException stopped(Throwable cause, Manifest m) {
        String why = cause.getMessage() == null ? cause.toString() : cause.getMessage().strip();
        boolean full = why.contains("No space left") || why.contains("Disk quota exceeded");
        long images = 0;
        for (Manifest.Shard s : m.shards.values()) images += s.count();
        return new SalientException((full ? "disk full" : "write failed") + " in " + out + " (" + oneLine(why) + "); stopped at a shard "
                + "boundary with " + m.shards.size() + " of " + m.shardsTotal + " shards (" + images + " images) committed; "
                + (full ? "free space and " : "fix it and ") + "run again with --resume");
    }

    private static String oneLine(String s) {
        return s.replaceAll("\\s*[\\r\\n]+\\s*", " ");
    }
}
