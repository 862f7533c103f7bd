package dev.salient.explain.perturbation;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.Methods;
import dev.salient.explain.Target;
import dev.salient.explain.core.Cost;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Occlusion, feature ablation and Score-CAM through the model's first conv by its linearity
 * ({@link CoalitionStem}): the features become cells (each pixel's set of covering features: a
 * segment, or a block between the windows' edges) and each ablation the coalition that keeps
 * every other cell; Score-CAM's masks are the bilinear upsampling of its normalised planes, four
 * weighted roles of the grid's labels. Against blending each image and running the whole model: the same values up
 * to the conv's regrouped rounding, one forward pass fewer an image (the image's own evaluation
 * gives its target), the images' scores bit for bit the model's own, the same bytes under a
 * small memory budget.
 */
class AblationStemTest {
    static final Backend CPU = Engine.cpu();

    static Attribution run(Model m, NdArray input, String method, Map<String, String> o, long budget) {
        var spec = Methods.get(method);
        try (Tensor x = input.upload(CPU)) {
            var e = spec.create(m, MethodOptions.parse(spec, o));
            if (budget > 0) e.memoryBudget(budget);
            return e.explain(CPU, x, Target.top1());
        }
    }

    @Test
    void matchesTheWholeModel() {
        String[][] cases = {{"resnet", "occlusion"}, {"vgg", "occlusion"}, {"resnet", "featureablation"}, {"vgg", "featureablation"},
                {"resnet", "scorecam"}, {"vgg", "scorecam"}};
        for (String[] c : cases) {
            Path dir = Path.of("src/test/resources/fixtures/methods", c[0]);
            NdArray input = Npy.read(dir.resolve("input.npy"));
            Map<String, String> o = c[1].equals("occlusion") ? Map.of("--window", "8", "--stride", "6", "--baseline", "constant:0.2")
                    : c[1].equals("scorecam") ? Map.of() : Map.of("--segments", "grid:3", "--baseline", "blur:2");
            String what = c[0] + " " + c[1];
            try (Model m = Model.load(dir.resolve("model.onnx"))) {
                assertNotNull(CoalitionStem.of(m), what + ": the fixture has such a first conv");
                float[] logits;
                try (Tensor x = input.upload(CPU); Tensor y = m.forward(CPU, x)) {
                    logits = y.toArray();
                }
                Cost.reset();
                Attribution stem = run(m, input, c[1], o, 0);
                long stemForwards = Cost.counts().forwards();
                Attribution small = run(m, input, c[1], o, 300_000);
                CoalitionStem.enabled = false;
                try {
                    Cost.reset();
                    Attribution whole = run(m, input, c[1], o, 0);
                    long wholeForwards = Cost.counts().forwards();
                    int n = (int) input.shape()[0];
                    // the images' own evaluations give their targets (Score-CAM ran a separate forward of them too)
                    assertEquals(wholeForwards - (c[1].equals("scorecam") ? 0 : n), stemForwards, what + ": forward passes");
                    double max = 0;
                    for (float v : whole.values()) max = Math.max(max, Math.abs(v));
                    Parity.assertClose(what + ": stem vs whole model", stem.values(), whole.values(), 1e-5 * max, 1e-4);
                    assertArrayEquals(whole.targets(), stem.targets(), what + ": targets");
                    int classes = logits.length / n;
                    for (int i = 0; i < n; i++)
                        assertEquals(logits[i * classes + stem.targets()[i]], stem.scores()[i], 0f, what + ": image " + i + "'s score");
                } finally {
                    CoalitionStem.enabled = true;
                }
                assertArrayEquals(stem.values(), small.values(), what + ": the same bytes in small chunks");
            }
        }
    }
}
