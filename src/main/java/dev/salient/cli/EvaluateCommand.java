package dev.salient.cli;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.Methods;
import dev.salient.io.Inputs;
import dev.salient.io.NdArray;
import dev.salient.metrics.Evaluation;
import dev.salient.metrics.Metrics;
import dev.salient.metrics.Scorer;
import dev.salient.metrics.faithfulness.Curves;
import dev.salient.metrics.localisation.Region;
import dev.salient.model.Model;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code salient evaluate}: scores methods with metrics over a set of images. Every method
 * explains every image once, for the image's target (top-1, or its label from
 * {@code --labels}), and every metric reuses the maps. Writes {@code metrics.json},
 * {@code metrics.csv}, the curves as NPY under {@code curves/}, and {@code report.html}
 * ({@link EvaluateOutput}). Method options are taken as {@code explain} takes them, except the
 * names evaluate uses itself ({@code --steps}, {@code --seed}), which are the metrics'.
 */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = "Score attribution methods with faithfulness, localisation, robustness, complexity and "
                + "randomisation metrics; writes metrics.json, metrics.csv, curves and report.html.")
public final class EvaluateCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "M.onnx", description = "The ONNX model.")
    Path model;

    @Option(names = "--input", required = true, paramLabel = "X.npy|IMG|DIR", description = "An NPY, an image or a folder of them.")
    Path input;

    @Option(names = "--methods", required = true, split = ",", paramLabel = "A,B,..", description = "The methods to compare.")
    List<String> methods;

    @Option(names = "--metrics", required = true, split = ",", paramLabel = "m1,m2,..",
            description = "deletion, insertion, morf, lerf, road, avgdrop, increase, win, pointing, energypointing, "
                    + "infidelity, sensitivity, sparseness, complexity, randomisation.")
    List<String> metrics;

    @Option(names = "--boxes", paramLabel = "F.json",
            description = "Ground-truth boxes: {\"<image file name>\": [[x0,y0,x1,y1], ...]} in model-input pixels, inclusive.")
    Path boxes;

    @Option(names = "--masks", paramLabel = "DIR", description = "Per-image binary masks (PNG or NPY named as the image), nonzero inside.")
    Path masks;

    @Option(names = "--labels", paramLabel = "F.csv",
            description = "Targets per image: lines '<image file name>,<class>' (default: each image's top-1 class).")
    Path labels;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "The output folder.")
    Path out;

    @Option(names = "--steps", defaultValue = "100", paramLabel = "N",
            description = "Steps of the deletion/insertion/MoRF/LeRF curves (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--scores", defaultValue = "probability", paramLabel = "probability|logits",
            description = "Scores of the faithfulness metrics: softmax probability (default) or raw logit (torch-cam's default).")
    String scores;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "Seed of every random draw (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--flip-baseline", defaultValue = "zeros", paramLabel = "zeros|mean|blur",
            description = "What MoRF/LeRF put in place of flipped pixels (default: ${DEFAULT-VALUE}).")
    String flipBaseline;

    @Option(names = "--perturbations", defaultValue = "10", paramLabel = "N",
            description = "Perturbations of infidelity and sensitivity (default: ${DEFAULT-VALUE}).")
    int perturbations;

    @Option(names = "--sigma", defaultValue = "0.003", paramLabel = "S", description = "Infidelity's Gaussian std (default: ${DEFAULT-VALUE}).")
    double sigma;

    @Option(names = "--radius", defaultValue = "0.02", paramLabel = "R", description = "Sensitivity's uniform radius (default: ${DEFAULT-VALUE}).")
    double radius;

    @Option(names = "--infidelity-normalize", description = "Captum's normalize=True for infidelity.")
    boolean normalize;

    @Option(names = "--max-images", defaultValue = "0", paramLabel = "N", description = "Use the first N inputs only (0: all).")
    int maxImages;

    @Option(names = "--thumbnails", defaultValue = "16", paramLabel = "N",
            description = "Images shown as thumbnail rows in report.html (default: ${DEFAULT-VALUE}).")
    int thumbnails;

    @Option(names = "--no-progress", description = "Do not report progress on stderr.")
    boolean noProgress;

    @Option(names = "--overwrite", description = "Replace the outputs of an earlier run in the --out folder.")
    boolean overwrite;

    @Mixin
    RunOptions run;

    @Mixin
    PreprocessOptions pre;

    /** Options of evaluate itself; a method option of the same name is not added. */
    static final Set<String> OWN = Set.of("--steps", "--seed", "--model", "--input", "--out", "--methods", "--metrics",
            "--boxes", "--masks", "--labels", "--scores", "--perturbations", "--sigma", "--radius");

    @Override
    public Integer call() throws IOException {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter stderr = spec.commandLine().getErr();
        // ---- options, checked before anything is loaded
        List<String> metricNames = distinct(metrics, "metric");
        List<Metrics.MetricSpec> mspecs = new ArrayList<>();
        for (String m : metricNames) mspecs.add(Metrics.get(m));
        List<String> methodNames = distinct(methods, "method");
        List<MethodSpec> specs = new ArrayList<>();
        for (String m : methodNames) specs.add(Methods.get(m));
        if (steps < 1) throw new SalientException("--steps must be at least 1, got " + steps);
        if (perturbations < 1) throw new SalientException("--perturbations must be at least 1, got " + perturbations);
        if (!(sigma > 0)) throw new SalientException("--sigma must be positive, got " + sigma);
        if (!(radius > 0)) throw new SalientException("--radius must be positive, got " + radius);
        if (maxImages < 0) throw new SalientException("--max-images must be 0 (all) or positive, got " + maxImages);
        if (boxes != null && masks != null) throw new SalientException("give --boxes or --masks, not both");
        for (Metrics.MetricSpec m : mspecs)
            if (m.needsRegion() && boxes == null && masks == null)
                throw new SalientException("metric " + m.name() + " needs ground-truth regions: give --boxes F.json or --masks DIR");
        Scorer.Type type = Scorer.Type.parse(scores);
        Curves.Baseline flip = Curves.Baseline.parse(flipBaseline);
        Map<String, String> given = givenMethodOptions();
        Map<String, MethodOptions> opts = new LinkedHashMap<>();
        for (MethodSpec s : specs) {
            Map<String, String> mine = new TreeMap<>();
            for (Map.Entry<String, String> e : given.entrySet()) if (s.option(e.getKey()) != null) mine.put(e.getKey(), e.getValue());
            opts.put(s.name(), MethodOptions.parse(s, mine));
        }
        for (String g : given.keySet())
            if (specs.stream().noneMatch(s -> s.option(g) != null))
                throw new SalientException("none of the methods " + methodNames + " takes " + g);
        run.validate();
        List<Path> files = Inputs.list(input);
        EvaluateOutput.prepare(out, overwrite, files);
        Backend backend = run.backend();
        long t0 = System.nanoTime();
        try (Model m = run.limit(Model.load(model))) {
            ModelChecks.classifierOutput(m, "evaluate");
            long[] declared = m.inputs().get(0).shape();
            // ---- inputs, targets and regions
            List<NdArray> rows = new ArrayList<>();
            List<String> sources = new ArrayList<>();
            List<NdArray> rgbs = new ArrayList<>();
            int count = 0;
            for (Path f : files) {
                if (maxImages > 0 && count >= maxImages) break;
                Inputs.Batch b = Inputs.open(f, declared, pre.toPreprocess()).all();
                for (int i = 0; i < b.input().dim(0) && (maxImages == 0 || count < maxImages); i++, count++) {
                    rows.add(b.input().sliceFirst(i, i + 1));
                    sources.add(b.sources().get(i));
                    rgbs.add(b.rgb() == null || b.rgb().size() <= i ? null : b.rgb().get(i));
                }
            }
            if (rows.isEmpty()) throw new SalientException("no input images in " + input);
            long[] s0 = rows.get(0).shape();
            int c = (int) s0[1], h = (int) s0[2], w = (int) s0[3];
            Map<String, Region> regions = boxes != null ? EvaluateOutput.readBoxes(boxes, sources, h, w)
                    : masks != null ? EvaluateOutput.readMasks(masks, sources, h, w) : Map.of();
            Map<String, Integer> labelOf = labels != null ? EvaluateOutput.readLabels(labels, sources) : Map.of();
            int[] targets = new int[rows.size()];
            List<Integer> needTop1 = new ArrayList<>();
            for (int i = 0; i < rows.size(); i++) {
                Integer l = labelOf.get(EvaluateOutput.key(sources.get(i)));
                if (l != null) targets[i] = l;
                else needTop1.add(i);
            }
            if (!needTop1.isEmpty()) {
                Scorer sc = new Scorer(m, backend, run.chunkBudget());
                NdArray all = NdArray.concatFirst(rows);
                try (dev.salient.engine.Tensor x = all.upload(backend)) {
                    float[] logits = dev.salient.explain.core.Driver.forwardChunked(m, backend, x,
                            Math.max(1, sc.rowsPerChunk(new long[] {c, h, w})));
                    int nc = logits.length / rows.size();
                    for (int i : needTop1) {
                        int best = 0;
                        for (int k = 1; k < nc; k++) if (logits[i * nc + k] > logits[i * nc + best]) best = k;
                        targets[i] = best;
                    }
                }
            }
            List<Evaluation.Image> images = new ArrayList<>();
            for (int i = 0; i < rows.size(); i++)
                images.add(new Evaluation.Image(sources.get(i), rows.get(i).data(), c, h, w, targets[i],
                        regions.get(EvaluateOutput.key(sources.get(i)))));
            // ---- methods
            List<Evaluation.Method> ms = new ArrayList<>();
            for (MethodSpec s : specs) {
                MethodOptions o = opts.get(s.name());
                long budget = run.chunkBudget();
                ms.add(new Evaluation.Method(s.name(), s.create(m, o).memoryBudget(budget),
                        mm -> s.create(mm, o).memoryBudget(budget)));
            }
            if (metricNames.contains("randomisation")) dev.salient.metrics.randomisation.ModelRandomisation.layersTopDown(m);
            Evaluation.Options eo = new Evaluation.Options(metricNames, steps, type, seed, flip, perturbations, sigma, radius,
                    normalize);
            Evaluation.Progress progress = noProgress ? null : (done, total) -> {
                if (done == total || done % Math.max(1, total / 20) == 0) {
                    stderr.printf(Locale.ROOT, "evaluate: %d/%d images%n", done, total);
                    stderr.flush();
                }
            };
            long e0 = System.nanoTime();
            Map<String, Long> nanos = new LinkedHashMap<>();
            List<Evaluation.ImageResult> results = Evaluation.run(m, backend, run.chunkBudget(), images, ms, eo, run.batch(),
                    progress, nanos);
            long evalNanos = System.nanoTime() - e0;
            Map<String, Object> options = new LinkedHashMap<>();
            options.put("device", backend.name());
            options.put("methods", methodNames);
            options.put("metrics", metricNames);
            options.put("steps", steps);
            options.put("scores", type.id);
            options.put("seed", seed);
            options.put("flip_baseline", flip.name().toLowerCase(Locale.ROOT));
            options.put("perturbations", perturbations);
            options.put("sigma", sigma);
            options.put("radius", radius);
            options.put("infidelity_normalize", normalize);
            options.put("targets", labels != null ? "labels from " + labels.getFileName() + " (top-1 where missing)" : "top1");
            Map<String, Object> mo = new LinkedHashMap<>();
            for (MethodSpec s : specs) mo.put(s.name(), opts.get(s.name()).report(s));
            options.put("method_options", mo);
            options.put("evaluate_ms", evalNanos / 1e6);
            Map<String, Object> tm = new LinkedHashMap<>();
            for (Map.Entry<String, Long> e : nanos.entrySet()) tm.put(e.getKey(), e.getValue() / 1e6);
            options.put("timings_ms", tm);
            EvaluateOutput.write(out, model.toString(), options, methodNames, mspecs, results, rgbs, thumbnails, type);
            stdout.printf(Locale.ROOT, "evaluate: %d method(s) x %d metric(s) on %d image(s) in %.1f s on %s -> %s%n",
                    methodNames.size(), metricNames.size(), images.size(), (System.nanoTime() - t0) / 1e9, backend.name(), out);
            stdout.flush();
            return 0;
        }
    }

    private static List<String> distinct(List<String> names, String what) {
        Set<String> s = new LinkedHashSet<>();
        for (String n : names) {
            String t = n.strip().toLowerCase(Locale.ROOT);
            if (t.isEmpty()) throw new SalientException("empty " + what + " name in the list");
            s.add(t);
        }
        return new ArrayList<>(s);
    }

    /** The method options given on the command line, by name, as text. */
    private Map<String, String> givenMethodOptions() {
        Map<String, String> given = new TreeMap<>();
        CommandLine.ParseResult pr = spec.commandLine().getParseResult();
        for (String name : ExplainCommand.methodOptionNames()) {
            if (OWN.contains(name)) continue;
            CommandLine.Model.OptionSpec o = pr == null ? null : pr.matchedOption(name);
            if (o != null) given.put(name, o.getValue());
        }
        return given;
    }

    /** Adds every method option that evaluate does not define itself (as text parsed by the specs). */
    static void addMethodOptions(CommandLine evaluate) {
        CommandLine.Model.CommandSpec cs = evaluate.getCommandSpec();
        for (String name : ExplainCommand.methodOptionNames()) {
            if (OWN.contains(name) || cs.findOption(name) != null) continue;
            MethodOption<?> first = null;
            List<String> users = new ArrayList<>();
            for (MethodSpec s : Methods.ALL) {
                MethodOption<?> o = s.option(name);
                if (o == null) continue;
                if (first == null) first = o;
                users.add(s.name());
            }
            CommandLine.Model.OptionSpec.Builder ob = CommandLine.Model.OptionSpec.builder(name).paramLabel(first.label())
                    .type(String.class).description(first.description() + " [" + String.join(", ", users) + "]");
            if (first.defaultValue() instanceof Boolean) ob.arity("0..1").fallbackValue("true");
            cs.addOption(ob.build());
        }
    }
}
