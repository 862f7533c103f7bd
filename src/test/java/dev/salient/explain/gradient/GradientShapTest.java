package dev.salient.explain.gradient;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Baselines;
import dev.salient.explain.Target;
import dev.salient.explain.core.BackwardRules;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * GradientSHAP beyond its golden cases (MethodGoldenTest, seeded draws without noise): fixed
 * (baseline index, α, noise) draws through the test hook give the formula
 * {@code mean_s (x̃ − b)·∇f(b + α(x̃ − b))} computed here sample by sample; the same seed
 * gives the same bytes, and the same samples under two memory budgets, with noise.
 */
class GradientShapTest {
    static final Backend CPU = Engine.cpu();
    static final int C = 3, H = 32, W = 32, D = C * H * W;
    static Model model;

    @BeforeAll
    static void load() {
        model = Model.load(Path.of("src/test/resources/fixtures/arch/mobilenetv2_folded/model.onnx"));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    @Test
    void fixedDrawsGiveTheFormula() {
        int n = 2, s = 3, m = 3;
        float[] x = gaussian(n * D, 1), base = gaussian(m * D, 2);
        int[][] idx = {{2, 0, 2}, {1, 1, 0}};
        float[][] alpha = {{0.1f, 0.55f, 0.9f}, {0.3f, 0.7f, 0.05f}};
        float[][][] noise = new float[n][s][];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < s; k++) {
                noise[i][k] = gaussian(D, 100 + 10 * i + k);
                for (int e = 0; e < D; e++) noise[i][k][e] *= 0.2f;
            }
        GradientShap.Draws hook = (image, sample, mm, size) -> {
            assertEquals(m, mm);
            assertEquals(D, size);
            return new GradientShap.Draw(idx[image][sample], alpha[image][sample], noise[image][sample]);
        };
        Baselines b = Baselines.of(base, m, C, H, W);
        float[] got;
        int[] targets;
        try (Tensor xt = CPU.upload(x, n, C, H, W)) {
            Attribution a = new GradientShap(model, b, s, 0f, 0L, hook).memoryBudget(1).explain(CPU, xt, Target.top1());
            got = a.values();
            targets = a.targets();
        }
        // the formula, one sample at a time
        double[] want = new double[n * D];
        String in = model.inputs().get(0).name();
        for (int i = 0; i < n; i++)
            for (int k = 0; k < s; k++) {
                float[] diff = new float[D], pt = new float[D];
                for (int e = 0; e < D; e++) {
                    float xt = x[i * D + e] + noise[i][k][e];
                    float bv = base[idx[i][k] * D + e];
                    diff[e] = xt - bv;
                    pt[e] = bv + alpha[i][k] * diff[e];
                }
                float[] g;
                try (Tensor p = CPU.upload(pt, 1, C, H, W); Tape t = Tape.record(model, CPU, p, Set.of(in))) {
                    try (Tensor gt = t.backward(new int[] {targets[i]}, BackwardRules.standard()).get(in)) {
                        g = gt.toArray();
                    }
                }
                for (int e = 0; e < D; e++) want[i * D + e] += (double) diff[e] * g[e] / s;
            }
        double max = 0;
        for (double v : want) max = Math.max(max, Math.abs(v));
        Parity.assertClose("gradientshap with fixed draws", got, want, 1e-6 * max, 1e-5);
    }

    @Test
    void sameSeedSameBytesWhateverTheChunking() {
        float[] x = gaussian(3 * D, 3);
        Baselines b = Baselines.of(gaussian(4 * D, 4), 4, C, H, W);
        try (Tensor xt = CPU.upload(x, 3, C, H, W)) {
            float[] big = new GradientShap(model, b, 5, 0.3f, 11L).explain(CPU, xt, Target.top1()).values();
            float[] again = new GradientShap(model, b, 5, 0.3f, 11L).explain(CPU, xt, Target.top1()).values();
            assertArrayEquals(big, again, "same seed, same bytes");
            // one row per chunk: the same draws and noise, and the engine gives every row the same
            // bits whatever its batch, so the same bytes
            float[] small = new GradientShap(model, b, 5, 0.3f, 11L).memoryBudget(1).explain(CPU, xt, Target.top1()).values();
            assertArrayEquals(big, small, "one chunk vs one row per chunk");
            float[] other = new GradientShap(model, b, 5, 0.3f, 12L).explain(CPU, xt, Target.top1()).values();
            assertFalse(Arrays.equals(big, other), "another seed draws other samples");
        }
    }

    /** Without --samples the spec's factory takes the default of 25 (the shared option is unset, not 25). */
    @Test
    void specWithoutSamplesTakesTheDefault() {
        float[] x = gaussian(D, 5);
        var spec = dev.salient.explain.Methods.get("gradientshap");
        var unset = dev.salient.explain.MethodOptions.parse(spec, java.util.Map.of("--baselines", "uniform:2:3"));
        var given = dev.salient.explain.MethodOptions.parse(spec, java.util.Map.of("--baselines", "uniform:2:3", "--samples", "25"));
        try (Tensor xt = CPU.upload(x, 1, C, H, W)) {
            assertArrayEquals(spec.create(model, given).explain(CPU, xt, Target.top1()).values(),
                    spec.create(model, unset).explain(CPU, xt, Target.top1()).values());
        }
    }

    /** The seeded draws cover every baseline and spread α over [0,1). */
    @Test
    void seededDrawsAreSpread() {
        int[] hits = new int[3];
        double sum = 0;
        for (int i = 0; i < 50; i++)
            for (int s = 0; s < 40; s++) {
                GradientShap.Draw d = GradientShap.draw(9L, i, s, 3);
                hits[d.baseline()]++;
                assertTrue(d.alpha() >= 0f && d.alpha() < 1f);
                sum += d.alpha();
            }
        for (int h : hits) assertTrue(h > 500, Arrays.toString(hits));
        assertEquals(0.5, sum / 2000, 0.03);
        assertEquals(GradientShap.draw(9L, 4, 7, 3), GradientShap.draw(9L, 4, 7, 3));
    }
}
