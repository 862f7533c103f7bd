package dev.salient.cli;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.io.Inputs;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
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
            description = "An NPY (N,C,H,W) or (C,H,W), a PNG/JPEG, or a folder of them (sorted by name).")
    Path input;

    @Option(names = "--out", required = true, paramLabel = "logits.npy", description = "Where to write the logits.")
    Path out;

    @Option(names = "--quiet", description = "Do not print the per-sample top-1 lines.")
    boolean quiet;

    @Mixin
    RunOptions run;

    @Mixin
    PreprocessOptions pre;

    @Override
    public Integer call() {
        if (!out.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".npy"))
            throw new SalientException("--out must name a .npy file, got " + out);
        if (Files.isDirectory(out)) throw new SalientException("--out " + out + " is a folder");
        PrintWriter stdout = spec.commandLine().getOut();
        Inputs.list(input); // fail on a missing input before loading the model
        Backend backend = run.backend();
        long t0 = System.nanoTime();
        try (Model m = Model.load(model)) {
            if (m.inputs().size() != 1)
                throw new SalientException(model + ": predict feeds one input, the model has " + m.inputs().size()
                        + " (" + m.inputs().stream().map(v -> v.name()).toList() + ")");
            long[] declared = m.inputs().get(0).shape();
            Inputs inputs = Inputs.open(input, declared, pre.toPreprocess());
            int batch = declared != null && declared.length > 0 && declared[0] > 0 ? (int) Math.min(declared[0], run.batch()) : run.batch();
            List<NdArray> logits = new ArrayList<>();
            List<String> sources = new ArrayList<>();
            for (Inputs.Batch b : inputs.batches(batch)) {
                try (Tensor x = b.input().upload(backend); Tensor y = m.forward(backend, x)) {
                    logits.add(asMatrix(NdArray.of(y), b.input().dim(0)));
                }
                sources.addAll(b.sources());
            }
            NdArray all = NdArray.concatFirst(logits);
            Npy.write(out, all);
            if (!quiet) {
                int k = (int) all.dim(1);
                for (int i = 0; i < sources.size(); i++) {
                    int best = 0;
                    for (int j = 1; j < k; j++) if (all.data()[i * k + j] > all.data()[i * k + best]) best = j;
                    stdout.printf(Locale.ROOT, "%s\ttop1 %d\tlogit %.6g%n", sources.get(i), best, all.data()[i * k + best]);
                }
                stdout.printf(Locale.ROOT, "wrote logits %s to %s (%s, %.1f ms)%n", Inputs.shapeStr(all.shape()), out,
                        backend.name(), (System.nanoTime() - t0) / 1e6);
            }
            stdout.flush();
        }
        return 0;
    }

    /** (N, ...) -> (N, rest): a classifier's logits as a matrix. */
    static NdArray asMatrix(NdArray y, long n) {
        if (y.rank() == 0 || y.dim(0) != n)
            throw new SalientException("the model's output has shape " + Inputs.shapeStr(y.shape()) + ", expected ("
                    + n + ", classes)");
        return y.rank() == 2 ? y : new NdArray(new long[] {n, y.data().length / Math.max(1, n)}, y.data());
    }
}
