package dev.salient.explain.cam;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Target;
import dev.salient.explain.core.Cost;
import dev.salient.explain.core.Driver;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Score-CAM family's evaluations (golden cases: fixtures/perturbation/manifest.json for
 * scorecam, fixtures/methods/manifest-gfcams.json for sscam and iscam): SS-CAM's seeded noise
 * gives the same bytes again and the same bytes under two memory budgets, and differs with the seed; the masked images
 * are made chunk by chunk (never all K·S of an image at once) from activations computed once
 * per image.
 */
class ScoreSamplingCamTest {
    static final Path ROOT = Path.of("src/test/resources/fixtures/methods");
    static final Backend CPU = Engine.cpu();
    static final String LAYER = "/block2/relu2/Relu_output_0";   // 32 channels
    static Model resnet;
    static NdArray x;

    @BeforeAll
    static void load() {
        resnet = Model.load(ROOT.resolve("resnet/model.onnx"));
        x = Npy.read(ROOT.resolve("resnet/input.npy"));
    }

    @AfterAll
    static void close() {
        resnet.close();
    }

    /** Bytes of one chunk's masked images: rows of the driver's chunk under {@code budget}. */
    static long budgetForRows(int rows) {
        long[] one = x.shape().clone();
        one[0] = 1;
        long per = Math.max(1, (1L << 30) / Driver.rowsPerChunk(resnet, one, Set.of(), 1L << 30));
        return per * rows;
    }

    @Test
    void ssCamIsReproducibleUnderTwoBudgetsAndDependsOnTheSeed() {
        try (Tensor xt = x.upload(CPU)) {
            Attribution big = new SsCam(resnet, LAYER, 5, 2f, 11L).explain(CPU, xt, Target.top1());
            Attribution small = new SsCam(resnet, LAYER, 5, 2f, 11L).memoryBudget(budgetForRows(7)).explain(CPU, xt, Target.top1());
            Attribution again = new SsCam(resnet, LAYER, 5, 2f, 11L).memoryBudget(budgetForRows(7)).explain(CPU, xt, Target.top1());
            assertArrayEquals(small.values(), again.values(), "same seed and budget, same bytes");
            // the noise is a function of (seed, image, sample) alone and the engine gives every masked input the
            // same bits at any batch size (README "Determinism"): the same bytes under two budgets
            assertArrayEquals(big.values(), small.values(), "same seed under two budgets");
            Attribution other = new SsCam(resnet, LAYER, 5, 2f, 12L).explain(CPU, xt, Target.top1());
            double diff = 0;
            for (int i = 0; i < other.values().length; i++) diff = Math.max(diff, Math.abs(other.values()[i] - big.values()[i]));
            assertTrue(diff > 1e-3, "another seed gives another map (max diff " + diff + ")");
        }
    }

    @Test
    void maskedImagesAreMadeChunkByChunkFromOneActivationPerImage() {
        int n = (int) x.dim(0), k = 32, s = 3;
        List<long[]> steps = new ArrayList<>();
        try (Tensor xt = x.upload(CPU)) {
            Cost.reset();
            Cost.progress((done, total) -> steps.add(new long[] {done, total}));
            try {
                new IsCam(resnet, LAYER, s).memoryBudget(budgetForRows(10)).explain(CPU, xt, Target.top1());
            } finally {
                Cost.progress(null);
            }
            Cost.Counts c = Cost.counts();
            assertEquals((long) n * k * s + n, c.forwards(), "one forward per masked image, plus the targets");
            assertEquals(n, c.prefixForwards(), "the activations once per image");
            assertEquals(0, c.suffixForwards());
            long prev = 0;
            for (long[] st : steps) {
                assertEquals((long) n * k * s, st[1]);
                assertTrue(st[0] - prev <= 10, "a chunk of at most 10 masked images, got " + (st[0] - prev));
                prev = st[0];
            }
            assertEquals((long) n * k * s, prev);
            // Score-CAM alike: up to 32 masks an image (the constant channels share one), chunks of at most 10
            int[] e = new ScoreCam(resnet, LAYER).evaluationsPerImage(CPU, xt);
            int most = java.util.Arrays.stream(e).max().getAsInt();
            assertTrue(most <= k && most > k / 2, "evaluations per image " + java.util.Arrays.toString(e));
            steps.clear();
            Cost.reset();
            Cost.progress((done, total) -> steps.add(new long[] {done, total}));
            try {
                new ScoreCam(resnet, LAYER).memoryBudget(budgetForRows(10)).explain(CPU, xt, Target.top1());
            } finally {
                Cost.progress(null);
            }
            assertEquals((long) n * most + n, Cost.counts().forwards());
            assertEquals(n, Cost.counts().prefixForwards());
            prev = 0;
            for (long[] st : steps) {
                assertTrue(st[0] - prev <= 10, "a chunk of at most 10 masked images, got " + (st[0] - prev));
                prev = st[0];
            }
            assertTrue(steps.size() >= (n * most) / 10, steps.size() + " chunks");
        }
    }

    @Test
    void isCamCoefficientsAccumulate() {
        assertEquals(0.1, IsCam.coefficient(0, 10), 1e-15);
        assertEquals(0.3, IsCam.coefficient(1, 10), 1e-15);
        assertEquals(0.6, IsCam.coefficient(2, 10), 1e-15);
        assertEquals(5.5, IsCam.coefficient(9, 10), 1e-12);
    }
}
