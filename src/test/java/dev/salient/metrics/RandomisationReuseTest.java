package dev.salient.metrics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.Methods;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.metrics.faithfulness.Curves;
import dev.salient.metrics.localisation.Region;
import dev.salient.metrics.randomisation.ModelRandomisation;
import dev.salient.model.Model;
import dev.salient.model.Plan;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The randomisation test takes each step's values upstream of its randomised layers from one
 * run of the original model ({@link Model#reusing}). Held here: the metric's values are the same
 * bits with and without that reuse; a run that reuses gives the bits of one that does not; it
 * does take the unchanged values (a poisoned one shows in its output) and never one that its
 * changed constants reach (a poisoned one does not); and an input other than the one the values
 * were computed on computes everything.
 */
class RandomisationReuseTest {
    static final Path VGG = Path.of("src/test/resources/fixtures/methods/vgg");

    static List<Evaluation.ImageResult> randomisation(Model m, Backend b, long budget) {
        NdArray x = Npy.read(VGG.resolve("input.npy"));
        int c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3), d = c * h * w;
        List<Evaluation.Image> images = new ArrayList<>();
        for (int i = 0; i < 3; i++)
            images.add(new Evaluation.Image("img" + i, java.util.Arrays.copyOfRange(x.data(), (i % (int) x.dim(0)) * d,
                    (i % (int) x.dim(0) + 1) * d), c, h, w, i == 1 ? 1 : 9, Region.ofBoxes(h, w, new int[][] {{4, 4, 20, 20}})));
        List<Evaluation.Method> methods = new ArrayList<>();
        for (String name : List.of("gradcam", "saliency")) {
            MethodSpec s = Methods.get(name);
            methods.add(new Evaluation.Method(name, s.create(m), mm -> s.create(mm)));
        }
        Evaluation.Options o = new Evaluation.Options(List.of("randomisation"), 8, Scorer.Type.PROBABILITY, 3,
                Curves.Baseline.BLUR, 3, 0.003, 0.02, false);
        return Evaluation.run(m, b, budget, images, methods, o, 2, null);
    }

    @Test
    void theMetricIsTheSameBitsWithAndWithoutReuse() {
        try (Model m = Model.load(VGG.resolve("model.onnx"))) {
            // 256 MiB: every batch's values held (reuse); 4 KiB: none fit (every step computes everything)
            List<Evaluation.ImageResult> reuse = randomisation(m, Engine.cpu(), 1L << 28);
            List<Evaluation.ImageResult> plain = randomisation(m, Engine.cpu(), 1L << 12);
            int n = 0;
            for (int i = 0; i < reuse.size(); i++)
                for (String method : plain.get(i).values.keySet()) {
                    Object a = reuse.get(i).values.get(method).get("randomisation"), b = plain.get(i).values.get(method).get("randomisation");
                    assertEquals(b.toString(), a.toString(), "image " + i + " " + method);
                    n += ((Map<?, ?>) b).size();
                }
            assertTrue(n >= 3 * 2 * 2 * ModelRandomisation.layersTopDown(m).size(), "values compared: " + n);
        }
    }

    @Test
    void aRunTakesExactlyTheUnchangedValues() {
        Backend b = Engine.cpu();
        try (Model m = Model.load(VGG.resolve("model.onnx"))) {
            NdArray xa = Npy.read(VGG.resolve("input.npy"));
            String in = m.inputs().get(0).name(), out = m.outputs().get(0).name();
            List<ModelRandomisation.Layer> layers = ModelRandomisation.layersTopDown(m);
            int upTo = layers.size() / 2; // the upper half randomised
            Set<String> changed = new LinkedHashSet<>();
            for (int i = 0; i <= upTo; i++) {
                changed.add(layers.get(i).weight());
                if (layers.get(i).bias() != null) changed.add(layers.get(i).bias());
            }
            Plan plan = m.plan(Map.of(in, xa.shape()), Set.of(out));
            Set<String> names = new LinkedHashSet<>();
            for (Plan.Step s : plan.steps()) for (String t : s.outputs()) if (!t.isEmpty()) names.add(t);
            // the data input of the first step that reads a changed weight: unchanged, and read by a step that runs
            String first = null;
            for (Plan.Step s : plan.steps())
                if (first == null && s.node().inputs().stream().anyMatch(changed::contains)) first = s.inputs()[0];
            assertTrue(first != null && names.contains(first), "frontier " + first);
            try (Model rm = ModelRandomisation.randomised(m, layers, upTo, 5); Tensor x = b.upload(xa.data(), xa.shape())) {
                float[] plainOut = run(rm, b, x, in, out);
                Map<String, Tensor> values = m.run(b, Map.of(in, x), names);
                try {
                    rm.reusing(new Model.Prefix(xa.data(), values, changed));
                    assertArrayEquals(plainOut, run(rm, b, x, in, out), 0f, "a run that reuses");

                    // a poisoned value downstream of a change is never read
                    Map<String, Tensor> poisoned = new HashMap<>(values);
                    try (Tensor bad = poison(b, values.get(out))) {
                        poisoned.put(out, bad);
                        rm.reusing(new Model.Prefix(xa.data(), poisoned, changed));
                        assertArrayEquals(plainOut, run(rm, b, x, in, out), 0f, "a changed value taken from the other run");
                    }
                    // a poisoned unchanged value is taken: the output moves
                    poisoned = new HashMap<>(values);
                    try (Tensor bad = poison(b, values.get(first))) {
                        poisoned.put(first, bad);
                        rm.reusing(new Model.Prefix(xa.data(), poisoned, changed));
                        assertFalse(java.util.Arrays.equals(plainOut, run(rm, b, x, in, out)), "the unchanged values were computed anyway");
                        // ... unless the input differs from the one the values belong to
                        float[] other = xa.data().clone();
                        other[0] += 1f;
                        try (Tensor x2 = b.upload(other, xa.shape())) {
                            rm.reusing(null);
                            float[] ref = run(rm, b, x2, in, out);
                            rm.reusing(new Model.Prefix(xa.data(), poisoned, changed));
                            assertArrayEquals(ref, run(rm, b, x2, in, out), 0f, "values of another input were taken");
                        }
                    }
                } finally {
                    rm.reusing(null);
                    for (Tensor t : values.values()) t.close();
                }
            }
        }
    }

    private static float[] run(Model m, Backend b, Tensor x, String in, String out) {
        try (Tensor y = m.run(b, Map.of(in, x), Set.of(out)).get(out)) {
            return y.toArray();
        }
    }

    private static Tensor poison(Backend b, Tensor t) {
        float[] v = t.toArray();
        for (int i = 0; i < v.length; i++) v[i] += 1f;
        return b.upload(v, t.shape());
    }
}
