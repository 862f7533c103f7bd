package dev.salient.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.engine.SalientException;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.metrics.Evaluation;
import dev.salient.metrics.MapView;
import dev.salient.metrics.Metrics;
import dev.salient.metrics.Scorer;
import dev.salient.metrics.faithfulness.Curves;
import dev.salient.metrics.localisation.Region;
import dev.salient.report.Colormap;
import dev.salient.report.EvaluationReport;
import dev.salient.report.Overlay;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import javax.imageio.ImageIO;

/** The files of {@code salient evaluate}: inputs it reads (boxes, masks, labels) and outputs it writes. */
final class EvaluateOutput {
    private EvaluateOutput() {}

    static final String JSON = "metrics.json", CSV = "metrics.csv", HTML = "report.html", CURVES = "curves";

    /** Creates the folder; refuses the inputs' folder and another run's outputs unless {@code overwrite}. */
    static void prepare(Path out, boolean overwrite, Collection<Path> inputs) throws IOException {
        if (Files.exists(out) && !Files.isDirectory(out)) throw new SalientException("--out " + out + " exists and is not a folder");
        for (Path in : inputs)
            if (Files.exists(out) && Files.isSameFile(out, in.toAbsolutePath().getParent()))
                throw new SalientException("--out " + out + " is the inputs' folder; write the output elsewhere");
        Files.createDirectories(out);
        List<Path> previous = new ArrayList<>();
        for (String n : new String[] {JSON, CSV, HTML}) if (Files.exists(out.resolve(n))) previous.add(out.resolve(n));
        if (Files.isDirectory(out.resolve(CURVES))) previous.add(out.resolve(CURVES));
        if (previous.isEmpty()) return;
        if (!overwrite)
            throw new SalientException("--out " + out + " holds another run's outputs (e.g. " + previous.get(0).getFileName()
                    + "); give --overwrite to replace them, or another folder");
        for (Path p : previous) {
            if (Files.isDirectory(p)) try (var s = Files.list(p)) {
                for (Path f : (Iterable<Path>) s::iterator) if (f.getFileName().toString().endsWith(".npy")) Files.delete(f);
            }
            else Files.delete(p);
        }
    }

    /** The name boxes, masks and labels use for a source: its last path segment (with an NPY's [i]). */
    static String key(String source) {
        String s = source.replace('\\', '/');
        return s.substring(s.lastIndexOf('/') + 1);
    }

    static Map<String, Region> readBoxes(Path file, List<String> sources, int h, int w) throws IOException {
        JsonElement root;
        try {
            root = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            throw new SalientException("--boxes " + file + ": not JSON (" + e.getMessage() + ")");
        }
        if (!root.isJsonObject())
            throw new SalientException("--boxes " + file + ": expected an object {\"<image>\": [[x0,y0,x1,y1], ...]}");
        Set<String> known = new LinkedHashSet<>();
        for (String s : sources) known.add(key(s));
        Set<String> unknown = new TreeSet<>();
        Map<String, Region> out = new HashMap<>();
        for (Map.Entry<String, JsonElement> e : root.getAsJsonObject().entrySet()) {
            String k = key(e.getKey());
            if (!known.contains(k)) {
                unknown.add(e.getKey());
                continue;
            }
            if (!e.getValue().isJsonArray())
                throw new SalientException("--boxes " + file + ": the boxes of " + e.getKey() + " are not a list");
            JsonArray arr = e.getValue().getAsJsonArray();
            int[][] boxes = new int[arr.size()][];
            for (int i = 0; i < arr.size(); i++) {
                JsonElement b = arr.get(i);
                if (!b.isJsonArray() || b.getAsJsonArray().size() != 4)
                    throw new SalientException("--boxes " + file + ": box " + i + " of " + e.getKey() + " is not [x0,y0,x1,y1]");
                int[] v = new int[4];
                for (int j = 0; j < 4; j++) v[j] = (int) Math.round(b.getAsJsonArray().get(j).getAsDouble());
                if (v[2] < v[0] || v[3] < v[1] || v[2] < 0 || v[3] < 0 || v[0] >= w || v[1] >= h)
                    throw new SalientException("--boxes " + file + ": box " + b + " of " + e.getKey() + " is empty or outside the "
                            + w + "x" + h + " input");
                boxes[i] = v;
            }
            out.put(k, Region.ofBoxes(h, w, boxes));
        }
        if (!unknown.isEmpty())
            throw new SalientException("--boxes " + file + " names " + unknown.size() + " image(s) not in the input: "
                    + String.join(", ", unknown.stream().limit(5).toList()) + (unknown.size() > 5 ? ", ..." : ""));
        return out;
    }

    static Map<String, Region> readMasks(Path dir, List<String> sources, int h, int w) throws IOException {
        if (!Files.isDirectory(dir)) throw new SalientException("--masks " + dir + " is not a folder");
        Map<String, Region> out = new HashMap<>();
        for (String s : sources) {
            String k = key(s), stem = k.replaceAll("\\[\\d+\\]$", "").replaceAll("\\.[A-Za-z0-9]+$", "");
            String idx = k.matches(".*\\[\\d+\\]$") ? "_" + k.replaceAll(".*\\[(\\d+)\\]$", "$1") : "";
            for (String ext : new String[] {".png", ".npy"}) {
                Path f = dir.resolve(stem + idx + ext);
                if (!Files.isRegularFile(f)) continue;
                boolean[] m;
                int mh, mw;
                if (ext.equals(".png")) {
                    BufferedImage img = ImageIO.read(f.toFile());
                    if (img == null) throw new SalientException("--masks: " + f + " is not a readable PNG");
                    mh = img.getHeight();
                    mw = img.getWidth();
                    m = new boolean[mh * mw];
                    for (int y = 0; y < mh; y++)
                        for (int x = 0; x < mw; x++) m[y * mw + x] = (img.getRGB(x, y) & 0xffffff) != 0;
                } else {
                    NdArray a = Npy.read(f);
                    long[] sh = a.shape();
                    mh = sh.length >= 2 ? (int) sh[sh.length - 2] : -1;
                    mw = sh.length >= 2 ? (int) sh[sh.length - 1] : -1;
                    if (a.data().length != (long) mh * mw) mh = mw = -1;
                    m = new boolean[Math.max(0, mh * mw)];
                    for (int i = 0; i < m.length; i++) m[i] = a.data()[i] != 0;
                }
                if (mh != h || mw != w)
                    throw new SalientException("--masks: " + f + " is " + (mh < 0 ? "not an HxW array" : mw + "x" + mh)
                            + ", but the model input " + k + " is " + w + "x" + h);
                out.put(k, Region.ofMask(h, w, m));
                break;
            }
        }
        return out;
    }

    static Map<String, Integer> readLabels(Path file, List<String> sources) throws IOException {
        Set<String> known = new LinkedHashSet<>();
        for (String s : sources) known.add(key(s));
        Map<String, Integer> out = new HashMap<>();
        int line = 0;
        for (String l : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            line++;
            if (l.isBlank()) continue;
            String[] p = l.split(",");
            if (p.length != 2) throw new SalientException("--labels " + file + ":" + line + ": expected '<image>,<class>'");
            int cls;
            try {
                cls = Integer.parseInt(p[1].strip());
            } catch (NumberFormatException e) {
                if (line == 1) continue; // a header
                throw new SalientException("--labels " + file + ":" + line + ": '" + p[1].strip() + "' is not a class index");
            }
            String k = key(p[0].strip());
            if (!known.contains(k)) throw new SalientException("--labels " + file + ":" + line + " names " + p[0].strip()
                    + ", which is not in the input");
            out.put(k, cls);
        }
        return out;
    }

    // ---- outputs

    static void write(Path out, String model, Map<String, Object> options, List<String> methods,
            List<Metrics.MetricSpec> metrics, List<Evaluation.ImageResult> results, List<NdArray> rgbs, int thumbnails,
            Scorer.Type type) throws IOException {
        // metrics.json
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("model", model);
        root.put("options", options);
        List<Object> images = new ArrayList<>();
        for (Evaluation.ImageResult r : results) {
            Map<String, Object> im = new LinkedHashMap<>();
            im.put("source", r.image.source());
            im.put("target", r.image.target());
            im.put("metrics", r.values);
            images.add(im);
        }
        root.put("images", images);
        Map<String, Map<String, Map<String, Object>>> summary = summary(methods, metrics, results);
        root.put("summary", summary);
        RunOutput.writeJson(out.resolve(JSON), root);
        // metrics.csv: one line per image, method and value
        StringBuilder csv = new StringBuilder("source,target,method,metric,value\n");
        for (Evaluation.ImageResult r : results)
            for (String m : methods)
                for (Map.Entry<String, Object> e : r.values.getOrDefault(m, Map.of()).entrySet())
                    for (Map.Entry<String, Double> v : flatten(e.getKey(), e.getValue()).entrySet())
                        csv.append(csvField(r.image.source())).append(',').append(r.image.target()).append(',').append(m)
                                .append(',').append(csvField(v.getKey())).append(',').append(num(v.getValue())).append('\n');
        RunOutput.writeAtomically(out.resolve(CSV), csv.toString().getBytes(StandardCharsets.UTF_8));
        // curves/<method>_<metric>.npy (images, steps+1) and curves/fractions.npy
        List<EvaluationReport.CurvePlot> plots = new ArrayList<>();
        float[] fractions = null;
        for (String metric : List.of("deletion", "insertion", "morf", "lerf")) {
            if (metrics.stream().noneMatch(s -> s.name().equals(metric))) continue;
            Map<String, double[]> means = new LinkedHashMap<>();
            for (String m : methods) {
                int len = results.get(0).curves.get(m).get(metric).scores().length;
                float[] all = new float[results.size() * len];
                double[] mean = new double[len];
                for (int i = 0; i < results.size(); i++) {
                    Curves.Curve c = results.get(i).curves.get(m).get(metric);
                    fractions = c.fractions();
                    System.arraycopy(c.scores(), 0, all, i * len, len);
                    for (int k = 0; k < len; k++) mean[k] += c.scores()[k] / (double) results.size();
                }
                Files.createDirectories(out.resolve(CURVES));
                Npy.write(out.resolve(CURVES).resolve(fileName(m) + "_" + metric + ".npy"), new long[] {results.size(), len}, all);
                means.put(m, mean);
            }
            plots.add(new EvaluationReport.CurvePlot(metric, fractions, means));
        }
        if (fractions != null) Npy.write(out.resolve(CURVES).resolve("fractions.npy"), new long[] {fractions.length}, fractions);
        // report.html
        List<EvaluationReport.Column> cols = new ArrayList<>(), layerCols = new ArrayList<>();
        Map<String, Map<String, EvaluationReport.Cell>> table = new LinkedHashMap<>();
        Set<String> keys = new LinkedHashSet<>();
        for (String m : methods) keys.addAll(summary.get(m).keySet());
        for (String k : keys) {
            String base = k.contains(".") ? k.substring(0, k.indexOf('.')) : k;
            Metrics.MetricSpec s = Metrics.get(base);
            Boolean hib = s.higherIsBetter();
            if (k.equals("road.morf")) hib = false;
            if (k.equals("road.lerf")) hib = true;
            if (base.equals("randomisation")) layerCols.add(new EvaluationReport.Column(k, k.substring(base.length() + 1), null));
            else cols.add(new EvaluationReport.Column(k, k, hib));
        }
        for (String m : methods) {
            Map<String, EvaluationReport.Cell> row = new LinkedHashMap<>();
            for (Map.Entry<String, Map<String, Object>> e : summary.get(m).entrySet()) {
                Map<String, Object> v = e.getValue();
                @SuppressWarnings("unchecked")
                List<Double> ci = (List<Double>) v.get("ci95");
                row.put(e.getKey(), new EvaluationReport.Cell((Double) v.get("mean"), ci.get(0), ci.get(1), (Integer) v.get("n")));
            }
            table.put(m, row);
        }
        List<EvaluationReport.ImageRow> rows = new ArrayList<>();
        for (int i = 0; i < Math.min(thumbnails, results.size()); i++) {
            Evaluation.ImageResult r = results.get(i);
            NdArray rgb = i < rgbs.size() ? rgbs.get(i) : null;
            BufferedImage base = rgb != null ? toImage(rgb) : gray(r.image.x(), r.image.h(), r.image.w());
            Map<String, byte[]> ov = new LinkedHashMap<>();
            for (String m : methods) {
                MapView mv = r.maps.get(m);
                // drawn as explain draws it (Captum's visualize_image_attr for input-shaped maps), at the
                // input's size: the page scales thumbnails up with nearest-neighbour sampling
                dev.salient.explain.Attribution.Layout lay = mv.cam() ? dev.salient.explain.Attribution.Layout.CAM
                        : dev.salient.explain.Attribution.Layout.INPUT;
                long[] rs = mv.cam() ? new long[] {mv.h(), mv.w()} : new long[] {mv.channels(), mv.h(), mv.w()};
                ov.put(m, png(dev.salient.report.OverlayStyle.defaults().renderAtInputSize(lay, mv.raw(), rs, base)));
            }
            rows.add(new EvaluationReport.ImageRow(key(r.image.source()), String.valueOf(r.image.target()), png(base), ov));
        }
        List<String> notes = List.of("model: " + model, results.size() + " image(s); targets: " + options.get("targets"),
                "scores of the faithfulness metrics: " + (type == Scorer.Type.PROBABILITY ? "softmax probability" : "raw logit")
                        + "; infidelity uses the raw logit",
                "device " + options.get("device") + ", seed " + options.get("seed") + ", curve steps " + options.get("steps"));
        String html = EvaluationReport.html("salient evaluate", notes, methods, cols, layerCols, table, plots, rows);
        RunOutput.writeAtomically(out.resolve(HTML), html.getBytes(StandardCharsets.UTF_8));
    }

    /** Per method and metric key (road.morf, randomisation.<layer>/ssim, ...): mean, 95 % normal interval and count. */
    static Map<String, Map<String, Map<String, Object>>> summary(List<String> methods, List<Metrics.MetricSpec> metrics,
            List<Evaluation.ImageResult> results) {
        Map<String, Map<String, Map<String, Object>>> out = new LinkedHashMap<>();
        for (String m : methods) {
            Map<String, List<Double>> vals = new LinkedHashMap<>();
            for (Metrics.MetricSpec s : metrics) if (!s.name().equals("randomisation")) vals.put(s.name(), new ArrayList<>());
            for (Evaluation.ImageResult r : results)
                for (Map.Entry<String, Object> e : r.values.getOrDefault(m, Map.of()).entrySet())
                    for (Map.Entry<String, Double> v : flatten(e.getKey(), e.getValue()).entrySet()) {
                        if (vals.containsKey(e.getKey()) && !v.getKey().equals(e.getKey())) vals.remove(e.getKey());
                        vals.computeIfAbsent(v.getKey(), k -> new ArrayList<>()).add(v.getValue());
                    }
            Map<String, Map<String, Object>> mm = new LinkedHashMap<>();
            for (Map.Entry<String, List<Double>> e : vals.entrySet()) {
                double sum = 0, sq = 0;
                int n = 0;
                for (double d : e.getValue())
                    if (Double.isFinite(d)) {
                        sum += d;
                        sq += d * d;
                        n++;
                    }
                double mean = n > 0 ? sum / n : Double.NaN;
                double sd = n > 1 ? Math.sqrt(Math.max(0, (sq - n * mean * mean) / (n - 1))) : 0;
                double half = n > 1 ? 1.96 * sd / Math.sqrt(n) : 0;
                Map<String, Object> cell = new LinkedHashMap<>();
                cell.put("mean", mean);
                cell.put("ci95", java.util.Arrays.asList(mean - half, mean + half));
                cell.put("n", n);
                String base = e.getKey().contains(".") ? e.getKey().substring(0, e.getKey().indexOf('.')) : e.getKey();
                if (Metrics.get(base).needsRegion()) cell.put("skipped", results.size() - n);
                mm.put(e.getKey(), cell);
            }
            out.put(m, mm);
        }
        return out;
    }

    /** A metric value as named numbers: itself, or key.sub for each number of an object. */
    @SuppressWarnings("unchecked")
    static Map<String, Double> flatten(String key, Object v) {
        Map<String, Double> out = new LinkedHashMap<>();
        if (v instanceof Map<?, ?> m) for (Map.Entry<String, Double> e : ((Map<String, Double>) m).entrySet())
            out.put(key + "." + e.getKey(), e.getValue());
        else out.put(key, ((Number) v).doubleValue());
        return out;
    }

    static String fileName(String method) {
        return method.replace("+", "p").replaceAll("[^A-Za-z0-9_.-]", "_");
    }

    private static String num(double v) {
        return Double.isFinite(v) ? Double.toString(v) : "";
    }

    private static String csvField(String s) {
        return s.contains(",") || s.contains("\"") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }

    static byte[] png(BufferedImage img) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        if (!ImageIO.write(img, "png", b)) throw new SalientException("cannot encode a PNG");
        return b.toByteArray();
    }

    static BufferedImage toImage(NdArray rgb) {
        int h = (int) rgb.dim(1), w = (int) rgb.dim(2), p = h * w, c = (int) rgb.dim(0);
        float[] d = rgb.data();
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int i = y * w + x;
                int r = Math.round(Math.max(0, Math.min(1, d[i])) * 255);
                int g = Math.round(Math.max(0, Math.min(1, d[(c > 1 ? p : 0) + i])) * 255);
                int b = Math.round(Math.max(0, Math.min(1, d[(c > 2 ? 2 * p : 0) + i])) * 255);
                img.setRGB(x, y, (r << 16) | (g << 8) | b);
            }
        return img;
    }

    /** The first channel of a model input, min-max scaled to grey (for NPY inputs, which have no RGB). */
    static BufferedImage gray(float[] x, int h, int w) {
        float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < h * w; i++) {
            lo = Math.min(lo, x[i]);
            hi = Math.max(hi, x[i]);
        }
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int i = 0; i < h * w; i++) {
            int g = hi > lo ? Math.round((x[i] - lo) / (hi - lo) * 255) : 0;
            img.setRGB(i % w, i / w, (g << 16) | (g << 8) | g);
        }
        return img;
    }
}
