package dev.salient.cli;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.Methods;
import dev.salient.explain.Target;
import dev.salient.explain.core.Cost;
import dev.salient.io.Inputs;
import dev.salient.io.NdArray;
import dev.salient.model.Model;
import dev.salient.report.ContactSheet;
import dev.salient.report.NpyStreamWriter;
import dev.salient.report.Overlay;
import dev.salient.report.Colormap;
import dev.salient.report.OverlayStyle;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import javax.imageio.ImageIO;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code salient explain}: computes an attribution map for every input.
 * {@code --out X.npy} writes the raw tensor ((rows,C,H,W) for gradient methods,
 * (rows,H,W) for CAM methods); {@code --out DIR} writes an overlay PNG per map,
 * {@code attributions.npy} and {@code report.json}, and for a folder of inputs the
 * contact sheet {@code overview.png} (input and maps of the first
 * {@value #OVERVIEW_ROWS} images). Overlays are drawn by the method's output layout
 * ({@link OverlayStyle}) and made readable (at least 224 px on the short side).
 * Inputs are read, explained
 * and written batch by batch; an input that fails to load is reported and the
 * others go on. The options of the methods are added from their specs
 * ({@link #addMethodOptions}); {@code explain --method NAME --help} lists one method's.
 */
@Command(name = "explain", mixinStandardHelpOptions = true,
        description = "Explain a model's decisions: attribution maps for an NPY, an image or a folder of them.")
public final class ExplainCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "M.onnx", description = "The ONNX model.")
    Path model;

    @Option(names = "--method", required = true, paramLabel = "NAME",
            description = "The method (listed below; its options: explain --method NAME --help).")
    String method;

    @Option(names = "--input", required = true, paramLabel = "X.npy|IMG|DIR",
            description = "An NPY (N,C,H,W) or (C,H,W), a PNG/JPEG, or a folder of them (sorted by name). NPY values "
                    + "go in as they are (uint8/int NPYs are not scaled to [0,1]; images are).")
    Path input;

    @Option(names = "--out", required = true, paramLabel = "OUT.npy|DIR",
            description = "A .npy file for the raw attributions, or a folder for overlays + attributions.npy + report.json.")
    Path out;

    @Option(names = "--target", defaultValue = "top1", paramLabel = "top1|topK|K|K1,K2,..",
            description = "The class to explain (raw logit): top1 (default), the top K, a class index, or one per image.")
    String target;

    @Option(names = "--montage-step", paramLabel = "K",
            description = "Volumes: every K-th slice in the montages (default: about 16 slices per montage).")
    Integer montageStep;

    @Option(names = "--montage-views", defaultValue = "axial", paramLabel = "VIEWS", split = ",",
            description = "Volumes: montages to write, any of axial, coronal, sagittal (default: axial).")
    List<String> montageViews;

    /** The NIfTI inputs read so far, by source: their maps are also written as NIfTI on the scan's grid. */
    private final Map<String, dev.salient.io.Nifti.Volume> niftis = new java.util.HashMap<>();

    @Option(names = "--no-progress", description = "Do not draw a progress bar for folders.")
    boolean noProgress;

    @Option(names = "--overwrite", description = "Replace the outputs of an earlier run in the --out folder.")
    boolean overwrite;

    @Option(names = "--strict", description = "Fail on attributions or scores with NaN or infinite values (default: warn).")
    boolean strict;

    @Mixin
    RunOptions run;

    @Mixin
    PreprocessOptions pre;

    @Mixin
    OverlayOptions overlays;

    @Mixin
    NoiseTunnelOptions tunnel;

    /** Images the contact sheet of a folder run shows. */
    static final int OVERVIEW_ROWS = 32;

    @Override
    public Integer call() throws IOException {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter stderr = spec.commandLine().getErr();
        MethodSpec ms = Methods.get(method);
        MethodOptions opts = MethodOptions.parse(ms, givenMethodOptions());
        run.validate();
        Target tgt = Target.parse(target);
        OverlayStyle look = overlays.style();
        tunnel.validate();
        boolean toNpy = out.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".npy");
        List<Path> files = Inputs.list(input);
        String baselineArg = givenMethodOptions().getOrDefault("--baseline", "");
        List<Path> guarded = RunOutput.inputsOf(files, model,
                baselineArg.trim().toLowerCase(Locale.ROOT).endsWith(".npy") ? Path.of(baselineArg.trim()) : null);
        if (toNpy) RunOutput.checkNpyOut(out, guarded);
        else RunOutput.prepareFolder(out, overwrite, files);
        Backend backend = run.backend();
        long t0 = System.nanoTime();
        List<Map<String, Object>> items = new ArrayList<>();
        List<Map<String, Object>> failures = new ArrayList<>();
        long explainNanos = 0, nonFiniteValues = 0;
        Path npyPath = toNpy ? out : out.resolve(RunOutput.ATTRIBUTIONS);
        String stoppedBy = null;
        int written = 0;
        sheet = !toNpy && Files.isDirectory(input) ? new ContactSheet(method + " on " + model.getFileName(),
                sheetColumns(tgt.mapsPerImage()), OVERVIEW_ROWS) : null;
        try (Model m = run.limit(Model.load(model)); Interrupts stop = Interrupts.install()) {
            ModelChecks.classifierOutput(m, "explain");
            long[] declared = m.inputs().get(0).shape();
            Explainer ex = tunnel.wrap(ms, ms.create(m, opts)).memoryBudget(run.chunkBudget());
            Cost.reset();
            NpyStreamWriter npy = null;
            SegmentOutput segmented = new SegmentOutput();
            List<Path> pending = new ArrayList<>();
            try (ProgressBar bar = files.size() > 1 && !noProgress ? new ProgressBarBuilder().setTaskName("explain " + method)
                    .setInitialMax(files.size()).setStyle(ProgressBarStyle.ASCII).setConsumer(
                            new me.tongfei.progressbar.ConsoleProgressBarConsumer(System.err)).build() : null) {
                for (int fi = 0; fi <= files.size() && stoppedBy == null; fi++) {
                    if (fi < files.size()) pending.add(files.get(fi));
                    if (pending.size() < run.batch() && fi < files.size()) continue;
                    if (pending.isEmpty()) break;
                    // load each file on its own so one bad file does not sink the batch
                    List<NdArray> rows = new ArrayList<>();
                    List<String> sources = new ArrayList<>();
                    List<NdArray> rgbs = new ArrayList<>();
                    for (Path f : pending) {
                        try {
                            Inputs in = Inputs.open(f, declared, pre.toPreprocess()).window(pre.window());
                            Inputs.Batch b = in.all();
                            niftis.putAll(in.niftiVolumes());
                            rows.add(b.input());
                            sources.addAll(b.sources());
                            rgbs.addAll(b.rgb());
                        } catch (SalientException e) {
                            if (files.size() == 1) throw e;
                            failures.add(Map.of("source", f.toString(), "error", Main.oneLine(e.getMessage())));
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
                            int imagesBefore = segmented.count();
                            float[] partValues = null;
                            try (Tensor x = part.upload(backend);
                                    EvaluationProgress ep = EvaluationProgress.start("explain " + method + " (evaluations)",
                                            end - start, !noProgress, System.err)) {
                                Explainer bound = segmented.bind(ex, x, rgbs.subList(start, end));
                                a = bound.explain(backend, x, tgt);
                                if (bound != ex && !toNpy) partValues = part.data();
                            }
                            explainNanos += System.nanoTime() - e0;
                            long bad = RunOutput.countNonFinite(a.values()) + RunOutput.countNonFinite(a.scores());
                            if (bad > 0) {
                                String what = bad + " non-finite value(s) (NaN or infinite) in the attributions or scores of "
                                        + sources.get(start + a.images()[0])
                                        + (a.rows() > 1 ? " and the rest of its batch" : "");
                                if (strict) throw new SalientException(what + " (--strict)");
                                stderr.println("salient: warning: " + what);
                                stderr.flush();
                                nonFiniteValues += bad;
                            }
                            if (npy == null) {
                                long[] rowShape = java.util.Arrays.copyOfRange(a.shape(), 1, a.shape().length);
                                npy = new NpyStreamWriter(npyPath, rowShape);
                            }
                            List<Map<String, Object>> batchItems = new ArrayList<>();
                            renames.clear();
                            for (int r = 0; r < a.rows(); r++) {
                                int img = start + a.images()[r];
                                Map<String, Object> it = new LinkedHashMap<>();
                                it.put("row", written + r);
                                it.put("source", sources.get(img));
                                it.put("target", a.targets()[r]);
                                it.put("score", a.scores()[r]);
                                if (a.deltas() != null) it.put("convergence_delta", a.deltas()[r]);
                                if (!toNpy && part.rank() == 5)
                                    volumeOutputs(a, r, part.sliceFirst(a.images()[r], a.images()[r] + 1), sources.get(img),
                                            written + r, look, it);
                                else if (!toNpy) it.put("overlay", overlay(a, r, rgbs.get(img), all, img, sources.get(img),
                                        written + r, look));
                                batchItems.add(it);
                            }
                            if (partValues != null) {
                                // the segment outlines of the batch's images, committed with its overlays
                                int plane = (int) (part.dim(2) * part.dim(3)), ch = (int) part.dim(1);
                                for (int i = 0; i < end - start; i++)
                                    renames.add(segmented.outline(out, imagesBefore + i, rgbs.get(start + i),
                                            java.util.Arrays.copyOfRange(partValues, i * ch * plane, (i + 1) * ch * plane), ch,
                                            stemOf(sources.get(start + i))));
                            }
                            flushSheetRow();
                            // commit the batch: overlays take their names, then the NPY header counts the rows
                            for (Path[] mv : renames) RunOutput.moveAtomically(mv[0], mv[1]);
                            renames.clear();
                            npy.append(a.values(), 0, a.values().length);
                            items.addAll(batchItems);
                            written += a.rows();
                            if (stop.requested() != null) {
                                stoppedBy = stop.requested();
                                break;
                            }
                        }
                    }
                    if (bar != null) bar.stepBy(done);
                    if (stop.requested() != null) stoppedBy = stop.requested();
                }
            } catch (RuntimeException | IOException e) {
                if (written > 0) { // keep a record of the rows written before the error
                    try {
                        record(toNpy, npyPath, backend, ms, opts, tgt, items, failures, written, System.nanoTime() - t0,
                                explainNanos, nonFiniteValues, null, Main.oneLine(e.getMessage()));
                    } catch (IOException | RuntimeException again) {
                        e.addSuppressed(again);
                    }
                }
                throw e;
            } finally {
                for (Path[] mv : renames) Files.deleteIfExists(mv[0]);
                if (npy != null) npy.close();
            }
            if (!toNpy) segmented.write(out);
            boolean complete = stoppedBy == null;
            if (written == 0 && complete)
                throw new SalientException("no input could be explained (" + failures.size() + " failed)");
            long total = System.nanoTime() - t0;
            record(toNpy, npyPath, backend, ms, opts, tgt, items, failures, written, total, explainNanos, nonFiniteValues,
                    stoppedBy, null);
            stdout.printf(Locale.ROOT, "%s: %d map(s) of %d input(s) in %.1f ms on %s -> %s%s%s%n", method, written,
                    written / tgt.mapsPerImage(), total / 1e6, backend.name(), out,
                    failures.isEmpty() ? "" : " (" + failures.size() + " input(s) failed)",
                    complete ? "" : " (stopped by SIG" + stoppedBy + " after " + written + " map(s))");
            stdout.flush();
            if (!complete) return Interrupts.exitCode(stoppedBy);
            return failures.isEmpty() ? 0 : Main.EXIT_USER_ERROR;
        }
    }

    /**
     * Writes what a run did: report.json for a folder, the skipped-inputs record
     * next to an NPY of a folder's inputs. Called at the end, after a stop by a
     * signal, and after an error that came once some rows were written.
     */
    private void record(boolean toNpy, Path npyPath, Backend backend, MethodSpec ms, MethodOptions opts, Target tgt,
            List<Map<String, Object>> items, List<Map<String, Object>> failures, int written, long total, long explainNanos,
            long nonFiniteValues, String stoppedBy, String error) throws IOException {
        boolean complete = stoppedBy == null && error == null;
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("model", model.toString());
        report.put("method", method);
        report.put("device", backend.name());
        report.put("complete", complete);
        if (stoppedBy != null) report.put("stopped_by", "SIG" + stoppedBy);
        if (error != null) report.put("error", error);
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("target", tgt.toString());
        o.putAll(opts.report(ms));
        if (tunnel.given()) o.put("noise_tunnel", tunnel.report());
        o.put("batch", run.batch());
        o.put("memory_budget_mb", run.memoryBudgetForReport());
        report.put("options", o);
        if (!toNpy) report.put("overlays", overlays.style().report());
        report.put("family", ms.family().id());
        report.put("layout", ms.layout().describe());
        report.put("attributions", npyPath.getFileName().toString());
        report.put("rows", written);
        report.put("items", items);
        report.put("failures", failures);
        Map<String, Object> tm = new LinkedHashMap<>();
        tm.put("total_ms", total / 1e6);
        tm.put("explain_ms", explainNanos / 1e6);
        tm.put("per_map_ms", explainNanos / 1e6 / Math.max(1, written));
        report.put("timings", tm);
        // forward passes in rows: of the whole model, of the model up to a layer, of the model after a layer
        Cost.Counts fc = Cost.counts();
        long images = Math.max(1, written / Math.max(1, tgt.mapsPerImage()));
        Map<String, Object> fp = new LinkedHashMap<>();
        fp.put("whole", fc.forwards());
        fp.put("up_to_layer", fc.prefixForwards());
        fp.put("after_layer", fc.suffixForwards());
        report.put("forward_passes", fp);
        Map<String, Object> fpi = new LinkedHashMap<>();
        fpi.put("whole", (double) fc.forwards() / images);
        fpi.put("up_to_layer", (double) fc.prefixForwards() / images);
        fpi.put("after_layer", (double) fc.suffixForwards() / images);
        report.put("forward_passes_per_image", fpi);
        // JSON has no NaN: non-finite numbers are written as null and counted here
        Map<String, Object> nf = new LinkedHashMap<>();
        nf.put("attribution_and_score_values", nonFiniteValues);
        nf.put("report_numbers_written_as_null", RunOutput.countNonFinite(report));
        report.put("non_finite", nf);
        if (!toNpy && sheet != null && sheet.rows() > 0) {
            RunOutput.deleteOverview(out);
            sheet.write(out.resolve(RunOutput.OVERVIEW));
            report.put("overview", RunOutput.OVERVIEW);
        }
        if (!toNpy) RunOutput.writeJson(out.resolve(RunOutput.REPORT), report);
        else if (Files.isDirectory(input)) RunOutput.writeSkipped(out, input, failures, complete);
    }

    private String overlay(Attribution a, int r, NdArray rgb, NdArray inputs, int img, String source, int index,
            OverlayStyle look) throws IOException {
        long[] s = a.shape();
        long[] rowShape = java.util.Arrays.copyOfRange(s, 1, s.length);
        BufferedImage base = rgb == null ? null : Overlay.fromPlanes(rgb);
        BufferedImage drawn = look.render(a.layout(), a.row(r), rowShape, base);
        String name = String.format(Locale.ROOT, "%04d_%s_%s_c%d.png", index, stemOf(source),
                method.replace("+", "p"), a.targets()[r]);
        // rendered under a temporary name, renamed just before the batch's rows are committed
        Path tmp = out.resolve(name + ".partial");
        if (!ImageIO.write(drawn, "png", tmp.toFile())) throw new SalientException("cannot write PNG " + tmp);
        renames.add(new Path[] {tmp, out.resolve(name)});
        if (sheet != null) {
            BufferedImage picture = base != null ? base : inputPicture(inputs, img);
            addToSheet(source, picture == null ? null : Overlay.readable(picture), drawn, a.targets()[r], a.scores()[r]);
        }
        return name;
    }

    /**
     * The outputs of one volume row: montages of the map over the scan (axial, and the other
     * --montage-views), and, when the input was NIfTI, the map as NIfTI on the scan's grid and
     * affine (trilinear resize back, half-voxel centres), with the scan's header fields.
     */
    private void volumeOutputs(Attribution a, int r, NdArray input, String source, int index, OverlayStyle look,
            Map<String, Object> it) throws IOException {
        Colormap cmap = look.colormap() == null ? Colormap.JET : look.colormap();
        float alpha = look.alpha();
        long[] s = a.shape(), xs = input.shape();
        int d = (int) xs[2], h = (int) xs[3], w = (int) xs[4];
        float[] row = a.row(r), heat, raw;
        if (a.layout() == Attribution.Layout.CAM) {
            heat = row;
            raw = row;
        } else if (a.layout() == Attribution.Layout.INPUT) {
            int c = (int) s[1];
            heat = Overlay.heatFromInputMap(row, c, d * h, w);
            raw = new float[d * h * w];
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < raw.length; i++) raw[i] += row[ch * raw.length + i];
        } else {
            throw new SalientException(method + ": no montage for a " + a.layout() + " map of a volume");
        }
        float[] scan = java.util.Arrays.copyOf(input.data(), d * h * w);
        String stem = String.format(Locale.ROOT, "%04d_%s_%s_c%d", index, stemOf(source), method.replace("+", "p"),
                a.targets()[r]);
        Map<String, Object> montages = new LinkedHashMap<>();
        java.util.LinkedHashSet<dev.salient.report.VolumeMontage.View> views = new java.util.LinkedHashSet<>();
        views.add(dev.salient.report.VolumeMontage.View.AXIAL);
        for (String v : montageViews) views.add(dev.salient.report.VolumeMontage.View.parse(v));
        for (dev.salient.report.VolumeMontage.View v : views) {
            int n = v == dev.salient.report.VolumeMontage.View.AXIAL ? d : v == dev.salient.report.VolumeMontage.View.CORONAL ? h : w;
            int step = montageStep != null ? montageStep : dev.salient.report.VolumeMontage.defaultStep(n, 16);
            BufferedImage img = dev.salient.report.VolumeMontage.render(heat, scan, d, h, w, v, step, cmap, alpha);
            String name = stem + "_" + v.id() + ".png";
            Path tmp = out.resolve(name + ".partial");
            if (!ImageIO.write(img, "png", tmp.toFile())) throw new SalientException("cannot write PNG " + tmp);
            renames.add(new Path[] {tmp, out.resolve(name)});
            montages.put(v.id(), Map.of("file", name, "slice_step", step, "slices", (n + step - 1) / step));
        }
        it.put("overlay", ((Map<?, ?>) montages.get("axial")).get("file"));
        it.put("montages", montages);
        dev.salient.io.Nifti.Volume nv = niftis.get(source);
        if (nv != null) {
            float[] back = dev.salient.io.Volumes.resizeTrilinear(raw, new int[] {d, h, w}, new int[] {nv.nz(), nv.ny(), nv.nx()});
            String name = stem + ".nii.gz";
            Path tmp = out.resolve(name + ".partial.nii.gz");
            dev.salient.io.Nifti.write(tmp, back, nv);
            renames.add(new Path[] {tmp, out.resolve(name)});
            it.put("nifti_map", name);
            it.put("nifti", nv.describe());
        }
    }
    /** A picture of input row {@code img} of an NPY (no image behind it), or null when it is not 1 or 3+ channels. */
    private static BufferedImage inputPicture(NdArray inputs, int img) {
        if (inputs.shape().length != 4) return null;
        int c = (int) inputs.dim(1), h = (int) inputs.dim(2), w = (int) inputs.dim(3);
        return Overlay.fromTensor(inputs.sliceFirst(img, img + 1).data(), c, h, w);
    }

    // ---- the contact sheet of a folder run: one row per image, its input then its maps

    private ContactSheet sheet;
    private String sheetSource;
    private final List<BufferedImage> sheetCells = new ArrayList<>();
    private final List<String> sheetClasses = new ArrayList<>();

    private List<String> sheetColumns(int maps) {
        List<String> cols = new ArrayList<>(List.of("input"));
        for (int k = 0; k < maps; k++) cols.add(maps == 1 ? method : method + " #" + (k + 1));
        return cols;
    }

    private void addToSheet(String source, BufferedImage picture, BufferedImage drawn, int target, float score) {
        if (!source.equals(sheetSource)) {
            flushSheetRow();
            sheetSource = source;
            sheetCells.add(picture);
        }
        sheetCells.add(drawn);
        sheetClasses.add(String.format(Locale.ROOT, "%d (%.3g)", target, score));
    }

    private void flushSheetRow() {
        if (sheetSource == null) return;
        String name = Path.of(sheetSource.replaceAll("\\[\\d+\\]$", "")).getFileName().toString()
                + (sheetSource.endsWith("]") ? sheetSource.substring(sheetSource.lastIndexOf('[')) : "");
        sheet.addRow(name + ": class " + String.join(", ", sheetClasses), new ArrayList<>(sheetCells));
        sheetSource = null;
        sheetCells.clear();
        sheetClasses.clear();
    }

    /** Overlays of the current batch, written under temporary names: {temporary, final}. */
    private final List<Path[]> renames = new ArrayList<>();

    /**
     * The file name stem of a source ({@code dir/cat.png}, {@code x.npy[3]} or {@code ct.nii.gz}), safe
     * for a file name.
     */
    private static String stemOf(String source) {
        java.util.regex.Matcher mi = java.util.regex.Pattern.compile("^(.*?)(?:\\[(\\d+)\\])?$").matcher(source);
        mi.matches();
        String stem = Path.of(mi.group(1)).getFileName().toString().replaceAll("(\\.nii)?\\.[A-Za-z]+$", "")
                + (mi.group(2) != null ? "_" + mi.group(2) : "");
        return stem.replaceAll("[^A-Za-z0-9_.-]", "_");
    }

    /** The method options given on the command line, by name, as text. */
    private Map<String, String> givenMethodOptions() {
        Map<String, String> given = new TreeMap<>();
        CommandLine.ParseResult pr = spec.commandLine().getParseResult();
        for (String name : methodOptionNames()) {
            CommandLine.Model.OptionSpec o = pr == null ? null : pr.matchedOption(name);
            if (o != null) given.put(name, o.getValue());
        }
        return given;
    }

    /** Every option name of every method (each once), in the order the specs list them. */
    static List<String> methodOptionNames() {
        List<String> names = new ArrayList<>();
        for (MethodSpec s : Methods.ALL)
            for (MethodOption<?> o : s.options()) if (!names.contains(o.cli())) names.add(o.cli());
        return names;
    }

    /** Adds every method's options (each name once, as text parsed by the spec) to the explain command. */
    static void addMethodOptions(CommandLine explain) {
        CommandLine.Model.CommandSpec cs = explain.getCommandSpec();
        for (String name : methodOptionNames()) {
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
            if (first.defaultValue() instanceof Boolean) ob.arity("0..1").fallbackValue("true");   // a flag
            cs.addOption(ob.build());
        }
        String all = Methods.ALL.stream().map(MethodSpec::name).collect(Collectors.joining(", "));
        cs.usageMessage().footer("%nMethods: " + all + ".", "'salient explain --method NAME --help' lists one method's options.");
    }

    /** {@code explain --method NAME --help}: the method's definition, layout and its options only. */
    static String methodHelp(MethodSpec s) {
        StringBuilder b = new StringBuilder();
        b.append("salient explain --method ").append(s.name()).append(": ").append(s.definition().replace("`", ""))
                .append('\n');
        b.append("family: ").append(s.family().id()).append("; output: ").append(s.layout().describe()).append('\n');
        if (s.options().isEmpty()) b.append("It has no options of its own.\n");
        else {
            b.append("Options:\n");
            for (MethodOption<?> o : s.options()) {
                b.append(String.format(Locale.ROOT, "  %-24s %s%n", o.cli() + " " + o.label(), o.description()));
            }
        }
        b.append("Common options (model, input, target, device, ...): salient explain --help\n");
        return b.toString();
    }
}
