package dev.salient.explain.gradient;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.PrimitivesTest;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Target;
import dev.salient.explain.cam.GradCamPlusPlus;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** NoiseTunnel: device noise, chunking, and the tunnel over other methods. */
class NoiseTunnelTest {
    static final Backend CPU = Engine.cpu();
    static Model model;

    @BeforeAll
    static void load() {
        model = Model.load(Path.of("src/test/resources/fixtures/arch/resnet_basic_bn/model.onnx"));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static float[] input(int n) {
        Random r = new Random(21);
        float[] x = new float[n * 3 * 64 * 64];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    /** The backend's noise is sd_i · z with z the seed's Philox stream at ((s·n + i)·D + j), sd_i = 0.15 (max − min). */
    @Test
    void deviceNoiseIsTheSeedsPhiloxStreamScaledPerImage() {
        int n = 2, d = 3 * 64 * 64;
        long seed = 99;
        float[] x = input(n);
        var o = NoiseTunnel.Options.samples(3).withSeed(seed);
        var recorded = o.withNoise((s, img, size, px) -> {
            float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
            for (float v : px) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
            float sd = 0.15f * (hi - lo);
            float[] z = new float[size];
            for (int j = 0; j < size; j++) z[j] = sd * PrimitivesTest.normalAt(seed, ((long) s * n + img) * d + j);
            return z;
        });
        try (Tensor xt = CPU.upload(x, n, 3, 64, 64)) {
            Attribution dev = NoiseTunnel.smoothGrad(model).explain(CPU, xt, Target.top1(), o);
            Attribution host = NoiseTunnel.smoothGrad(model).explain(CPU, xt, Target.top1(), recorded);
            float max = 0;
            for (float v : host.values()) max = Math.max(max, Math.abs(v));
            for (int i = 0; i < dev.values().length; i++)
                assertEquals(host.values()[i], dev.values()[i], 1e-4f * max, "element " + i);
        }
    }

    /**
     * The noise of (sample, image) is the same bytes whatever the blocks it is made in, and the
     * attributions are the same bytes whatever the chunking (the engine is batch-invariant).
     */
    @Test
    void seededNoiseIsTheSameBytesWhateverTheChunking() {
        int n = 3, d = 3 * 64 * 64, samples = 4;
        try (Tensor xt = CPU.upload(input(n), n, 3, 64, 64)) {
            NoiseTunnel t = NoiseTunnel.smoothGrad(model).withOptions(NoiseTunnel.Options.samples(samples).withSeed(7));
            float[] whole;
            try (Tensor all = t.noisy(CPU, xt, null, 0, n, 0, samples)) {
                whole = all.toArray();
            }
            for (int s = 0; s < samples; s++)
                for (int i = 0; i < n; i++)
                    try (Tensor one = t.noisy(CPU, xt, null, i, 1, s, 1)) {
                        float[] got = one.toArray();
                        for (int j = 0; j < d; j++)
                            assertEquals(whole[(s * n + i) * d + j], got[j], 0f, "sample " + s + " image " + i + " at " + j);
                    }
            for (NoiseTunnel u : new NoiseTunnel[] {t, NoiseTunnel.varGrad(model).withOptions(t.options())}) {
                Attribution big = u.explain(CPU, xt, Target.topK(2));
                Attribution small = u.withOptions(t.options()).memoryBudget(1).explain(CPU, xt, Target.topK(2));
                assertArrayEquals(big.targets(), small.targets());
                // the same noise per (seed, image, sample), accumulated in sample order, through an engine
                // that is batch-invariant: the same bytes under both budgets
                assertArrayEquals(big.values(), small.values(), u.name() + ": one row per chunk gives the same bytes");
            }
        }
    }

    /** SmoothGrad of IG and SmoothGrad-CAM++: without noise the tunnel is the method itself. */
    @Test
    void tunnelOverAnyMethodIsItsMeanOverNoise() {
        try (Tensor xt = CPU.upload(input(2), 2, 3, 64, 64)) {
            var ig = new IntegratedGradients(model, IntegratedGradients.Options.steps(4));
            Attribution plain = ig.explain(CPU, xt, Target.top1());
            NoiseTunnel sgIg = NoiseTunnel.over(ig, NoiseTunnel.Mode.SMOOTHGRAD)
                    .withOptions(NoiseTunnel.Options.samples(3).withStdev(0f));
            Attribution smooth = sgIg.explain(CPU, xt, Target.top1());
            assertEquals("smoothgrad(ig)", sgIg.name());
            assertArrayEquals(plain.shape(), smooth.shape());
            for (int i = 0; i < plain.values().length; i++)
                assertEquals(plain.values()[i], smooth.values()[i], 1e-6f * (1 + Math.abs(plain.values()[i])), "at " + i);

            var campp = new GradCamPlusPlus(model, "auto");
            Attribution cam = campp.explain(CPU, xt, Target.top1());
            NoiseTunnel sgCam = NoiseTunnel.over(campp, NoiseTunnel.Mode.SMOOTHGRAD).withOptions(NoiseTunnel.Options.samples(2));
            Attribution noisy = sgCam.explain(CPU, xt, Target.top1());
            assertEquals(Attribution.Layout.CAM, noisy.layout());
            assertArrayEquals(cam.shape(), noisy.shape());
            boolean differs = false;
            for (int i = 0; i < cam.values().length; i++) {
                assertTrue(noisy.values()[i] >= 0f && noisy.values()[i] <= 1f, "mean of maps in [0,1]");
                differs |= cam.values()[i] != noisy.values()[i];
            }
            assertTrue(differs, "the noise must reach the maps");
        }
    }
}
