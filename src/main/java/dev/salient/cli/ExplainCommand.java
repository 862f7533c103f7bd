package dev.salient.cli;

import com.google.gson.GsonBuilder;
import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Baseline;
import dev.salient.explain.CfCam;
import dev.salient.explain.Explainer;
import dev.salient.explain.IntegrationRule;
import dev.salient.explain.Methods;
import dev.salient.explain.Target;
import dev.salient.io.Inputs;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import dev.salient.report.Colormap;
import dev.salient.report.NpyStreamWriter;
import dev.salient.report.Overlay;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code salient explain}: computes an attribution map for every input.
 * {@code --out X.npy} writes the raw tensor ((rows,C,H,W) for gradient methods,
 * (rows,H,W) for CAM methods); {@code --out DIR} writes an overlay PNG per map,
 * {@code attributions.npy} and {@code report.json}. Inputs are read, explained
 * and written batch by batch; an input that fails to load is reported and the
 * others go on.
 */
@Command(name = "explain", mixinStandardHelpOptions = true,
        description = "Explain a model's decisions: attribution maps for an NPY, an image or a folder of them.")
public final class ExplainCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "M.onnx", description = "The ONNX model.")
    Path model;

    @Option(names = "--method", required = true, paramLabel = "NAME",
            description = "saliency, inputxgradient, ig, smoothgrad, vargrad, guidedbackprop, deconvnet, guidedgradcam, "
                    + "gradcam, gradcam++, xgradcam, layercam, hirescam, gradcamelementwise, cam, eigencam, eigengradcam, "
                    + "fullgrad, cfcam, attention, activation.")
    String method;

    @Option(names = "--input", required = true, paramLabel = "X.npy|IMG|DIR",
            description = "An NPY (N,C,H,W) or (C,H,W), a PNG/JPEG, or a folder of them (sorted by name).")
    Path input;

    @Option(names = "--out", required = true, paramLabel = "OUT.npy|DIR",
            description = "A .npy file for the raw attributions, or a folder for overlays + attributions.npy + report.json.")
    Path out;

    @Option(names = "--layer", defaultValue = "auto", paramLabel = "NAME|auto",
            description = "CAM layer: an ONNX tensor or node name; auto = the last 4-D activation before pooling.")
    String layer;

    @Option(names = "--target", defaultValue = "top1", paramLabel = "top1|topK|K|K1,K2,..",
            description = "The class to explain (raw logit): top1 (default), the top K, a class index, or one per image.")
    String target;

    @Option(names = "--steps", defaultValue = "50", paramLabel = "N", description = "IG steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--integration", defaultValue = "gausslegendre", paramLabel = "RULE",
            description = "IG rule: gausslegendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid.")
    String integration;

    @Option(names = "--baseline", defaultValue = "zeros", paramLabel = "B",
            description = "IG baseline: zeros, constant:V, uniform[:SEED], blur[:SIGMA], or an NPY file.")
    String baseline;

    @Option(names = "--samples", defaultValue = "25", paramLabel = "N",
            description = "SmoothGrad/VarGrad noise samples (default: ${DEFAULT-VALUE}).")
    int samples;

    @Option(names = "--noise-std", paramLabel = "S",
            description = "SmoothGrad/VarGrad noise std (default: 0.15 x each image's max-min).")
    Float noiseStd;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "N", description = "Seed for noise and uniform baselines.")
    long seed;

    @Option(names = "--counterfactual",
            description = "Gradient-weighted CAMs: negate the gradients, mapping what argues against the class.")
    boolean counterfactual;

    @Option(names = "--power", defaultValue = "2", paramLabel = "P",
            description = "attention: the exponent p of sum_c |A_c|^p, an integer >= 1 (default: ${DEFAULT-VALUE}).")
    int power;

    @Option(names = "--cf-split-percentile", defaultValue = "75", paramLabel = "Q",
            description = "cfcam: channels with an L2 norm at or above this percentile are important (default: ${DEFAULT-VALUE}).")
    double cfSplit;

    @Option(names = "--cf-eps-percentile", defaultValue = "25", paramLabel = "Q",
            description = "cfcam: DBSCAN eps is this percentile of the pairwise distances (default: ${DEFAULT-VALUE}).")
    double cfEps;

    @Option(names = "--cf-min-samples", defaultValue = "0.05", paramLabel = "F",
            description = "cfcam: DBSCAN min_samples = max(2, F x remaining channels) (default: ${DEFAULT-VALUE}).")
    double cfMinSamples;

    @Option(names = "--cf-sigma-spatial", defaultValue = "5", paramLabel = "S",
            description = "cfcam: spatial sigma of the gradient filter, in pixels of the map (default: ${DEFAULT-VALUE}).")
    double cfSigmaSpatial;

    @Option(names = "--cf-sigma-range", defaultValue = "0.1", paramLabel = "S",
            description = "cfcam: range sigma of the gradient filter (default: ${DEFAULT-VALUE}).")
    double cfSigmaRange;

    @Option(names = "--cf-noise", defaultValue = "0", paramLabel = "S",
            description = "cfcam: add N(0, S^2) noise to the gradients before the weights, seeded by --seed (default: none).")
    double cfNoise;

    @Option(names = "--memory-budget", defaultValue = "1024", paramLabel = "MB",
            description = "Memory for one chunk of expanded evaluations (default: ${DEFAULT-VALUE} MB).")
    long memoryBudgetMb;

    @Option(names = "--colormap", defaultValue = "jet", paramLabel = "jet|turbo|viridis", description = "Overlay colormap.")
    String colormap;

    @Option(names = "--alpha", defaultValue = "0.5", paramLabel = "A", description = "Overlay opacity (default: ${DEFAULT-VALUE}).")
    float alpha;

    @Option(names = "--no-progress", description = "Do not draw a progress bar for folders.")
    boolean noProgress;

    @Mixin
    RunOptions run;

    @Mixin
    PreprocessOptions pre;

    @Override
    public Integer call() throws IOException {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter stderr = spec.commandLine().getErr();
        Methods.Options opts = options();
        Methods.validate(method, opts);
        Target tgt = Target.parse(target);
        Colormap cmap = Colormap.parse(colormap);
        if (!(alpha >= 0 && alpha <= 1)) throw new SalientException("--alpha must be in [0,1], got " + alpha);
        boolean toNpy = out.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".npy");
        if (toNpy && Files.isDirectory(out)) throw new SalientException("--out " + out + " is a folder");
        if (!toNpy) {
            if (Files.exists(out) && !Files.isDirectory(out)) throw new SalientException("--out " + out + " exists and is not a folder");
            Files.createDirectories(out);
        }
        List<Path> files = Inputs.list(input);
        Backend backend = run.backend();
        long t0 = System.nanoTime();
        Map<String, Object> report = new LinkedHashMap<>();
        List<Map<String, Object>> items = new ArrayList<>();
        List<Map<String, Object>> failures = new ArrayList<>();
        long explainNanos = 0;
        try (Model m = Model.load(model)) {
            long[] declared = m.inputs().get(0).shape();
            Explainer ex = Methods.create(method, m, opts);
            Path npyPath = toNpy ? out : out.resolve("attributions.npy");
            NpyStreamWriter npy = null;
            int written = 0;
            List<Path> pending = new ArrayList<>();
            try (ProgressBar bar = files.size() > 1 && !noProgress ? new ProgressBarBuilder().setTaskName("explain " + method)
                    .setInitialMax(files.size()).setStyle(ProgressBarStyle.ASCII).setConsumer(
                            new me.tongfei.progressbar.ConsoleProgressBarConsumer(System.err)).build() : null) {
                for (int fi = 0; fi <= files.size(); fi++) {
                    if (fi < files.size()) pending.add(files.get(fi));
                    if (pending.size() < run.batch() && fi < files.size()) continue;
                    if (pending.isEmpty()) break;
                    // load each file on its own so one bad file does not sink the batch
                    List<NdArray> rows = new ArrayList<>();
                    List<String> sources = new ArrayList<>();
                    List<NdArray> rgbs = new ArrayList<>();
                    for (Path f : pending) {
                        try {
                            Inputs.Batch b = Inputs.open(f, declared, pre.toPreprocess()).all();
                            rows.add(b.input());
                            sources.addAll(b.sources());
                            rgbs.addAll(b.rgb());
                        } catch (SalientException e) {
                            if (files.size() == 1) throw e;
                            failures.add(Map.of("source", f.toString(), "error", e.getMessage()));
                            stderr.println("salient: warning: skipped " + Main.oneLine(e.getMessage()));
                            stderr.flush();
                        }
                    }
                    int done = pending.size();
                    pending.clear();
                    if (!rows.isEmpty()) {
                        NdArray all = NdArray.concatFirst(rows);
                        for (int start = 0; start < all.dim(0); start += run.batch()) {
                            int end = (int) Math.min(all.dim(0), start + run.batch());
                            NdArray part = all.sliceFirst(start, end);
                            long e0 = System.nanoTime();
                            Attribution a;
                            try (Tensor x = part.upload(backend)) {
                                a = Methods.explain(ex, backend, x, tgt, opts);
                            }
                            explainNanos += System.nanoTime() - e0;
                            if (npy == null) {
                                long[] rowShape = java.util.Arrays.copyOfRange(a.shape(), 1, a.shape().length);
                                npy = new NpyStreamWriter(npyPath, rowShape);
                            }
                            npy.append(a.values(), 0, a.values().length);
                            for (int r = 0; r < a.rows(); r++) {
                                int img = start + a.images()[r];
                                Map<String, Object> it = new LinkedHashMap<>();
                                it.put("row", written + r);
                                it.put("source", sources.get(img));
                                it.put("target", a.targets()[r]);
                                it.put("score", a.scores()[r]);
                                if (a.deltas() != null) it.put("convergence_delta", a.deltas()[r]);
                                if (!toNpy) {
                                    String png = overlay(a, r, rgbs.get(img), sources.get(img), written + r, cmap);
                                    if (png != null) it.put("overlay", png);
                                }
                                items.add(it);
                            }
                            written += a.rows();
                        }
                    }
                    if (bar != null) bar.stepBy(done);
                }
            } finally {
                if (npy != null) npy.close();
            }
            if (written == 0) throw new SalientException("no input could be explained (" + failures.size() + " failed)");
            long total = System.nanoTime() - t0;
            report.put("model", model.toString());
            report.put("method", method);
            report.put("device", backend.name());
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("target", tgt.toString());
            if ((Methods.isCam(method) && !method.equals("fullgrad")) || method.equals("guidedgradcam")
                    || method.equals("activation")) o.put("layer", layer);
            if (counterfactual) o.put("counterfactual", true);
            if (method.equals("attention")) o.put("power", power);
            if (method.equals("cfcam")) {
                o.put("split_percentile", cfSplit);
                o.put("eps_percentile", cfEps);
                o.put("min_samples_fraction", cfMinSamples);
                o.put("sigma_spatial", cfSigmaSpatial);
                o.put("sigma_range", cfSigmaRange);
                o.put("noise", cfNoise);
                if (cfNoise > 0) o.put("seed", seed);
            }
            if (method.equals("ig")) {
                o.put("steps", steps);
                o.put("integration", opts.rule().id);
                o.put("baseline", opts.baseline().describe());
            }
            if (method.equals("smoothgrad") || method.equals("vargrad")) {
                o.put("samples", samples);
                o.put("noise_std", noiseStd == null ? "0.15*(max-min)" : noiseStd);
                o.put("seed", seed);
            }
            o.put("batch", run.batch());
            o.put("memory_budget_mb", memoryBudgetMb);
            report.put("options", o);
            report.put("layout", Methods.isCam(method) ? "(rows,H,W) in [0,1]"
                    : method.equals("activation") ? "(rows,C,h,w) of the layer" : "(rows,C,H,W)");
            report.put("attributions", npyPath.getFileName().toString());
            report.put("items", items);
            report.put("failures", failures);
            Map<String, Object> tm = new LinkedHashMap<>();
            tm.put("total_ms", total / 1e6);
            tm.put("explain_ms", explainNanos / 1e6);
            tm.put("per_map_ms", explainNanos / 1e6 / Math.max(1, written));
            report.put("timings", tm);
            if (!toNpy)
                Files.writeString(out.resolve("report.json"),
                        new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues().create().toJson(report),
                        StandardCharsets.UTF_8);
            stdout.printf(Locale.ROOT, "%s: %d map(s) of %d input(s) in %.1f ms on %s -> %s%s%n", method, written,
                    written / tgt.mapsPerImage(), total / 1e6, backend.name(), out,
                    failures.isEmpty() ? "" : " (" + failures.size() + " input(s) failed)");
            stdout.flush();
            return failures.isEmpty() ? 0 : Main.EXIT_USER_ERROR;
        }
    }

    private String overlay(Attribution a, int r, NdArray rgb, String source, int index, Colormap cmap) throws IOException {
        float[] heat;
        int h, w;
        long[] s = a.shape();
        if (a.layout() == Attribution.Layout.CAM) {
            h = (int) s[1];
            w = (int) s[2];
            heat = a.row(r);
        } else {
            if (s.length != 4) return null;   // a layer that is not (C,h,w): no picture
            h = (int) s[2];
            w = (int) s[3];
            heat = Overlay.heatFromInputMap(a.row(r), (int) s[1], h, w);
        }
        // a layer's map has the layer's size: drawn on its own
        BufferedImage base = rgb == null || a.layout() == Attribution.Layout.LAYER ? null : toImage(rgb);
        BufferedImage img = Overlay.render(base, heat, h, w, cmap, base == null ? 1f : alpha);
        java.util.regex.Matcher mi = java.util.regex.Pattern.compile("^(.*?)(?:\\[(\\d+)\\])?$").matcher(source);
        mi.matches();
        String stem = Path.of(mi.group(1)).getFileName().toString().replaceAll("\\.[A-Za-z]+$", "")
                + (mi.group(2) != null ? "_" + mi.group(2) : "");
        String name = String.format(Locale.ROOT, "%04d_%s_%s_c%d.png", index, stem.replaceAll("[^A-Za-z0-9_.-]", "_"),
                method.replace("+", "p"), a.targets()[r]);
        ImageIO.write(img, "png", out.resolve(name).toFile());
        return name;
    }

    private static BufferedImage toImage(NdArray rgb) {
        int h = (int) rgb.dim(1), w = (int) rgb.dim(2), p = h * w;
        float[] d = rgb.data();
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int i = y * w + x;
                int r = Math.round(Math.max(0, Math.min(1, d[i])) * 255);
                int g = Math.round(Math.max(0, Math.min(1, d[p + i])) * 255);
                int b = Math.round(Math.max(0, Math.min(1, d[2 * p + i])) * 255);
                img.setRGB(x, y, (r << 16) | (g << 8) | b);
            }
        return img;
    }

    private Methods.Options options() {
        if (memoryBudgetMb <= 0) throw new SalientException("--memory-budget must be positive, got " + memoryBudgetMb);
        return new Methods.Options(layer, steps, IntegrationRule.parse(integration), parseBaseline(baseline), samples,
                noiseStd, seed, memoryBudgetMb << 20, counterfactual, power,
                new CfCam.Options(cfSplit, cfEps, cfMinSamples, cfSigmaSpatial, cfSigmaRange, cfNoise, seed));
    }

    private Baseline parseBaseline(String s) {
        String t = s.trim();
        try {
            if (t.equals("zeros")) return Baseline.zeros();
            if (t.startsWith("constant:")) return Baseline.constant(Float.parseFloat(t.substring(9)));
            if (t.equals("uniform")) return Baseline.uniform(0f, 1f, seed);
            if (t.startsWith("uniform:")) return Baseline.uniform(0f, 1f, Long.parseLong(t.substring(8)));
            if (t.equals("blur")) return Baseline.blur(5f);
            if (t.startsWith("blur:")) return Baseline.blur(Float.parseFloat(t.substring(5)));
        } catch (NumberFormatException e) {
            throw new SalientException("bad --baseline '" + s + "' (" + e.getMessage() + ")");
        }
        if (t.toLowerCase(Locale.ROOT).endsWith(".npy")) {
            NdArray a = Npy.read(Path.of(t));
            if (a.firstNonFinite() >= 0) throw new SalientException(t + ": baseline contains NaN or infinite values");
            return Baseline.of(a.data(), a.shape());
        }
        throw new SalientException("bad --baseline '" + s + "' (use zeros, constant:V, uniform[:SEED], blur[:SIGMA] or an .npy file)");
    }
}
