package dev.salient.explain;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
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
 * Every method x batch 1/3 x target top1/given on a residual network: the shape,
 * finiteness, determinism (same bytes twice) and the method's axiom (CAM maps in
 * [0,1], IG completeness through the reported delta).
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
        for (String m : Methods.NAMES)
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

    private static Methods.Options opts() {
        Methods.Options d = Methods.Options.defaults();
        return new Methods.Options("auto", 8, d.rule(), d.baseline(), 3, null, 5L, d.memoryBudget());
    }

    @ParameterizedTest(name = "{0} batch {1} given {2}")
    @MethodSource("matrix")
    void shapeFinitenessDeterminismAxioms(String method, int batch, boolean given) {
        Target target = given ? Target.perImage(Arrays.copyOf(new int[] {3, 7, 1}, batch)) : Target.top1();
        Explainer e = Methods.create(method, model, opts());
        Attribution a, b;
        try (Tensor x = CPU.upload(input(batch, 11), batch, 3, 64, 64)) {
            a = Methods.explain(e, CPU, x, target, opts());
            b = Methods.explain(e, CPU, x, target, opts());
        }
        boolean cam = Methods.isCam(method);
        if (method.equals("activation")) {
            // the layer's own shape (the auto layer of this resnet: 4-D, at a fraction of 64x64)
            assertEquals(Attribution.Layout.LAYER, a.layout());
            assertEquals(4, a.shape().length);
            assertEquals(batch, a.shape()[0]);
        } else {
            long[] want = cam ? new long[] {batch, 64, 64} : new long[] {batch, 3, 64, 64};
            assertArrayEquals(want, a.shape(), "shape");
            assertEquals(cam ? Attribution.Layout.CAM : Attribution.Layout.INPUT, a.layout());
        }
        for (float v : a.values()) assertTrue(Float.isFinite(v), "non-finite value");
        assertArrayEquals(a.values(), b.values(), "same inputs must give the same bytes");
        if (given) assertArrayEquals(Arrays.copyOf(new int[] {3, 7, 1}, batch), a.targets());
        if (cam) {
            for (float v : a.values()) assertTrue(v >= 0f && v <= 1f, "CAM value outside [0,1]: " + v);
        }
        if (method.equals("ig")) {
            // completeness: the reported delta is sum(attr) - (f_t(x) - f_t(0)), recomputed here
            assertNotNull(a.deltas());
            float[] fx, fb;
            try (Tensor x = CPU.upload(input(batch, 11), batch, 3, 64, 64); Tensor z = CPU.zeros(batch, 3, 64, 64);
                    Tensor lx = model.forward(CPU, x); Tensor lb = model.forward(CPU, z)) {
                fx = lx.toArray();
                fb = lb.toArray();
            }
            int nc = fx.length / batch;
            for (int r = 0; r < a.rows(); r++) {
                double s = 0;
                for (float v : a.row(r)) s += v;
                int i = a.images()[r], c = a.targets()[r];
                double expected = s - ((double) fx[i * nc + c] - fb[i * nc + c]);
                assertEquals(expected, a.deltas()[r], 1e-5 * (1 + Math.abs(s)), "IG convergence delta of row " + r);
            }
        }
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

    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"fullgrad", "cfcam", "eigengradcam", "cam", "activation"})
    void newMethodsGiveTheSameResultInOneRowChunks(String method) {
        // one image per chunk (budget 1 byte) against the whole batch at once
        try (Tensor x = CPU.upload(input(3, 13), 3, 3, 64, 64)) {
            Explainer big = Methods.create(method, model, opts()), small = Methods.create(method, model, opts()).memoryBudget(1);
            Attribution a = Methods.explain(big, CPU, x, Target.top1(), opts()), b = Methods.explain(small, CPU, x, Target.top1(), opts());
            float[] va = a.values(), vb = b.values();
            for (int i = 0; i < va.length; i++) assertEquals(va[i], vb[i], 1e-6f + 1e-5f * Math.abs(va[i]), method + " at " + i);
        }
    }
}
