package dev.salient.cli;

import com.google.gson.GsonBuilder;
import dev.salient.batch.AtomicFiles;
import dev.salient.batch.BatchJob;
import dev.salient.batch.BatchSource;
import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code salient batch}: attributions for a whole dataset, in shards that are
 * committed atomically, resumable after a kill ({@code --resume}). See
 * {@link BatchJob}. Exit codes: 0 every image done, 3 done with some images
 * failed (listed in the shards' records and the summary), 2 a user error or a run
 * stopped by a full disk (what was committed stays).
 */
@Command(name = "batch", mixinStandardHelpOptions = true,
        description = "Attribute a whole dataset: sharded, checkpointed output that --resume continues after a kill.")
public final class BatchCommand implements Callable<Integer> {
    /** Exit code when the run finished but some images failed. */
    public static final int EXIT_PARTIAL = 3;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "M.onnx", description = "The ONNX model.")
    Path model;

    @Option(names = "--input", required = true, paramLabel = "DIR|LIST|PARQUET",
            description = "A folder tree of PNG/JPEG (ImageFolder class folders become labels), a text file with one "
                    + "image path per line, or a Parquet file with a 'path' or 'bytes'/'content' column.")
    Path input;

    @Option(names = "--methods", required = true, split = ",", paramLabel = "A,B,..",
            description = "Methods to run on every image (listed below; each takes the method options it knows).")
    List<String> methods;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder: manifest.json, summary.json, shards/.")
    Path out;

    @Option(names = "--resume", description = "Continue the run in --out: skip committed shards, compute the rest.")
    boolean resume;

    @Option(names = "--shard-size", defaultValue = "256", paramLabel = "N", description = "Images per shard (default: ${DEFAULT-VALUE}).")
    int shardSize;

    @Option(names = "--format", defaultValue = "npy", paramLabel = "npy|parquet",
            description = "Shard files: one NPY per method, or one Parquet with every method (default: ${DEFAULT-VALUE}).")
    String format;

    @Option(names = "--labels", paramLabel = "F.csv", description = "Labels: a CSV of path,label.")
    Path labels;

    @Option(names = "--target", defaultValue = "top1", paramLabel = "top1|K|label",
            description = "The class to explain: top1 (default), a class index, or each image's label.")
    String target;

    @Option(names = "--decode-threads", defaultValue = "2", paramLabel = "N",
            description = "Threads decoding images ahead of the engine (default: ${DEFAULT-VALUE}).")
    int decodeThreads;

    @Option(names = "--prefetch", defaultValue = "0", paramLabel = "N",
            description = "Images decoded ahead of the engine at most (default: 2 x --batch, at least 8).")
    int prefetch;

    @Option(names = "--no-progress", description = "Do not draw the progress bar.")
    boolean noProgress;

    // the methods' own options (--layer, --steps, ...) are added from their specs in Main

    @Mixin
    RunOptions run;

    @Mixin
    PreprocessOptions pre;

    @Override
    public Integer call() throws IOException, InterruptedException {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter stderr = spec.commandLine().getErr();
        BatchJob.Format fmt = switch (format.toLowerCase(Locale.ROOT)) {
            case "npy" -> BatchJob.Format.NPY;
            case "parquet" -> BatchJob.Format.PARQUET;
            default -> throw new SalientException("--format must be npy or parquet, got '" + format + "'");
        };
        Backend backend = run.backend(); // checks --threads, --device and --memory-budget (RunOptions)
        long chunkBudget = run.chunkBudget();
        Map<String, String> given = new TreeMap<>();
        CommandLine.ParseResult pr = spec.commandLine().getParseResult();
        for (String name : ExplainCommand.methodOptionNames()) {
            CommandLine.Model.OptionSpec o = pr == null ? null : pr.matchedOption(name);
            if (o != null) given.put(name, o.getValue());
        }
        List<BatchJob.Method> ms = BatchJob.methods(methods, given, chunkBudget);
        BatchSource source = BatchSource.open(input, labels);
        ProgressBar[] bar = new ProgressBar[1];
        BatchJob.Builder job = BatchJob.builder(model, source, out).target(target).preprocess(pre.toPreprocess())
                .shardSize(shardSize).batch(run.batch()).decodeThreads(decodeThreads).prefetch(prefetch).format(fmt)
                .resume(resume).backend(backend).extra(Map.of("memory_budget_mb", chunkBudget >> 20))
                .listener(new BatchJob.Listener() {
                    long base;

                    @Override
                    public void started(long total, long alreadyDone) {
                        stdout.printf(Locale.ROOT, "batch: %s, %d method(s), %d image(s)%s%n", source, ms.size(), total,
                                alreadyDone > 0 ? ", " + alreadyDone + " already committed" : "");
                        stdout.flush();
                        base = alreadyDone;
                        if (!noProgress)
                            bar[0] = new ProgressBarBuilder().setTaskName("batch").setInitialMax(total).startsFrom(alreadyDone,
                                    java.time.Duration.ZERO).setStyle(ProgressBarStyle.ASCII).showSpeed().setUnit(" img", 1)
                                    .setConsumer(new ConsoleProgressBarConsumer(System.err)).build();
                    }

                    @Override
                    public void progress(long handled) {
                        if (bar[0] != null) bar[0].stepTo(base + handled);
                    }

                    @Override
                    public void warning(String line) {
                        stderr.println("salient: warning: " + Main.oneLine(line));
                        stderr.flush();
                    }
                });
        job.methods(ms);
        BatchJob.Result r;
        try {
            r = job.build().run();
        } finally {
            if (bar[0] != null) bar[0].close();
        }
        writeSummary(r);
        for (int i = 0; i < Math.min(10, r.failures().size()); i++) {
            BatchJob.Failure f = r.failures().get(i);
            stderr.println("salient: warning: image " + f.index() + " failed: " + Main.oneLine(f.error()));
        }
        if (r.failedNow() > 10) stderr.println("salient: warning: ... " + (r.failedNow() - 10) + " more failed (see the shards' .json records)");
        stderr.flush();
        double rate = r.computed() / Math.max(1e-9, r.seconds());
        stdout.printf(Locale.ROOT, "batch: %d image(s) x %d method(s): %d computed now (%d failed), %d already committed; "
                        + "%.1f s, %.2f img/s%n", r.total(), ms.size(), r.computed(), r.failedNow(), r.skipped(), r.seconds(), rate);
        stdout.printf(Locale.ROOT, "batch: time per phase: decode %.2f s (%d thread(s); the engine waited %.2f s), engine %.2f s, "
                        + "write %.2f s (the engine waited %.2f s)%n", r.decodeSeconds(), decodeThreads, r.waitDecodeSeconds(),
                r.engineSeconds(), r.writeSeconds(), r.waitWriteSeconds());
        stdout.printf(Locale.ROOT, "batch: %s%s -> %s%n", r.failedTotal() == 0 ? "complete" : "complete with failures: ",
                r.failedTotal() == 0 ? "" : r.failedTotal() + " image(s) could not be explained (exit " + EXIT_PARTIAL + ")", out);
        stdout.flush();
        return r.partial() ? EXIT_PARTIAL : 0;
    }

    private void writeSummary(BatchJob.Result r) throws IOException {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("images", r.total());
        s.put("computed", r.computed());
        s.put("failed_now", r.failedNow());
        s.put("failed_total", r.failedTotal());
        s.put("skipped_committed", r.skipped());
        s.put("seconds", r.seconds());
        s.put("images_per_second", r.computed() / Math.max(1e-9, r.seconds()));
        Map<String, Object> ph = new LinkedHashMap<>();
        ph.put("decode_s", r.decodeSeconds());
        ph.put("engine_s", r.engineSeconds());
        ph.put("write_s", r.writeSeconds());
        ph.put("engine_waited_for_decode_s", r.waitDecodeSeconds());
        ph.put("engine_waited_for_write_s", r.waitWriteSeconds());
        s.put("phases", ph);
        s.put("failures", r.failures());
        AtomicFiles.write(out.resolve("summary.json"), new GsonBuilder().setPrettyPrinting().disableHtmlEscaping()
                .serializeSpecialFloatingPointValues().create().toJson(s).getBytes(StandardCharsets.UTF_8));
    }
}
