package dev.salient.metrics;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.Methods;
import dev.salient.explain.Target;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.metrics.complexity.Sparseness;
import dev.salient.metrics.faithfulness.ConfidenceChange;
import dev.salient.metrics.faithfulness.Curves;
import dev.salient.metrics.faithfulness.Road;
import dev.salient.metrics.randomisation.Similarity;
import dev.salient.metrics.robustness.Infidelity;
import dev.salient.metrics.robustness.Sensitivity;
import dev.salient.model.Model;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every deterministic metric against scripts/make_metric_fixtures.py's numpy/PyTorch
 * re-implementation of its definition (float64) on the vgg fixture model, its three inputs
 * and two fixed maps per image (a CAM and an input-shaped map): |got − ref| ≤ 1e-5·|ref| (plus
 * 1e-6 absolute for values near 0). Seeded metrics (ROAD, infidelity, sensitivity) get their
 * draws through the test hook, as closed formulas the script repeats.
 */
class MetricExactnessTest {
    static final Path DIR = Path.of("src/test/resources/fixtures/metrics");
    static final Path METHODS = Path.of("src/test/resources/fixtures/methods");
    static final double RTOL = 1e-5, ATOL = 1e-6;
    static Backend b;
    static Model model;
    static JsonObject fx;
    static NdArray x, cam, inp;

    @BeforeAll
    static void load() throws IOException {
        b = Engine.cpu();
        model = Model.load(METHODS.resolve("vgg/model.onnx"));
        fx = JsonParser.parseString(Files.readString(DIR.resolve("metrics.json"))).getAsJsonObject();
        x = Npy.read(METHODS.resolve("vgg/input.npy"));
        cam = Npy.read(DIR.resolve("map_cam.npy"));
        inp = Npy.read(DIR.resolve("map_input.npy"));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static float[] row(NdArray a, int i) {
        int d = a.data().length / (int) a.dim(0);
        return java.util.Arrays.copyOfRange(a.data(), i * d, (i + 1) * d);
    }

    static void close(String what, double ref, double got, List<String> bad) {
        if (!(Math.abs(got - ref) <= ATOL + RTOL * Math.abs(ref)))
            bad.add(String.format("%s: got %.9g, ref %.9g (|diff| %.3g)", what, got, ref, Math.abs(got - ref)));
    }

    static float[] roadNoise(int image, int order, int pi, int n) {
        float[] z = new float[n];
        for (int k = 0; k < n; k++) z[k] = (float) (1.5 * Math.sin(0.37 * k + 1.3 * (order * 9 + pi) + 0.71 * image));
        return z;
    }

    @Test
    void deterministicAndHookedMetricsMatchTheReferences() {
        int c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3);
        int steps = fx.get("steps").getAsInt(), np = fx.get("perturbations").getAsInt();
        double sigma = fx.get("sigma").getAsDouble();
        Scorer s = new Scorer(model, b, 1L << 28);
        List<String> bad = new ArrayList<>();
        int checked = 0;
        for (var e : fx.getAsJsonArray("cases")) {
            JsonObject k = e.getAsJsonObject();
            int i = k.get("image").getAsInt(), t = k.get("target").getAsInt();
            String kind = k.get("map").getAsString(), tag = "image " + i + " " + kind + " ";
            if (kind.equals("saliency")) continue;
            MapView mv = kind.equals("cam") ? new MapView(row(cam, i), 1, h, w, true) : new MapView(row(inp, i), c, h, w, false);
            try (Tensor xi = b.upload(row(x, i), 1, c, h, w)) {
                Curves.Curve del = Curves.deletion(s, xi, mv, t, steps, Scorer.Type.PROBABILITY);
                close(tag + "deletion", k.get("deletion").getAsDouble(), del.auc(), bad);
                var dc = k.getAsJsonArray("deletion_curve");
                for (int j = 0; j < dc.size(); j++) {
                    close(tag + "deletion curve " + j, dc.get(j).getAsDouble(), del.scores()[j], bad);
                    close(tag + "fraction " + j, k.getAsJsonArray("fractions").get(j).getAsDouble(), del.fractions()[j], bad);
                }
                close(tag + "insertion", k.get("insertion").getAsDouble(),
                        Curves.insertion(s, xi, mv, t, steps, Scorer.Type.PROBABILITY).auc(), bad);
                close(tag + "morf mean", k.get("morf_mean").getAsDouble(), Curves.flipping(s, xi, mv, t, steps,
                        Scorer.Type.PROBABILITY, true, Curves.Baseline.MEAN).auc(), bad);
                close(tag + "lerf blur", k.get("lerf_blur").getAsDouble(), Curves.flipping(s, xi, mv, t, steps,
                        Scorer.Type.PROBABILITY, false, Curves.Baseline.BLUR).auc(), bad);
                close(tag + "lerf zeros", k.get("lerf_zeros").getAsDouble(), Curves.flipping(s, xi, mv, t, steps,
                        Scorer.Type.PROBABILITY, false, Curves.Baseline.ZEROS).auc(), bad);
                final int img = i;
                Map<String, Double> road = Road.evaluate(s, row(x, i), c, h, w, mv, t, Scorer.Type.PROBABILITY,
                        (order, pi, n) -> roadNoise(img, order, pi, n));
                for (String r : List.of("morf", "lerf", "combined"))
                    close(tag + "road " + r, k.getAsJsonObject("road").get(r).getAsDouble(), road.get(r), bad);
                float[] yo = ConfidenceChange.scores(s, xi, mv, t, Scorer.Type.PROBABILITY);
                close(tag + "avgdrop", k.get("avgdrop").getAsDouble(), ConfidenceChange.drop(yo[0], yo[1]), bad);
                close(tag + "increase", k.get("increase").getAsDouble(), ConfidenceChange.increase(yo[0], yo[1]), bad);
                float[] z = new float[np * c * h * w];
                for (int j = 0; j < z.length; j++) z[j] = (float) Math.cos(0.11 * j + 0.5 * i);
                close(tag + "infidelity", k.get("infidelity").getAsDouble(),
                        Infidelity.evaluate(s, xi, mv, t, z, np, sigma, false), bad);
                close(tag + "infidelity normalized", k.get("infidelity_normalized").getAsDouble(),
                        Infidelity.evaluate(s, xi, mv, t, z, np, sigma, true), bad);
            }
            close(tag + "sparseness", k.get("sparseness").getAsDouble(), Sparseness.gini(mv.raw()), bad);
            close(tag + "complexity", k.get("complexity").getAsDouble(), Sparseness.entropy(mv.raw()), bad);
            int j = (i + 1) % (int) x.dim(0);
            MapView other = kind.equals("cam") ? new MapView(row(cam, j), 1, h, w, true) : new MapView(row(inp, j), c, h, w, false);
            double[] pa = Evaluation.absPixels(mv), pb = Evaluation.absPixels(other);
            close(tag + "spearman", k.get("spearman").getAsDouble(), Similarity.spearman(pa, pb), bad);
            close(tag + "ssim", k.get("ssim").getAsDouble(), Similarity.ssim(pa, pb, h, w), bad);
            checked++;
        }
        assertEquals(6, checked, "cases of two maps on three images");
        assertTrue(bad.isEmpty(), bad.size() + " mismatch(es), first: " + bad.subList(0, Math.min(8, bad.size())));
    }

    @Test
    void sensitivityOfSaliencyWithHookedDrawsMatchesTheReference() {
        int c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3);
        int np = fx.get("perturbations").getAsInt();
        double radius = fx.get("radius").getAsDouble();
        Explainer ex = Methods.get("saliency").create(model);
        List<String> bad = new ArrayList<>();
        for (var e : fx.getAsJsonArray("cases")) {
            JsonObject k = e.getAsJsonObject();
            if (!k.get("map").getAsString().equals("saliency")) continue;
            int i = k.get("image").getAsInt(), t = k.get("target").getAsInt();
            float[] u = new float[np * c * h * w];
            for (int j = 0; j < u.length; j++) u[j] = (float) (0.5 + 0.49 * Math.sin(0.23 * j + 0.3 * i));
            try (Tensor xi = b.upload(row(x, i), 1, c, h, w)) {
                Attribution a = ex.explain(b, xi, Target.perImage(t));
                close("image " + i + " sensitivity", k.get("sensitivity").getAsDouble(),
                        Sensitivity.evaluate(b, ex, xi, a.row(0), t, u, np, radius), bad);
            }
        }
        assertTrue(bad.isEmpty(), bad.toString());
    }
}
