package dev.salient.explain;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.cam.GradCam;
import dev.salient.explain.gradient.IntegratedGradients;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every method of {@link Methods#ALL} x batch 1/3 x target top1/given on a residual
 * network: the shape its spec's layout gives, finiteness, determinism (same bytes
 * twice) and the axiom its spec declares (CAM maps in [0,1], |g| >= 0, IG
 * completeness through the reported delta).
 */
class MethodMatrixTest {
    private static final Backend CPU = Engine.cpu();
    private static Model model;

    @BeforeAll
    static void load() {
        model = Model.load(Path.of("src/test/resources/fixtures/arch/resnet_basic_bn/model.onnx"));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static Stream<Arguments> matrix() {
        List<Arguments> out = new ArrayList<>();
        for (String m : Methods.names())
            for (int batch : new int[] {1, 3})
                for (boolean given : new boolean[] {false, true}) out.add(Arguments.of(m, batch, given));
        return out.stream();
    }

    private static float[] input(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n * 3 * 64 * 64];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    private static MethodOptions opts(MethodSpec spec) {
        return TestOptions.forSpec(spec, java.util.Map.of("--steps", "8", "--samples", "3", "--seed", "5", "--masks", "16",
                "--baselines", "uniform:2"));
    }

    @ParameterizedTest(name = "{0} batch {1} given {2}")
    @MethodSource("matrix")
    void shapeFinitenessDeterminismAxioms(String method, int batch, boolean given) {
        Target target = given ? Target.perImage(Arrays.copyOf(new int[] {3, 7, 1}, batch)) : Target.top1();
        MethodSpec spec = Methods.get(method);
        Explainer e = spec.create(model, opts(spec));
        Attribution a, b;
        String violation;
        try (Tensor x = CPU.upload(input(batch, 11), batch, 3, 64, 64)) {
            a = e.explain(CPU, x, target);
            b = e.explain(CPU, x, target);
            violation = spec.axiom().violation(e, CPU, x, a);
        }
        if (spec.layout() == Attribution.Layout.LAYER) assertEquals(4, a.shape().length, "layer rows are (rows,K,h,w)");
        long[] want = switch (spec.layout()) {
            case CAM -> new long[] {batch, 64, 64};
            case INPUT -> new long[] {batch, 3, 64, 64};
            case LAYER -> new long[] {batch, a.shape()[1], a.shape()[2], a.shape()[3]};
        };
        assertArrayEquals(want, a.shape(), "shape");
        assertEquals(spec.layout(), a.layout());
        for (float v : a.values()) assertTrue(Float.isFinite(v), "non-finite value");
        assertArrayEquals(a.values(), b.values(), "same inputs must give the same bytes");
        if (given) assertArrayEquals(Arrays.copyOf(new int[] {3, 7, 1}, batch), a.targets());
        assertNull(violation, method + " axiom");
        boolean nonZero = false;
        for (float v : a.values()) nonZero |= v != 0f;
        assertTrue(nonZero, "all-zero attribution");
    }

    @Test
    void igDeltaShrinksWithMoreSteps() {
        IntegratedGradients ig = new IntegratedGradients(model);
        try (Tensor x = CPU.upload(input(2, 3), 2, 3, 64, 64)) {
            double prev = Double.POSITIVE_INFINITY;
            for (int steps : new int[] {2, 8, 64}) {
                Attribution a = ig.explain(CPU, x, Target.top1(), IntegratedGradients.Options.steps(steps));
                double d = Math.abs(a.deltas()[0]) + Math.abs(a.deltas()[1]);
                assertTrue(d <= prev + 1e-7, "delta grew from " + prev + " to " + d + " at " + steps + " steps");
                prev = d;
            }
        }
    }

    @Test
    void topKGivesOneMapPerClassBestFirst() {
        GradCam cam = new GradCam(model, "auto");
        try (Tensor x = CPU.upload(input(2, 5), 2, 3, 64, 64)) {
            Attribution a = cam.explain(CPU, x, Target.topK(3));
            assertArrayEquals(new long[] {6, 64, 64}, a.shape());
            assertArrayEquals(new int[] {0, 0, 0, 1, 1, 1}, a.images());
            for (int i = 0; i < 2; i++) {
                assertTrue(a.scores()[3 * i] >= a.scores()[3 * i + 1] && a.scores()[3 * i + 1] >= a.scores()[3 * i + 2]);
            }
            Attribution one = cam.explain(CPU, x, Target.top1());
            assertArrayEquals(one.row(1), a.row(3), "top-1 map of image 1 equals its first top-k map");
        }
    }

    @Test
    void tinyMemoryBudgetSplitsButGivesTheSameResult() {
        try (Tensor x = CPU.upload(input(3, 9), 3, 3, 64, 64)) {
            IntegratedGradients big = new IntegratedGradients(model);
            IntegratedGradients small = (IntegratedGradients) new IntegratedGradients(model).memoryBudget(1);
            var o = IntegratedGradients.Options.steps(6);
            Attribution a = big.explain(CPU, x, Target.top1(), o), b = small.explain(CPU, x, Target.top1(), o);
            float[] va = a.values(), vb = b.values();
            for (int i = 0; i < va.length; i++) assertEquals(va[i], vb[i], 1e-6f + 1e-5f * Math.abs(va[i]), "at " + i);
        }
    }
}
