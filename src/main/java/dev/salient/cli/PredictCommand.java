package dev.salient.cli;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.io.Inputs;
import dev.salient.io.NdArray;
import dev.salient.model.Model;
import dev.salient.report.NpyStreamWriter;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code salient predict}: runs the model's forward pass over an NPY, an image
 * or a folder of them and writes the logits (N, classes) as float32 NPY. Prints
 * one line per sample (source, top-1 class, its logit) unless {@code --quiet}.
 */
@Command(name = "predict", mixinStandardHelpOptions = true,
        description = "Run a model's forward pass and write its logits (N, classes) as float32 NPY.")
public final class PredictCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "M.onnx", description = "The ONNX model.")
    Path model;

    @Option(names = "--input", required = true, paramLabel = "X.npy|IMG|DIR",
            description = "An NPY (N,C,H,W) or (C,H,W), a PNG/JPEG, or a folder of them (sorted by name). NPY values "
                    + "go in as they are (uint8/int NPYs are not scaled to [0,1]; images are).")
    Path input;

    @Option(names = "--out", required = true, paramLabel = "logits.npy", description = "Where to write the logits.")
    Path out;

    @Option(names = "--quiet", description = "Do not print the per-sample top-1 lines.")
    boolean quiet;

    @Option(names = "--strict", description = "Fail on logits with NaN or infinite values (default: warn).")
    boolean strict;

    @Mixin
    RunOptions run;

    @Mixin
    PreprocessOptions pre;

    @Override
    public Integer call() throws java.io.IOException {
        if (!out.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".npy"))
            throw new SalientException("--out must name a .npy file, got " + out);
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter stderr = spec.commandLine().getErr();
        run.validate();
        List<Path> files = Inputs.list(input); // fail on a missing input before loading the model
        RunOutput.checkNpyOut(out, RunOutput.inputsOf(files, model));
        Backend backend = run.backend();
        long t0 = System.nanoTime();
        List<Map<String, Object>> failures = new ArrayList<>();
        String stoppedBy = null;
        long rowsWritten = 0, nonFinite = 0, classes = 0;
        try (Model m = run.limit(Model.load(model)); Interrupts stop = Interrupts.install()) {
            ModelChecks.classifierOutput(m, "predict");
            long[] declared = m.inputs().get(0).shape();
            int batch = declared != null && declared.length > 0 && declared[0] > 0 ? (int) Math.min(declared[0], run.batch()) : run.batch();
            NpyStreamWriter npy = null;
            try {
                for (Path f : files) {
                    // each file on its own: a bad image in a folder is skipped and recorded, the others go on
                    Inputs in;
                    List<Inputs.Batch> batches = new ArrayList<>();
                    try {
                        in = Inputs.open(f, declared, pre.toPreprocess()).window(pre.window());
                        for (Inputs.Batch b : in.batches(batch)) batches.add(b);
                    } catch (SalientException e) {
                        if (files.size() == 1) throw e;
                        failures.add(Map.of("source", f.toString(), "error", Main.oneLine(e.getMessage())));
                        stderr.println("salient: warning: skipped " + Main.oneLine(e.getMessage()));
                        stderr.flush();
                        continue;
                    }
                    for (Inputs.Batch b : batches) {
                        NdArray logits;
                        try (Tensor x = b.input().upload(backend); Tensor y = m.forward(backend, x)) {
                            logits = ModelChecks.logits(NdArray.of(y), b.input().dim(0));
                        }
                        long bad = RunOutput.countNonFinite(logits.data());
                        if (bad > 0) {
                            String what = bad + " non-finite logit(s) (NaN or infinite) for " + b.sources().get(0)
                                    + (b.sources().size() > 1 ? " and the rest of its batch" : "");
                            if (strict) throw new SalientException(what + " (--strict)");
                            stderr.println("salient: warning: " + what);
                            stderr.flush();
                            nonFinite += bad;
                        }
                        if (npy == null) npy = new NpyStreamWriter(out, classes = logits.dim(1));
                        npy.append(logits.data(), 0, logits.data().length);
                        rowsWritten += logits.dim(0);
                        if (!quiet) printTop1(stdout, b.sources(), logits);
                        if (stop.requested() != null) break;
                    }
                    if (stop.requested() != null) {
                        stoppedBy = stop.requested();
                        break;
                    }
                }
            } finally {
                if (npy != null) npy.close();
            }
            if (rowsWritten == 0 && stoppedBy == null)
                throw new SalientException("no input could be read (" + failures.size() + " failed)");
            if (Files.isDirectory(input)) RunOutput.writeSkipped(out, input, failures, stoppedBy == null);
            if (!quiet) {
                stdout.printf(Locale.ROOT, "wrote logits %s to %s (%s, %.1f ms)%s%s%s%n",
                        Inputs.shapeStr(new long[] {rowsWritten, classes}), out,
                        backend.name(), (System.nanoTime() - t0) / 1e6,
                        failures.isEmpty() ? "" : " (" + failures.size() + " input(s) skipped)",
                        nonFinite == 0 ? "" : " (" + nonFinite + " non-finite)",
                        stoppedBy == null ? "" : " (stopped by SIG" + stoppedBy + ")");
            }
            stdout.flush();
        }
        if (stoppedBy != null) return Interrupts.exitCode(stoppedBy);
        return failures.isEmpty() ? 0 : Main.EXIT_USER_ERROR;
    }

    private static void printTop1(PrintWriter stdout, List<String> sources, NdArray logits) {
        int k = (int) logits.dim(1);
        float[] d = logits.data();
        for (int i = 0; i < sources.size(); i++) {
            int best = 0;
            for (int j = 1; j < k; j++) if (d[i * k + j] > d[i * k + best]) best = j;
            stdout.printf(Locale.ROOT, "%s\ttop1 %d\tlogit %.6g%n", sources.get(i), best, d[i * k + best]);
        }
    }
}
