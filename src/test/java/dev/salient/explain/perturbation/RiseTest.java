package dev.salient.explain.perturbation;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.Methods;
import dev.salient.explain.Target;
import dev.salient.explain.core.Driver;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * RISE: its masks against scikit-image's resize as the authors' code calls it, its
 * saliency against the definition Σ y_t(x ⊙ M_i) M_i / (N p) evaluated mask by mask,
 * chunking, and a Monte Carlo error that shrinks as 1/N.
 */
class RiseTest {
    static final Path METHODS = Path.of("src/test/resources/fixtures/methods");
    static final Path ROOT = Path.of("src/test/resources/fixtures/perturbation");
    static final Backend CPU = Engine.cpu();
    static Model model;
    static NdArray input;

    @BeforeAll
    static void load() {
        model = Model.load(METHODS.resolve("resnet/model.onnx"));
        input = Npy.read(METHODS.resolve("resnet/input.npy"));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void masksAreScikitImageResizeCropped() {
        float[] grid = Npy.read(ROOT.resolve("rise_grid.npy")).data();
        float[] want = Npy.read(ROOT.resolve("rise_masks.npy")).data();
        int[][] shifts = {{0, 0}, {4, 2}, {3, 4}};
        for (int k = 0; k < shifts.length; k++) {
            float[] got = Rise.mask(grid, 7, 32, 32, shifts[k][0], shifts[k][1]);
            float[] ref = java.util.Arrays.copyOfRange(want, k * 1024, (k + 1) * 1024);
            Parity.assertClose("rise mask at shift " + k, got, ref, 1e-6, 0);
        }
    }

    @Test
    void isTheDefinitionWhateverTheChunking() {
        int n = 24;
        Rise rise = new Rise(model, n, 5, 0.4f, 3);
        float[] a, tight;
        int[] targets;
        float[] want = new float[3 * 1024];
        try (Tensor x = input.upload(CPU)) {
            Attribution r = rise.explain(CPU, x, Target.top1());
            a = r.values();
            targets = r.targets();
            tight = new Rise(model, n, 5, 0.4f, 3).memoryBudget(1).explain(CPU, x, Target.top1()).values();
            float[] m = rise.masks(CPU, 0, n, 32, 32);
            for (int s = 0; s < n; s++) {
                try (Tensor ms = CPU.upload(java.util.Arrays.copyOfRange(m, s * 1024, (s + 1) * 1024), 1, 1024);
                        Tensor zero = CPU.zeros(1, 3, 32, 32); Tensor y = CPU.allocate(3, 3, 32, 32)) {
                    CPU.maskedBlend(x, zero, ms, y);
                    float[] logits = Driver.forwardChunked(model, CPU, y, 3);
                    for (int i = 0; i < 3; i++)
                        for (int p = 0; p < 1024; p++)
                            want[i * 1024 + p] += logits[i * 10 + targets[i]] * m[s * 1024 + p] / (n * 0.4f);
                }
            }
        }
        // the masks are a function of (seed, index): the same for every chunking
        float[] again = new Rise(model, n, 5, 0.4f, 3).masks(CPU, 5, 7, 32, 32);
        float[] all = new Rise(model, n, 5, 0.4f, 3).masks(CPU, 0, n, 32, 32);
        assertArrayEquals(java.util.Arrays.copyOfRange(all, 5 * 1024, 12 * 1024), again);
        double max = 0;
        for (float v : want) max = Math.max(max, Math.abs(v));
        Parity.assertClose("rise", a, want, 1e-5 * max, 1e-5);
        assertArrayEquals(a, tight, "rise, one evaluation per chunk: the same bytes");
    }

    /**
     * The Monte Carlo error shrinks as 1/N: the mean squared difference of two runs with
     * independent seeds drops about 4-fold from N = 200 to N = 800 masks (at least 2-fold
     * here; repeated or correlated streams would keep it flat).
     */
    @Test
    void errorShrinksWithTheNumberOfMasks() {
        double few, many;
        try (Tensor all = input.upload(CPU); Tensor x = Driver.rows(CPU, all, 0, 1)) {
            few = msd(new Rise(model, 200, 4, 0.5f, 1).explain(CPU, x, Target.top1()).values(),
                    new Rise(model, 200, 4, 0.5f, 2).explain(CPU, x, Target.top1()).values());
            many = msd(new Rise(model, 800, 4, 0.5f, 3).explain(CPU, x, Target.top1()).values(),
                    new Rise(model, 800, 4, 0.5f, 4).explain(CPU, x, Target.top1()).values());
        }
        assertTrue(few / many >= 2, "mean squared difference of two runs: " + few + " at 200 masks, " + many + " at 800");
    }

    static double msd(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (a[i] - b[i]) * (double) (a[i] - b[i]);
        return s / a.length;
    }

    @Test
    void badOptions() {
        var spec = Methods.get("rise");
        assertThrows(SalientException.class, () -> MethodOptions.parse(spec, Map.of("--p", "1")));
        assertThrows(SalientException.class, () -> MethodOptions.parse(spec, Map.of("--p", "0")));
        assertThrows(SalientException.class, () -> MethodOptions.parse(spec, Map.of("--masks", "0")));
        SalientException e = assertThrows(SalientException.class, () -> {
            try (Tensor x = CPU.zeros(1, 3, 32, 32)) {
                spec.create(model, MethodOptions.parse(spec, Map.of("--cells", "33"))).explain(CPU, x, Target.top1());
            }
        });
        assertTrue(e.getMessage().contains("bigger than the image"), e.getMessage());
    }
}
