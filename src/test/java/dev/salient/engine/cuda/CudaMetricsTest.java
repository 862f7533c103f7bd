package dev.salient.engine.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.Methods;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.metrics.Evaluation;
import dev.salient.metrics.Scorer;
import dev.salient.metrics.faithfulness.Curves;
import dev.salient.metrics.localisation.Region;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Every metric of {@code salient evaluate} on cuda against the same run on cpu (the vgg fixture
 * model, two images, Grad-CAM and saliency): each value within 1e-3 + 1e-3·|cpu|, the
 * differences of the maps themselves (CAMs agree within 1e-4) moving rankings at near-ties at
 * most; a Spearman correlation of a constant map is NaN on both. Verified in emulation where no device answers; skips with the reason otherwise.
 */
class CudaMetricsTest {

    static List<Evaluation.ImageResult> run(Backend b, Model m) {
        NdArray x = Npy.read(Path.of("src/test/resources/fixtures/methods/vgg/input.npy"));
        int c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3), d = c * h * w;
        List<Evaluation.Image> images = new ArrayList<>();
        int[] targets = {9, 1};
        for (int i = 0; i < 2; i++)
            images.add(new Evaluation.Image("img" + i, java.util.Arrays.copyOfRange(x.data(), i * d, (i + 1) * d), c, h, w,
                    targets[i], Region.ofBoxes(h, w, new int[][] {{4, 4, 20, 20}})));
        List<Evaluation.Method> methods = new ArrayList<>();
        for (String name : List.of("gradcam", "saliency")) {
            MethodSpec s = Methods.get(name);
            methods.add(new Evaluation.Method(name, s.create(m), mm -> s.create(mm)));
        }
        Evaluation.Options o = new Evaluation.Options(List.of("deletion", "insertion", "morf", "lerf", "road", "avgdrop",
                "increase", "win", "pointing", "energypointing", "infidelity", "sensitivity", "sparseness", "complexity",
                "randomisation"), 8, Scorer.Type.PROBABILITY, 3, Curves.Baseline.BLUR, 3, 0.003, 0.02, false);
        return Evaluation.run(m, b, 1L << 28, images, methods, o, 2, null);
    }

    @Test
    void everyMetricAgreesWithTheCpu() {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
        try (Model m = Model.load(Path.of("src/test/resources/fixtures/methods/vgg/model.onnx"))) {
            List<Evaluation.ImageResult> cpu = run(Engine.cpu(), m), gpu = run(CudaBackend.shared(), m);
            List<String> bad = new ArrayList<>();
            int n = 0;
            for (int i = 0; i < cpu.size(); i++)
                for (String method : cpu.get(i).values.keySet())
                    for (Map.Entry<String, Object> e : cpu.get(i).values.get(method).entrySet()) {
                        Object g = gpu.get(i).values.get(method).get(e.getKey());
                        Map<String, Double> ref = flat(e.getKey(), e.getValue()), got = flat(e.getKey(), g);
                        assertEquals(ref.keySet(), got.keySet(), e.getKey());
                        for (String k : ref.keySet()) {
                            n++;
                            double r = ref.get(k), v = got.get(k);
                            if (Double.isNaN(r) && Double.isNaN(v)) continue; // Spearman of a constant map, on both
                            if (!(Math.abs(v - r) <= 1e-3 + 1e-3 * Math.abs(r)))
                                bad.add("image " + i + " " + method + " " + k + ": cuda " + v + ", cpu " + r);
                        }
                    }
            assertTrue(n > 2 * 2 * 15, "values compared: " + n);
            assertTrue(bad.isEmpty(), bad.toString());
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Double> flat(String key, Object v) {
        Map<String, Double> out = new java.util.TreeMap<>();
        if (v instanceof Map<?, ?> m) for (Map.Entry<String, Double> e : ((Map<String, Double>) m).entrySet())
            out.put(key + "." + e.getKey(), e.getValue());
        else out.put(key, ((Number) v).doubleValue());
        return out;
    }
}
