package dev.salient.cli;

import dev.salient.engine.Backend;
import dev.salient.engine.CpuNative;
import dev.salient.engine.Engine;
import dev.salient.engine.SalientException;
import dev.salient.explain.core.Layers;
import dev.salient.io.Npy;
import dev.salient.io.Preprocess;
import dev.salient.model.MemoryLimit;
import dev.salient.model.Model;
import dev.salient.io.Inputs;
import dev.salient.visualize.Exemplars;
import dev.salient.visualize.Objective;
import dev.salient.visualize.Render;
import dev.salient.visualize.Visualizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code salient visualize}: feature visualisation, images that maximise a channel, a neuron, a
 * layer or a class logit (Lucid/Lucent's regularised activation maximisation), many objectives
 * optimised together as one batch under the memory budget. Writes one PNG per objective,
 * {@code grid.png}, {@code images.npy} (N,C,H,W in [0,1]) and {@code report.json}; with
 * {@code --exemplars}, each objective's top dataset images beside its synthetic image.
 */
@Command(name = "visualize", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Feature visualisation: optimise one image per channel, neuron, layer or class objective (Lucid/Lucent semantics).")
public final class VisualizeCommand implements Callable<Integer> {
    static final Pattern OUTPUT = Pattern.compile("\\d{4,}_.*\\.png|grid\\.png|images\\.npy|report\\.json|.*\\.partial");

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "M.onnx", description = "The ONNX model.")
    Path model;

    @Option(names = "--layer", defaultValue = "auto", paramLabel = "NAME",
            description = "Layer tensor or node name (default: auto, the last 4-D activation before pooling); not used by class.")
    String layer;

    @Option(names = "--objective", defaultValue = "channel", paramLabel = "channel|neuron|layer|class",
            description = "channel: mean of a channel; neuron: its centre position; layer: mean of squares (deepdream); "
                    + "class: the raw logit (default: ${DEFAULT-VALUE}).")
    String objective;

    @Option(names = "--channels", defaultValue = "all", paramLabel = "0-15|all|3,7,9",
            description = "Channels for channel and neuron objectives (default: ${DEFAULT-VALUE}).")
    String channels;

    @Option(names = "--class", paramLabel = "K[,K...]", split = ",", description = "Classes for the class objective.")
    int[] classes;

    @Option(names = "--size", defaultValue = "128", paramLabel = "N", description = "Image size (default: ${DEFAULT-VALUE}).")
    int size;

    @Option(names = "--steps", defaultValue = "512", paramLabel = "N", description = "Optimisation steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--lr", defaultValue = "0.05", paramLabel = "X", description = "Adam's learning rate (default: ${DEFAULT-VALUE}).")
    float lr;

    @Option(names = "--param", defaultValue = "fourier", paramLabel = "fourier|pixel",
            description = "Image parametrisation (default: ${DEFAULT-VALUE}).")
    String param;

    @Option(names = "--decorrelate", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Decorrelate colours with Lucid's ImageNet matrix (3-channel models; default: on).")
    boolean decorrelate;

    @Option(names = "--transforms", defaultValue = "standard", paramLabel = "standard|none",
            description = "Lucid's standard transforms (pad, jitter, scale, rotate, jitter) or none (default: ${DEFAULT-VALUE}).")
    String transforms;

    @Option(names = "--relu-redirect", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Lucid's redirected ReLU gradient for the first 16 steps, so units dead on the start image wake up "
                    + "(Lucid's default; Lucent has none; default: on).")
    boolean reluRedirect;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "N", description = "Seed of the initial images and the transforms.")
    long seed;

    @Option(names = "--batch", defaultValue = "0", paramLabel = "N",
            description = "Objectives optimised together (default: as many as the memory budget allows).")
    int batch;

    @Option(names = "--mean", paramLabel = "M", split = ",", description = "The model's per-channel mean (default: ImageNet for 3 channels, 0 for 1).")
    float[] mean;

    @Option(names = "--std", paramLabel = "S", split = ",", description = "The model's per-channel std (default: ImageNet for 3 channels, 1 for 1).")
    float[] std;

    @Option(names = "--exemplars", paramLabel = "DIR|X.npy",
            description = "A dataset (image folder or NCHW .npy, preprocessed as for explain) whose images that activate each "
                    + "channel (or neuron) most are shown beside the synthetic image.")
    Path exemplars;

    @Option(names = "--top", defaultValue = "9", paramLabel = "K", description = "Exemplars per objective (default: ${DEFAULT-VALUE}).")
    int top;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder.")
    Path out;

    @Option(names = "--overwrite", description = "Replace the outputs of an earlier run in the --out folder.")
    boolean overwrite;

    @Option(names = "--device", paramLabel = "cpu|cuda|auto", defaultValue = "auto", description = "Where to compute (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads for the native engine (default: all cores).")
    Integer threads;

    @Option(names = "--memory-budget", paramLabel = "MB", description = "Memory one batch of objectives may use (default: 1024 MB).")
    Long memoryBudgetMb;

    @Override
    public Integer call() throws IOException {
        PrintWriter stdout = spec.commandLine().getOut();
        Objective.Kind kind = Objective.Kind.parse(objective);
        if (!param.equals("fourier") && !param.equals("pixel"))
            throw new SalientException("--param must be fourier or pixel, got '" + param + "'");
        if (!transforms.equals("standard") && !transforms.equals("none"))
            throw new SalientException("--transforms must be standard or none, got '" + transforms + "'");
        if (memoryBudgetMb != null && (memoryBudgetMb <= 0 || memoryBudgetMb > (1L << 40)))
            throw new SalientException("--memory-budget must be between 1 and " + (1L << 40) + " MB, got " + memoryBudgetMb);
        if (threads != null && (threads <= 0 || threads > CpuNative.salient_max_threads()))
            throw new SalientException("--threads must be between 1 and " + CpuNative.salient_max_threads() + ", got " + threads);
        if (kind == Objective.Kind.CLASS && (classes == null || classes.length == 0))
            throw new SalientException("the class objective needs --class K");
        Visualizer.Options o = new Visualizer.Options(param.equals("fourier"), decorrelate, transforms.equals("standard"), reluRedirect, size,
                steps, lr, seed, batch, memoryBudgetMb != null ? memoryBudgetMb << 20 : 1L << 30);
        if (steps < 1) throw new SalientException("--steps must be at least 1, got " + steps);
        if (size < 1 || size > 512) throw new SalientException("--size must be between 1 and 512, got " + size);
        if (batch < 0) throw new SalientException("--batch must be positive, got " + batch);
        if (!Files.exists(model)) throw new SalientException("--model " + model + ": no such file");
        if (threads != null) CpuNative.salient_set_num_threads(threads);
        Backend b = Engine.forName(device);
        try (Model m = Model.load(model)) {
            if (memoryBudgetMb != null) m.memoryLimit(memoryBudgetMb << 20);
            long[] in = m.inputs().get(0).shape();
            if (in == null || in.length != 4 || in[1] <= 0)
                throw new SalientException("visualize needs an image model with a 4-D (N,C,H,W) input and a fixed C");
            Preprocess.Resolved pre = new Preprocess(0, 0, 0, mean, std).resolve(in[1], in[2] > 0 ? in[2] : size,
                    in[3] > 0 ? in[3] : size);
            long probe = in[2] > 0 ? in[2] : Math.max(size, 32);
            String tensor = kind == Objective.Kind.CLASS ? null
                    : Layers.resolve(m, layer, new long[] {1, in[1], probe, in[3] > 0 ? in[3] : probe});
            Visualizer vis = new Visualizer(m, b, tensor, pre.mean(), pre.std());
            List<Objective> obs = new ArrayList<>();
            switch (kind) {
                case LAYER -> obs.add(new Objective(kind, 0));
                case CLASS -> {
                    for (int k : classes) obs.add(new Objective(kind, k));
                }
                default -> {
                    long count = vis.channelCount(kind, o);
                    for (int c : parseChannels(channels, count)) obs.add(new Objective(kind, c));
                }
            }
            vis.check(obs, o);
            List<List<Exemplars.Item>> ex = null;
            if (exemplars != null) {
                if (kind != Objective.Kind.CHANNEL && kind != Objective.Kind.NEURON)
                    throw new SalientException("--exemplars needs channel or neuron objectives");
                if (top < 1 || top > 1000) throw new SalientException("--top must be between 1 and 1000, got " + top);
                if (!Files.exists(exemplars)) throw new SalientException("--exemplars " + exemplars + ": no such file or folder");
                long[] shape = in.clone();
                Preprocess p = new Preprocess(0, in[2] > 0 ? 0 : size, in[3] > 0 ? 0 : size, pre.mean(), pre.std());
                Inputs data = Inputs.open(exemplars, shape, p);
                ex = Exemplars.top(m, b, tensor, obs, data, batch > 0 ? batch : 32, top, pre.mean(), pre.std());
            }
            prepare(out, overwrite);
            Visualizer.Result r = vis.run(obs, o);
            write(r, ex, tensor, o, b, stdout);
        }
        return 0;
    }

    /** "all", "a-b", "a,b,c" or a mix ("0-3,9"), checked against the layer's channel count. */
    static List<Integer> parseChannels(String spec, long count) {
        TreeSet<Integer> out = new TreeSet<>();
        if (spec.equals("all")) {
            for (int i = 0; i < count; i++) out.add(i);
            return new ArrayList<>(out);
        }
        for (String part : spec.split(",")) {
            String p = part.strip();
            try {
                int dash = p.indexOf('-', 1);
                int lo = Integer.parseInt(dash < 0 ? p : p.substring(0, dash).strip());
                int hi = dash < 0 ? lo : Integer.parseInt(p.substring(dash + 1).strip());
                if (lo > hi) throw new SalientException("--channels: empty range '" + p + "'");
                if (lo < 0 || hi >= count)
                    throw new SalientException("--channels " + spec + ": channel " + (lo < 0 ? lo : hi)
                            + " is out of range: the layer has " + count + " channels (0-" + (count - 1) + ")");
                for (int i = lo; i <= hi; i++) out.add(i);
            } catch (NumberFormatException e) {
                throw new SalientException("--channels expects all, a range 0-15 or a list 3,7,9, got '" + spec + "'");
            }
        }
        return new ArrayList<>(out);
    }

    static void prepare(Path out, boolean overwrite) throws IOException {
        if (Files.exists(out) && !Files.isDirectory(out)) throw new SalientException("--out " + out + " exists and is not a folder");
        Files.createDirectories(out);
        List<Path> previous = new ArrayList<>();
        try (Stream<Path> s = Files.list(out)) {
            s.sorted().filter(p -> OUTPUT.matcher(p.getFileName().toString()).matches()).forEach(previous::add);
        }
        if (previous.isEmpty()) return;
        if (!overwrite)
            throw new SalientException("--out " + out + " holds another run's outputs (" + previous.size() + " files, e.g. "
                    + previous.get(0).getFileName() + "); give --overwrite to replace them, or another folder");
        for (Path p : previous) Files.deleteIfExists(p);
    }

    private void write(Visualizer.Result r, List<List<Exemplars.Item>> ex, String tensor, Visualizer.Options o, Backend b, PrintWriter stdout)
            throws IOException {
        int n = r.objectives().size(), c = (int) r.shape()[1], h = (int) r.shape()[2], w = (int) r.shape()[3];
        long px = (long) c * h * w;
        int zoom = Render.zoomFor(h, w, 256);
        List<Render.Tile> tiles = new ArrayList<>();
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Objective ob = r.objectives().get(i);
            String file = String.format(Locale.ROOT, "%04d_%s.png", i, ob.label().replace(' ', '_'));
            var img = Render.image(r.images(), i * px, c, h, w, zoom);
            writePng(out.resolve(file), img);
            tiles.add(new Render.Tile(img, ob.label()));
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("objective", ob.kind().label());
            row.put("index", ob.index());
            row.put("file", file);
            row.put("start", r.start()[i]);
            row.put("end", r.end()[i]);
            if (ex != null) {
                List<Map<String, Object>> items = new ArrayList<>();
                for (Exemplars.Item it : ex.get(i)) items.add(Map.of("source", it.source(), "value", it.value()));
                row.put("exemplars", items);
            }
            rows.add(row);
        }
        List<List<Render.Tile>> grid;
        if (ex == null) {
            grid = Render.wrap(tiles);
        } else {
            grid = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                List<Render.Tile> line = new ArrayList<>(List.of(tiles.get(i)));
                for (Exemplars.Item it : ex.get(i)) {
                    long[] sh = it.shape();
                    line.add(new Render.Tile(Render.image(it.pixels(), 0, (int) sh[0], (int) sh[1], (int) sh[2], 1),
                            String.format(Locale.ROOT, "%.2f", it.value())));
                }
                grid.add(line);
            }
        }
        writePng(out.resolve("grid.png"), Render.grid(grid, Math.min(256, Math.max(64, h * zoom / 2))));
        Path npy = out.resolve("images.npy.partial");
        Npy.write(npy, r.shape(), r.images());
        RunOutput.moveAtomically(npy, out.resolve("images.npy"));
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("model", model.toString());
        report.put("layer", tensor);
        report.put("objective", r.objectives().get(0).kind().label());
        Map<String, Object> opts = new LinkedHashMap<>();
        opts.put("param", o.fourier() ? "fourier" : "pixel");
        opts.put("decorrelate", o.decorrelate());
        opts.put("transforms", o.transforms() ? "standard" : "none");
        opts.put("relu_redirect", o.reluRedirect());
        opts.put("size", o.size());
        opts.put("steps", o.steps());
        opts.put("lr", o.lr());
        opts.put("seed", o.seed());
        opts.put("batch", r.batch());
        opts.put("memory_budget_mb", o.memoryBudget() >> 20);
        report.put("options", opts);
        report.put("device", b.name());
        report.put("images_shape", r.shape());
        report.put("seconds", r.seconds());
        report.put("images", rows);
        RunOutput.writeJson(out.resolve(RunOutput.REPORT), report);
        double better = 0;
        for (int i = 0; i < n; i++) better += r.end()[i] > r.start()[i] ? 1 : 0;
        stdout.printf(Locale.ROOT, "visualize: %d %s objective%s, %d steps, batch %d, %.1f s; objective rose in %d of %d -> %s%n", n,
                r.objectives().get(0).kind().label(), n == 1 ? "" : "s", o.steps(), r.batch(), r.seconds(), (int) better, n, out);
        stdout.flush();
    }

    static void writePng(Path file, java.awt.image.BufferedImage img) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".partial");
        if (!ImageIO.write(img, "png", tmp.toFile())) throw new SalientException("no PNG writer available");
        RunOutput.moveAtomically(tmp, file);
    }
}
