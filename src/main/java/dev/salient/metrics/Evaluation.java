package dev.salient.metrics;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.Target;
import dev.salient.metrics.complexity.Sparseness;
import dev.salient.metrics.faithfulness.ConfidenceChange;
import dev.salient.metrics.faithfulness.Curves;
import dev.salient.metrics.faithfulness.Road;
import dev.salient.metrics.localisation.PointingGame;
import dev.salient.metrics.localisation.Region;
import dev.salient.metrics.randomisation.ModelRandomisation;
import dev.salient.metrics.randomisation.Similarity;
import dev.salient.metrics.robustness.Infidelity;
import dev.salient.metrics.robustness.Sensitivity;
import dev.salient.model.HostTensor;
import dev.salient.model.Model;
import dev.salient.model.Plan;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Scores methods with metrics over a set of images: every method explains every image once
 * (for the image's target), and every metric reuses those maps. Values per image and method
 * are numbers, or objects of numbers for metrics that give several (ROAD's MoRF, LeRF and
 * combined; randomisation's Spearman and SSIM per layer). Curves (deletion, insertion, MoRF,
 * LeRF) are kept per image.
 */
public final class Evaluation {
    private Evaluation() {}

    /** One image: its source name, model input (C,H,W), target class and ground-truth region (or null). */
    public record Image(String source, float[] x, int c, int h, int w, int target, Region region) {}

    /** One method: its name, its explainer, and how to make one for another model (randomisation). */
    public record Method(String name, Explainer explainer, Function<Model, Explainer> factory) {}

    /** The metric options. */
    public record Options(List<String> metrics, int steps, Scorer.Type scores, long seed, Curves.Baseline flipBaseline,
            int perturbations, double sigma, double radius, boolean normalize) {}

    /** What one image gave: per method its map, its metric values and its curves. */
    public static final class ImageResult {
        public final Image image;
        public final Map<String, MapView> maps = new LinkedHashMap<>();
        public final Map<String, Map<String, Object>> values = new LinkedHashMap<>();
        public final Map<String, Map<String, Curves.Curve>> curves = new LinkedHashMap<>();

        ImageResult(Image image) {
            this.image = image;
        }
    }

    /** Called after each image with (images done, total). */
    public interface Progress {
        void step(int done, int total);
    }

    public static List<ImageResult> run(Model model, Backend b, long budget, List<Image> images, List<Method> methods,
            Options o, int batch, Progress progress) {
        return run(model, b, budget, images, methods, o, batch, progress, new LinkedHashMap<>());
    }

    /** As above, adding the nanoseconds spent per stage ("explain", then each metric) to {@code nanos}. */
    public static List<ImageResult> run(Model model, Backend b, long budget, List<Image> images, List<Method> methods,
            Options o, int batch, Progress progress, Map<String, Long> nanos) {
        for (String m : o.metrics()) Metrics.get(m);
        if (o.steps() < 1) throw new SalientException("--steps must be at least 1, got " + o.steps());
        Scorer scorer = new Scorer(model, b, budget);
        List<ImageResult> out = new ArrayList<>();
        for (Image im : images) out.add(new ImageResult(im));
        // 1. every method explains every image once
        long t0 = System.nanoTime();
        for (Method m : methods) explainAll(b, m.name(), m.explainer(), out, batch);
        nanos.merge("explain", System.nanoTime() - t0, Long::sum);
        // 2. per image, every metric on every map
        for (int i = 0; i < out.size(); i++) {
            ImageResult r = out.get(i);
            Image im = r.image;
            try (Tensor x = b.upload(im.x(), 1, im.c(), im.h(), im.w())) {
                for (Method m : methods) {
                    MapView map = r.maps.get(m.name());
                    Map<String, Object> v = r.values.computeIfAbsent(m.name(), k -> new LinkedHashMap<>());
                    Map<String, Curves.Curve> cv = r.curves.computeIfAbsent(m.name(), k -> new LinkedHashMap<>());
                    float[] yo = null;
                    for (String metric : o.metrics()) {
                        long m0 = System.nanoTime();
                        switch (metric) {
                            case "deletion" -> put(v, cv, metric, Curves.deletion(scorer, x, map, im.target(), o.steps(), o.scores()));
                            case "insertion" -> put(v, cv, metric, Curves.insertion(scorer, x, map, im.target(), o.steps(), o.scores()));
                            case "morf", "lerf" -> put(v, cv, metric, Curves.flipping(scorer, x, map, im.target(), o.steps(),
                                    o.scores(), metric.equals("morf"), o.flipBaseline()));
                            case "road" -> v.put(metric, Road.evaluate(scorer, im.x(), im.c(), im.h(), im.w(), map, im.target(),
                                    o.scores(), Road.philox(b, o.seed(), i, im.c(), im.h() * im.w())));
                            case "avgdrop", "increase", "win" -> {
                                if (yo == null) yo = ConfidenceChange.scores(scorer, x, map, im.target(), o.scores());
                                if (metric.equals("avgdrop")) v.put(metric, ConfidenceChange.drop(yo[0], yo[1]));
                                if (metric.equals("increase")) v.put(metric, ConfidenceChange.increase(yo[0], yo[1]));
                                if (metric.equals("win")) v.put("win", ConfidenceChange.drop(yo[0], yo[1])); // replaced below
                            }
                            case "pointing" -> {
                                if (im.region() != null) v.put(metric, PointingGame.hit(map, im.region(), PointingGame.TOLERANCE));
                            }
                            case "energypointing" -> {
                                if (im.region() != null) v.put(metric, PointingGame.energy(map, im.region()));
                            }
                            case "infidelity" -> {
                                float[] z = Infidelity.draws(b, o.seed(), i, o.perturbations(), (long) im.c() * im.h() * im.w());
                                v.put(metric, Infidelity.evaluate(scorer, x, map, im.target(), z, o.perturbations(), o.sigma(),
                                        o.normalize()));
                            }
                            case "sensitivity" -> {
                                float[] u = Sensitivity.draws(b, o.seed() + 1, i, o.perturbations(), (long) im.c() * im.h() * im.w());
                                v.put(metric, Sensitivity.evaluate(b, m.explainer(), x, map.raw(), im.target(), u,
                                        o.perturbations(), o.radius()));
                            }
                            case "sparseness" -> v.put(metric, Sparseness.gini(map.raw()));
                            case "complexity" -> v.put(metric, Sparseness.entropy(map.raw()));
                            case "randomisation" -> { } // below, one model copy per layer for all images
                            default -> throw new SalientException("unknown metric '" + metric + "'");
                        }
                        nanos.merge(metric, System.nanoTime() - m0, Long::sum);
                    }
                }
            }
            if (progress != null) progress.step(i + 1, out.size());
        }
        if (o.metrics().contains("win")) wins(out, methods);
        if (o.metrics().contains("randomisation")) {
            long r0 = System.nanoTime();
            randomisation(model, b, budget, out, methods, o, batch);
            nanos.merge("randomisation", System.nanoTime() - r0, Long::sum);
        }
        return out;
    }

    private static void put(Map<String, Object> v, Map<String, Curves.Curve> cv, String metric, Curves.Curve c) {
        v.put(metric, c.auc());
        cv.put(metric, c);
    }

    /** Win: 1 where the method's drop is the lowest of the methods compared on that image (ties win together). */
    private static void wins(List<ImageResult> out, List<Method> methods) {
        for (ImageResult r : out) {
            double best = Double.POSITIVE_INFINITY;
            for (Method m : methods) best = Math.min(best, (Double) r.values.get(m.name()).get("win"));
            for (Method m : methods) {
                Map<String, Object> v = r.values.get(m.name());
                v.put("win", ((Double) v.get("win")) <= best ? 1.0 : 0.0);
            }
        }
    }

    /** Explains the images in batches; keeps each map as a {@link MapView}. */
    static void explainAll(Backend b, String name, Explainer ex, List<ImageResult> out, int batch) {
        for (int i0 = 0; i0 < out.size(); i0 += batch) {
            int n = Math.min(batch, out.size() - i0);
            Attribution a = explain(b, ex, out.subList(i0, i0 + n));
            if (a.layout() == Attribution.Layout.LAYER)
                throw new SalientException(name + " gives layer-shaped maps, not maps of the input: evaluate needs input-sized maps");
            for (int j = 0; j < n; j++) {
                Image im = out.get(i0 + j).image;
                boolean cam = a.layout() == Attribution.Layout.CAM;
                out.get(i0 + j).maps.put(name, new MapView(a.row(j), cam ? 1 : im.c(), im.h(), im.w(), cam));
            }
        }
    }

    static Attribution explain(Backend b, Explainer ex, List<ImageResult> part) {
        float[] x = stack(part);
        Image first = part.get(0).image;
        int[] t = new int[part.size()];
        for (int j = 0; j < t.length; j++) t[j] = part.get(j).image.target();
        try (Tensor xt = b.upload(x, part.size(), first.c(), first.h(), first.w())) {
            return ex.explain(b, xt, Target.perImage(t));
        }
    }

    /** The images of {@code part} as one (N,C,H,W) batch. */
    static float[] stack(List<ImageResult> part) {
        Image first = part.get(0).image;
        int n = part.size(), d = first.c() * first.h() * first.w();
        float[] x = new float[n * d];
        for (int j = 0; j < n; j++) {
            Image im = part.get(j).image;
            if (im.x().length != d) throw new SalientException("input " + im.source() + " does not have the shape of " + first.source());
            System.arraycopy(im.x(), 0, x, j * d, d);
        }
        return x;
    }

    /**
     * Cascading randomisation, top-down: for each layer step a randomised copy of the model
     * ({@link ModelRandomisation}), every method explains every image on it, and each image
     * gets {@code <layer>/spearman} and {@code <layer>/ssim} against its original map.
     *
     * <p>A step leaves every value upstream of its randomised layers as the original model
     * computes it, so the original model's values on each batch are computed once and each step
     * takes them instead of recomputing them ({@link Model#reusing}): the later layers' steps
     * compute little more than the layers they randomise. The values of a group of batches are
     * held together, within a quarter of the memory budget; the steps run over the group, and
     * where one batch's values do not fit, its steps compute everything. The maps are the same
     * bits either way.
     */
    static void randomisation(Model model, Backend b, long budget, List<ImageResult> out, List<Method> methods, Options o,
            int batch) {
        List<ModelRandomisation.Layer> layers = ModelRandomisation.layersTopDown(model);
        if (out.isEmpty()) return;
        Map<Integer, HostTensor[]> draws = new HashMap<>();
        Image first = out.get(0).image;
        long perImage = 0;
        for (Plan.Step s : forwardPlan(model, new long[] {1, first.c(), first.h(), first.w()}).steps())
            for (int i = 0; i < s.outputs().length; i++)
                if (!s.outputs()[i].isEmpty()) perImage += 4 * dev.salient.engine.Shapes.numel(s.outputShapes()[i]);
        perImage = Math.max(1, perImage);
        long cap = budget / 4;
        // whole batches, at least one
        int group = (int) Math.max(batch, Math.min(out.size(), cap / perImage / batch * batch));
        for (int g0 = 0; g0 < out.size(); g0 += group) {
            List<ImageResult> grp = out.subList(g0, Math.min(out.size(), g0 + group));
            Map<ImageResult, Map<String, Similarity.Reference>> refs = new java.util.IdentityHashMap<>();
            List<Model.Prefix> prefixes = new ArrayList<>();
            try {
                for (int i0 = 0; i0 < grp.size(); i0 += batch) {
                    List<ImageResult> part = grp.subList(i0, Math.min(grp.size(), i0 + batch));
                    prefixes.add(perImage * part.size() <= cap ? originalValues(model, b, part) : null);
                }
                for (int li = 0; li < layers.size(); li++) {
                    Set<String> changed = new HashSet<>();
                    for (int i = 0; i <= li; i++) {
                        changed.add(layers.get(i).weight());
                        if (layers.get(i).bias() != null) changed.add(layers.get(i).bias());
                    }
                    try (Model rm = ModelRandomisation.randomised(model, layers, li, o.seed(), draws)) {
                        for (Method m : methods) {
                            Explainer ex = m.factory().apply(rm);
                            for (int i0 = 0, k = 0; i0 < grp.size(); i0 += batch, k++) {
                                int n = Math.min(batch, grp.size() - i0);
                                Model.Prefix p = prefixes.get(k);
                                rm.reusing(p == null ? null : new Model.Prefix(p.input(), p.values(), changed));
                                Attribution a = explain(b, ex, grp.subList(i0, i0 + n));
                                String layer = layers.get(li).name();
                                int base = i0;
                                java.util.stream.IntStream.range(0, n).parallel()
                                        .forEach(j -> record(grp.get(base + j), m, a, j, layer, refs));
                            }
                        }
                    }
                }
            } finally {
                for (Model.Prefix p : prefixes)
                    if (p != null) for (Tensor t : p.values().values()) t.close();
            }
        }
    }

    /**
     * One image's similarities at one layer step (images in parallel: each writes its own map).
     * The original map's ranks and box filters are computed at its first step and kept in refs.
     */
    private static void record(ImageResult r, Method m, Attribution a, int j, String layer,
            Map<ImageResult, Map<String, Similarity.Reference>> refs) {
        MapView orig = r.maps.get(m.name());
        MapView rand = new MapView(a.row(j), orig.channels(), orig.h(), orig.w(), orig.cam());
        Map<String, Similarity.Reference> mine;
        synchronized (refs) {
            mine = refs.computeIfAbsent(r, k -> new HashMap<>());
        }
        Similarity.Reference p = mine.computeIfAbsent(m.name(), k -> Similarity.reference(absPixels(orig), orig.h(), orig.w()));
        double[] q = absPixels(rand);
        @SuppressWarnings("unchecked")
        Map<String, Double> v = (Map<String, Double>) r.values.get(m.name())
                .computeIfAbsent("randomisation", k -> new LinkedHashMap<String, Double>());
        v.put(layer + "/spearman", Similarity.spearman(p, q));
        v.put(layer + "/ssim", Similarity.ssim(p, q));
    }

    /** The plan of a forward pass to the first output on an input of {@code shape}. */
    private static Plan forwardPlan(Model model, long[] shape) {
        return model.plan(Map.of(model.inputs().get(0).name(), shape), Set.of(model.outputs().get(0).name()));
    }

    /** The original model's every value on the batch {@code part} (the caller closes them). */
    private static Model.Prefix originalValues(Model model, Backend b, List<ImageResult> part) {
        float[] x = stack(part);
        Image first = part.get(0).image;
        long[] shape = {part.size(), first.c(), first.h(), first.w()};
        Set<String> names = new LinkedHashSet<>();
        for (Plan.Step s : forwardPlan(model, shape).steps()) for (String t : s.outputs()) if (!t.isEmpty()) names.add(t);
        try (Tensor xt = b.upload(x, shape)) {
            return new Model.Prefix(x, model.run(b, Map.of(model.inputs().get(0).name(), xt), names), Set.of());
        }
    }

    /** |pixel map| / max: the pixel map of |a| (sum over channels of absolute values), divided by its max. */
    public static double[] absPixels(MapView m) {
        float[] a = m.raw().clone();
        for (int i = 0; i < a.length; i++) a[i] = Math.abs(a[i]);
        return Maps.absByMax(Maps.pixels(a, m.channels(), m.h() * m.w()));
    }
}
