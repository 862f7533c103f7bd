package dev.salient.cli;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.Methods;
import dev.salient.explain.cam.GradCam;
import dev.salient.explain.gradient.IntegratedGradients;
import dev.salient.explain.Target;
import dev.salient.model.Model;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code salient bench}: end-to-end throughput of one workload on a model, for
 * the side-by-side comparison in scripts/bench-vs-pytorch (the JMH benchmarks in
 * benchmarks/ measure the ops). One warm-up run, then {@code --repeats} timed
 * runs; prints each and the median in images/s.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Time a workload end to end: resnet50-forward, gradcam-resnet50, ig-resnet18 or any method by name "
                + "(eigencam-resnet50, fullgrad-resnet50, cfcam-resnet50, ...; any model works).")
public final class BenchCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--workload", required = true, paramLabel = "W",
            description = "forward (alias resnet50-forward), gradcam (alias gradcam-resnet50) or ig (alias ig-resnet18).")
    String workload;

    @Option(names = "--model", required = true, paramLabel = "M.onnx")
    Path model;

    @Option(names = "--batch", defaultValue = "32", paramLabel = "N", description = "Images per run (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: all cores).")
    Integer threads;

    @Option(names = "--steps", defaultValue = "50", paramLabel = "N", description = "IG Gauss-Legendre steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--repeats", defaultValue = "5", paramLabel = "R", description = "Timed runs (default: ${DEFAULT-VALUE}).")
    int repeats;

    @Option(names = "--size", defaultValue = "224", paramLabel = "S", description = "Input height and width when the model's are dynamic.")
    int size;

    @Option(names = "--layer", defaultValue = "auto", paramLabel = "NAME", description = "Grad-CAM layer (default: auto).")
    String layer;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda|auto")
    String device;

    @Option(names = "--method-option", paramLabel = "--NAME=VALUE",
            description = "A method option for a method workload, e.g. --method-option=--window=16 (repeatable).")
    java.util.List<String> methodOptions = new java.util.ArrayList<>();

    @Option(names = "--warmup", defaultValue = "1", paramLabel = "N", description = "Untimed runs first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Override
    public Integer call() {
        if (batch <= 0 || repeats <= 0) throw new SalientException("--batch and --repeats must be positive");
        if (warmup < 0) throw new SalientException("--warmup must be at least 0, got " + warmup);
        RunOptions ro = new RunOptions();
        ro.device = device;
        ro.batch = batch;
        ro.threads = threads;
        Backend b = ro.backend();
        PrintWriter out = spec.commandLine().getOut();
        try (Model m = Model.load(model)) {
            long[] shape = m.inputs().get(0).shape().clone();
            shape[0] = batch;
            for (int i = 1; i < shape.length; i++) if (shape[i] < 0) shape[i] = i == 1 ? 3 : size;
            float[] x = new float[Math.toIntExact(Arrays.stream(shape).reduce(1, Math::multiplyExact))];
            Random r = new Random(0);
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            String w = switch (workload) {
                case "forward", "resnet50-forward" -> "forward";
                case "gradcam", "gradcam-resnet50" -> "gradcam";
                case "ig", "ig-resnet18" -> "ig";
                default -> {
                    // any other method by its name, optionally suffixed -resnet50 (eigencam-resnet50, ...)
                    String name = workload.replaceFirst("-resnet50$", "");
                    if (!Methods.names().contains(name))
                        throw new SalientException("unknown workload '" + workload + "' (use forward, gradcam, ig or a method: "
                                + String.join(", ", Methods.names()) + ")");
                    yield name;
                }
            };
            Explainer method = null;
            if (!(w.equals("forward") || w.equals("gradcam") || w.equals("ig"))) {
                var ms = Methods.get(w);
                java.util.Map<String, String> given = new java.util.LinkedHashMap<>();
                if (ms.option(MethodOption.LAYER.cli()) != null) given.put(MethodOption.LAYER.cli(), layer);
                for (String kv : methodOptions) {
                    int eq = kv.indexOf('=');
                    if (eq < 0) throw new SalientException("--method-option needs --NAME=VALUE, got '" + kv + "'");
                    given.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
                method = ms.create(m, MethodOptions.parse(ms, given));
            } else if (!methodOptions.isEmpty()) {
                throw new SalientException("--method-option applies to method workloads, not " + w);
            }
            GradCam cam = new GradCam(m, layer);
            IntegratedGradients ig = new IntegratedGradients(m);
            double[] rates = new double[repeats];
            try (Tensor xt = b.upload(x, shape)) {
                for (int rep = -warmup; rep < repeats; rep++) {
                    dev.salient.explain.core.Cost.reset();
                    long t0 = System.nanoTime();
                    switch (w) {
                        case "forward" -> {
                            try (Tensor y = m.forward(b, xt)) {
                                b.synchronize();
                            }
                        }
                        case "gradcam" -> cam.explain(b, xt, Target.top1());
                        case "ig" -> ig.explain(b, xt, Target.top1(), IntegratedGradients.Options.steps(steps));
                        default -> method.explain(b, xt, Target.top1());
                    }
                    double s = (System.nanoTime() - t0) / 1e9;
                    if (rep >= 0) {
                        rates[rep] = batch / s;
                        var fc = dev.salient.explain.core.Cost.counts();
                        out.printf(Locale.ROOT, "run %d: %.3f s, %.3f img/s, forward passes per image: %.1f whole, %.1f up to the "
                                + "layer, %.1f after it%n", rep + 1, s, rates[rep], (double) fc.forwards() / batch,
                                (double) fc.prefixForwards() / batch, (double) fc.suffixForwards() / batch);
                        out.flush();
                    }
                }
            }
            double[] sorted = rates.clone();
            Arrays.sort(sorted);
            double median = repeats % 2 == 1 ? sorted[repeats / 2] : 0.5 * (sorted[repeats / 2 - 1] + sorted[repeats / 2]);
            out.printf(Locale.ROOT, "%s %s batch %d on %s (%d threads): median %.3f img/s%n", w, model.getFileName(), batch,
                    b.name(), dev.salient.engine.CpuNative.salient_get_num_threads(), median);
            out.flush();
        }
        return 0;
    }
}
