package dev.salient.batch;

import com.google.gson.GsonBuilder;
import dev.salient.explain.Attribution;
import dev.salient.report.NpyStreamWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The sink of a batch run, on its own thread so that writing overlaps the engine:
 * it takes the results of each engine batch from a small bounded queue (the engine
 * waits when the writer is two batches behind), streams them into the current
 * shard's files under temporary names, and at the shard's end commits them (fsync,
 * rename), writes the shard's per-image record, and then the manifest. A failure
 * (a full disk) removes the shard's temporary files and stops the writer; what was
 * committed before stays committed.
 *
 * <p>Files of shard k: {@code shard-0000k.METHOD.npy} per method (rows of the images
 * that succeeded, in order) or {@code shard-0000k.parquet} (every image, method and
 * target, see {@link ParquetRows}), and {@code shard-0000k.json}: per image its
 * index, path, label, status or error, and per method its rows' targets, scores and
 * convergence deltas.
 */
final class ShardWriter implements Runnable {
    /** The results of one engine batch: consecutive items of one shard. */
    record Batch(int shard, List<BatchSource.Item> items, String[] errors, int[] inBatch, Map<String, Attribution> maps) {}

    private record End(int shard, long first, int count) {}

    private static final Object STOP = new Object();

    private final Path out, shardsDir;
    private final BatchJob.Format format;
    private final List<String> methods;
    private final Manifest manifest;
    private final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(2);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final Thread thread;
    private long writeNanos;
    private int committedShards;

    // the open shard
    private int shard = -1;
    private final Map<String, NpyStreamWriter> npy = new LinkedHashMap<>();
    private final Map<String, long[]> npyShape = new LinkedHashMap<>();
    private final Map<String, Integer> npyRows = new LinkedHashMap<>();
    private ParquetRows parquet;
    private final List<Map<String, Object>> records = new ArrayList<>();
    private int ok, failed;

    ShardWriter(Path out, BatchJob.Format format, List<String> methods, Manifest manifest) {
        this.out = out;
        this.shardsDir = out.resolve("shards");
        this.format = format;
        this.methods = methods;
        this.manifest = manifest;
        this.thread = new Thread(this, "salient-batch-writer");
        thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    static String fileStem(int shard) {
        return String.format("shard-%05d", shard);
    }

    static String methodFile(String method) {
        return method.replace("+", "p").replaceAll("[^A-Za-z0-9_.-]", "_");
    }

    /** Hands over one batch's results; waits while the writer is behind. Throws if the writer failed. */
    void put(Batch b) throws InterruptedException {
        offer(b);
    }

    /** Marks the end of a shard: the writer commits it. */
    void endShard(int shard, long first, int count) throws InterruptedException {
        offer(new End(shard, first, count));
    }

    private void offer(Object o) throws InterruptedException {
        while (!queue.offer(o, 100, TimeUnit.MILLISECONDS)) rethrow();
        rethrow();
    }

    /** Waits for everything handed over to be written; rethrows the writer's failure. */
    void finish() throws InterruptedException {
        if (failure.get() == null) offer(STOP);
        thread.join();
        rethrow();
    }

    /** Stops without committing the open shard (after a failure elsewhere). */
    void abort() {
        thread.interrupt();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    Throwable failure() {
        return failure.get();
    }

    private void rethrow() {
        Throwable t = failure.get();
        if (t != null) throw new WriterFailure(t);
    }

    /** The writer thread's failure, carried to the engine thread. */
    static final class WriterFailure extends RuntimeException {
        WriterFailure(Throwable cause) {
            super(cause.getMessage(), cause);
        }
    }

    long writeNanos() {
        return writeNanos;
    }

    int committedShards() {
        return committedShards;
    }

    @Override
    public void run() {
        try {
            while (true) {
                Object o = queue.take();
                if (o == STOP) return;
                long t0 = System.nanoTime();
                if (o instanceof Batch b) append(b);
                else if (o instanceof End e) commit(e);
                writeNanos += System.nanoTime() - t0;
            }
        } catch (InterruptedException e) {
            discard();
        } catch (Throwable t) {
            discard();
            failure.set(t);
        }
    }

    private void open(int s) throws IOException {
        shard = s;
        npy.clear();
        npyShape.clear();
        npyRows.clear();
        records.clear();
        ok = failed = 0;
        Files.createDirectories(shardsDir);
        if (format == BatchJob.Format.PARQUET)
            parquet = new ParquetRows(AtomicFiles.temporary(shardsDir.resolve(fileStem(s) + ".parquet")));
    }

    private void append(Batch b) throws IOException {
        if (b.shard() != shard) open(b.shard());
        for (int i = 0; i < b.items().size(); i++) {
            BatchSource.Item it = b.items().get(i);
            Map<String, Object> rec = new LinkedHashMap<>();
            rec.put("index", it.index());
            rec.put("path", it.path());
            if (it.label() != null) rec.put("label", it.label());
            if (b.errors()[i] != null) {
                failed++;
                rec.put("status", "failed");
                rec.put("error", b.errors()[i]);
                if (parquet != null)
                    for (String m : methods) parquet.write(ParquetRows.Row.failed(it.path(), it.label(), m, b.errors()[i]));
                records.add(rec);
                continue;
            }
            ok++;
            rec.put("status", "ok");
            Map<String, Object> maps = new LinkedHashMap<>();
            for (String m : methods) {
                Attribution a = b.maps().get(m);
                List<Map<String, Object>> rows = new ArrayList<>();
                for (int r = 0; r < a.rows(); r++) {
                    if (a.images()[r] != b.inBatch()[i]) continue;
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("target", a.targets()[r]);
                    row.put("score", a.scores()[r]);
                    if (a.deltas() != null) row.put("delta", a.deltas()[r]);
                    writeRow(m, a, r, it, row);
                    rows.add(row);
                }
                maps.put(m, rows);
            }
            rec.put("maps", maps);
            records.add(rec);
        }
    }

    private void writeRow(String m, Attribution a, int r, BatchSource.Item it, Map<String, Object> row) throws IOException {
        long[] rowShape = Arrays.copyOfRange(a.shape(), 1, a.shape().length);
        int size = a.rowSize();
        if (parquet != null) {
            int[] shape = Arrays.stream(rowShape).mapToInt(Math::toIntExact).toArray();
            parquet.write(new ParquetRows.Row(it.path(), it.label(), m, a.targets()[r], a.scores()[r],
                    a.deltas() != null ? a.deltas()[r] : null, shape, ParquetRows.floatBytes(a.values(), r * size, size), null));
            return;
        }
        NpyStreamWriter w = npy.get(m);
        if (w == null) {
            w = new NpyStreamWriter(AtomicFiles.temporary(shardsDir.resolve(fileStem(shard) + "." + methodFile(m) + ".npy")),
                    rowShape);
            npy.put(m, w);
            npyShape.put(m, rowShape);
            npyRows.put(m, 0);
        }
        row.put("row", npyRows.get(m));
        npyRows.merge(m, 1, Integer::sum);
        w.append(a.values(), r * size, size);
    }

    private void commit(End e) throws IOException {
        if (e.shard() != shard) open(e.shard()); // a shard with no batch cannot happen, but commit it empty
        Map<String, String> files = new TreeMap<>();
        Map<String, Object> fileInfo = new LinkedHashMap<>();
        if (parquet != null) {
            parquet.close();
            parquet = null;
            String name = fileStem(shard) + ".parquet";
            files.put(name, commitFile(name));
            fileInfo.put("parquet", name);
        }
        for (var w : npy.entrySet()) {
            w.getValue().close();
            String name = fileStem(shard) + "." + methodFile(w.getKey()) + ".npy";
            files.put(name, commitFile(name));
            long[] s = npyShape.get(w.getKey());
            long[] full = new long[s.length + 1];
            full[0] = npyRows.get(w.getKey());
            System.arraycopy(s, 0, full, 1, s.length);
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("file", name);
            info.put("shape", full);
            fileInfo.put(w.getKey(), info);
        }
        npy.clear();
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("shard", shard);
        doc.put("first", e.first());
        doc.put("count", e.count());
        doc.put("ok", ok);
        doc.put("failed", failed);
        doc.put("files", fileInfo);
        doc.put("items", records);
        byte[] json = (new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().serializeSpecialFloatingPointValues()
                .create().toJson(doc) + "\n").getBytes(StandardCharsets.UTF_8);
        String jsonName = fileStem(shard) + ".json";
        AtomicFiles.write(shardsDir.resolve(jsonName), json);
        files.put(jsonName, AtomicFiles.sha256(json));
        manifest.shards.put(shard, new Manifest.Shard(shard, e.first(), e.count(), ok, failed, files));
        try {
            manifest.write(out.resolve(Manifest.NAME));
        } catch (IOException | RuntimeException x) {
            manifest.shards.remove(shard); // not committed: the manifest on disk does not list it
            throw x;
        }
        committedShards++;
        shard = -1;
    }

    private String commitFile(String name) throws IOException {
        Path tmp = AtomicFiles.temporary(shardsDir.resolve(name));
        String sha = AtomicFiles.sha256(tmp);
        AtomicFiles.commit(tmp, shardsDir.resolve(name));
        return sha;
    }

    /** Closes and removes the open shard's temporary files. */
    private void discard() {
        for (var w : npy.entrySet()) {
            try {
                w.getValue().close();
            } catch (RuntimeException ignored) {
                // the file goes anyway
            }
        }
        npy.clear();
        if (parquet != null) {
            try {
                parquet.close();
            } catch (IOException | RuntimeException ignored) {
                // the file goes anyway
            }
            parquet = null;
        }
        try (var s = Files.list(shardsDir)) {
            for (Path p : s.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList()) Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // nothing to clean
        }
    }
}
