package dev.salient.explain.relevance;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Baseline;
import dev.salient.explain.Baselines;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.Target;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * DeepLIFT and DeepLiftShap beyond the golden cases (MethodGoldenTest runs those against the
 * float64 re-implementation of Captum's rules): summation to delta on architectures whose
 * PyTorch form reuses its ReLU modules (torchvision's Bottleneck), uses Clip (ReLU6) or
 * overlapping max pooling, where a nonlinearity left on the plain gradient would break it;
 * chunking under small memory budgets; one-line refusals.
 */
class DeepLiftTest {
    static final Backend CPU = Engine.cpu();
    static final Path ARCH = Path.of("src/test/resources/fixtures/arch");

    private static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    /** Σ attr = y_t(x) − y_t(x') within 1e-4 relative, on every row, against a noise baseline. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"resnet_bottleneck_folded", "mobilenetv2_folded", "densenet_folded", "vgg_folded"})
    void sumsToDelta(String arch) {
        try (Model m = Model.load(ARCH.resolve(arch + "/model.onnx"))) {
            NdArray x = Npy.read(ARCH.resolve(arch + "/input.npy"));
            int n = Math.min(2, (int) x.dim(0));
            long[] shape = x.shape();
            shape[0] = n;
            int len = (int) (x.data().length / x.dim(0) * n);
            float[] xs = java.util.Arrays.copyOf(x.data(), len);
            DeepLift dl = new DeepLift(m, Baseline.of(gaussian(len, 3), shape));
            try (Tensor xt = CPU.upload(xs, shape)) {
                Attribution a = dl.explain(CPU, xt, Target.top1());
                assertNull(DeepLift.SPEC.axiom().violation(dl, CPU, xt, a));
                for (int r = 0; r < a.rows(); r++) {
                    double s = 0;
                    for (float v : a.row(r)) s += v;
                    double gap = a.deltas()[r];
                    System.out.printf("%s row %d: sum %.6f, |sum - (f(x) - f(x'))| = %.2e%n", arch, r, s, Math.abs(gap));
                    assertTrue(Math.abs(gap) <= 1e-4 * Math.max(1, Math.abs(s)), arch + " row " + r + " gap " + gap);
                }
                // the plain gradient times (x - x') does not sum to the delta: the check can fail
                float[] v = a.values().clone();
                v[0] += 1e-2f * (1 + Math.abs(a.scores()[0]));
                Attribution broken = new Attribution(v, a.shape(), a.layout(), a.images(), a.targets(), a.scores(), null);
                assertNotNull(DeepLift.SPEC.axiom().violation(dl, CPU, xt, broken));
            }
        }
    }

    /** DeepLiftShap's pairs under budgets that force one pair per chunk give the same result. */
    @Test
    void smallBudgetsSplitPairsButNotTheResult() {
        try (Model m = Model.load(ARCH.resolve("resnet_basic_folded/model.onnx"))) {
            long[] shape = {2, 3, 64, 64};
            float[] xs = gaussian(2 * 3 * 64 * 64, 5);
            Baselines b = Baselines.of(gaussian(3 * 3 * 64 * 64, 6), 3, 3, 64, 64);
            try (Tensor xt = CPU.upload(xs, shape)) {
                DeepLiftShap big = new DeepLiftShap(m, b);
                DeepLiftShap small = (DeepLiftShap) new DeepLiftShap(m, b).memoryBudget(1);
                Attribution a = big.explain(CPU, xt, Target.top1()), c = small.explain(CPU, xt, Target.top1());
                assertArrayEquals(a.targets(), c.targets());
                for (int i = 0; i < a.values().length; i++)
                    assertEquals(a.values()[i], c.values()[i], 1e-6f + 1e-5f * Math.abs(a.values()[i]), "at " + i);
                assertNull(DeepLiftShap.SPEC.axiom().violation(big, CPU, xt, a));
                // the mean over baselines equals the mean of DeepLift against each baseline
                float[] mean = new float[a.values().length];
                for (int j = 0; j < 3; j++) {
                    float[] one = new float[2 * 3 * 64 * 64];
                    for (int i = 0; i < 2; i++) System.arraycopy(b.values(), j * 3 * 64 * 64, one, i * 3 * 64 * 64, 3 * 64 * 64);
                    float[] d = new DeepLift(m, Baseline.of(one, shape)).explain(CPU, xt, Target.perImage(a.targets())).values();
                    for (int i = 0; i < mean.length; i++) mean[i] += d[i] / 3;
                }
                for (int i = 0; i < mean.length; i++) assertEquals(mean[i], a.values()[i], 1e-5f + 1e-4f * Math.abs(mean[i]), "at " + i);
            }
        }
    }

    /**
     * The targets, scores and reference logits come from the pairs' own forward pass: per-image
     * targets under a budget of one pair per chunk, scores equal to the model's logits, and gaps
     * equal to those from separate forward passes of the images and the baselines.
     */
    @Test
    void targetsScoresAndGapsComeFromThePairs() {
        try (Model m = Model.load(ARCH.resolve("resnet_basic_folded/model.onnx"))) {
            long[] shape = {3, 3, 64, 64};
            float[] xs = gaussian(3 * 3 * 64 * 64, 8), bs = gaussian(3 * 3 * 64 * 64, 9);
            try (Tensor xt = CPU.upload(xs, shape); Tensor bt = CPU.upload(bs, shape); Tensor lx = m.forward(CPU, xt);
                    Tensor lb = m.forward(CPU, bt)) {
                float[] fx = lx.toArray(), fb = lb.toArray();
                int nc = fx.length / 3;
                int[] want = {2, 0, 1};
                DeepLift d = (DeepLift) new DeepLift(m, Baseline.of(bs, shape)).memoryBudget(1);
                Attribution a = d.explain(CPU, xt, Target.perImage(want));
                assertArrayEquals(want, a.targets());
                for (int r = 0; r < 3; r++) {
                    assertEquals(fx[r * nc + want[r]], a.scores()[r], 1e-5f * (1 + Math.abs(fx[r * nc + want[r]])), "score " + r);
                    double s = 0;
                    for (float v : a.row(r)) s += v;
                    double gap = s - ((double) fx[r * nc + want[r]] - fb[r * nc + want[r]]);
                    assertEquals(gap, a.deltas()[r], 1e-5 * (1 + Math.abs(s)), "gap " + r);
                }
            }
        }
    }

    private static String error(Runnable r) {
        SalientException e = assertThrows(SalientException.class, r::run);
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void badBaselinesAreOneLine() throws IOException {
        Path dir = Files.createTempDirectory("baselines");
        try (Model m = Model.load(ARCH.resolve("mobilenetv2_folded/model.onnx"))) {
            Path one = dir.resolve("one.npy"), wrong = dir.resolve("wrong.npy");
            Npy.write(one, new long[] {1, 3, 32, 32}, new float[3 * 32 * 32]);
            Npy.write(wrong, new long[] {2, 3, 16, 16}, new float[2 * 3 * 16 * 16]);
            assertTrue(error(() -> MethodOptions.parse(DeepLiftShap.SPEC, Map.of("--baselines", one.toString())))
                    .contains("at least 2 images"));
            assertTrue(error(() -> DeepLiftShap.SPEC.create(m, MethodOptions.parse(DeepLiftShap.SPEC, Map.of())))
                    .contains("needs --baselines"));
            assertTrue(error(() -> MethodOptions.parse(DeepLiftShap.SPEC, Map.of("--baselines", "uniform:1"))).contains("M >= 2"));
            assertTrue(error(() -> MethodOptions.parse(DeepLiftShap.SPEC, Map.of("--baselines", "gauss:3"))).contains("bad --baselines"));
            DeepLiftShap d = (DeepLiftShap) DeepLiftShap.SPEC.create(m, MethodOptions.parse(DeepLiftShap.SPEC,
                    Map.of("--baselines", wrong.toString())));
            try (Tensor xt = CPU.upload(new float[3 * 32 * 32], 1, 3, 32, 32)) {
                assertTrue(error(() -> d.explain(CPU, xt, Target.top1())).contains("--baselines has shape [2, 3, 16, 16]"));
            }
        } finally {
            try (var s = Files.list(dir)) {
                for (Path p : s.toList()) Files.delete(p);
            }
            Files.delete(dir);
        }
    }
}
