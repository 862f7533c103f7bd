package dev.salient.engine;

import static dev.salient.model.OnnxBuilder.attr;
import static dev.salient.model.OnnxBuilder.attrs;
import static dev.salient.model.OnnxBuilder.in;
import static org.junit.jupiter.api.Assertions.*;

import dev.salient.explain.core.BackwardRules;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import dev.salient.model.OnnxBuilder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CPU engine's determinism contract (README "Determinism"): an image's logits and input
 * gradient are the same bits whether it runs alone or inside a batch, and on one thread or two.
 *
 * <p>The fixture model takes each conv path the engine has: a 3x3 conv on 3 channels (im2col,
 * split by output rows when an image is alone on two threads), a Winograd-eligible 3x3 conv in a
 * residual block, a stride-2 conv whose small planes are batched several images to one GEMM (or
 * split by output channels when an image is alone), a 1x1 conv (x itself is the column matrix)
 * whose output and a residual are summed and rectified in its epilogue on a plain forward pass, a
 * Winograd 3x3 conv on those small planes (split by output channels when an image is alone),
 * then global pooling and a Gemm. The same paths run backwards for the input gradient, and the
 * plain forward pass (fused epilogues) gives the tape's logits (every step on its own) bit for bit.
 */
public class BatchInvarianceTest {
    private static final Backend CPU = Engine.cpu();
    private static final int H = 24, CLASSES = 10, N = 5, D = 3 * H * H;
    private static final int[] CLS = {3, 7, 0, 9, 4};

    /** The fixture model, written to {@code dir}. */
    public static Path model(Path dir) throws Exception {
        Random r = new Random(3);
        OnnxBuilder b = new OnnxBuilder().input("x", -1, 3, H, H).output("logits", -1, CLASSES);
        b.init("w1", OnnxBuilder.random(r, 16 * 3 * 9, 0.4f), 16, 3, 3, 3).init("b1", OnnxBuilder.random(r, 16, 0.1f), 16);
        b.init("w2", OnnxBuilder.random(r, 16 * 16 * 9, 0.15f), 16, 16, 3, 3).init("b2", OnnxBuilder.random(r, 16, 0.1f), 16);
        b.init("w3", OnnxBuilder.random(r, 48 * 16 * 9, 0.15f), 48, 16, 3, 3).init("b3", OnnxBuilder.random(r, 48, 0.1f), 48);
        b.init("w4", OnnxBuilder.random(r, 48 * 48, 0.2f), 48, 48, 1, 1).init("b4", OnnxBuilder.random(r, 48, 0.1f), 48);
        b.init("w5", OnnxBuilder.random(r, 48 * 48 * 9, 0.05f), 48, 48, 3, 3).init("b5", OnnxBuilder.random(r, 48, 0.1f), 48);
        b.init("wf", OnnxBuilder.random(r, CLASSES * 48, 0.3f), CLASSES, 48).init("bf", OnnxBuilder.random(r, CLASSES, 0.1f), CLASSES);
        b.node("Conv", "c1", in("x", "w1", "b1"), in("a1"), attrs("pads", 1, 1, 1, 1))
                .node("Relu", "r1", in("a1"), in("h1"))
                .node("Conv", "c2", in("h1", "w2", "b2"), in("a2"), attrs("pads", 1, 1, 1, 1))
                .node("Relu", "r2", in("a2"), in("h2"))
                .node("Add", "res", in("h2", "h1"), in("s2"))
                .node("Conv", "c3", in("s2", "w3", "b3"), in("a3"), attrs("pads", 1, 1, 1, 1), attrs("strides", 2, 2))
                .node("Relu", "r3", in("a3"), in("h3"))
                .node("Conv", "c4", in("h3", "w4", "b4"), in("a4"))
                .node("Add", "res2", in("a4", "h3"), in("s4"))
                .node("Relu", "r4", in("s4"), in("h4"))
                .node("Conv", "c5", in("h4", "w5", "b5"), in("a5"), attrs("pads", 1, 1, 1, 1))
                .node("Relu", "r5", in("a5"), in("h5"))
                .node("GlobalAveragePool", "gap", in("h5"), in("p"))
                .node("Flatten", "flat", in("p"), in("f"))
                .node("Gemm", "fc", in("f", "wf", "bf"), in("logits"), attr("transB", 1L));
        return b.write(dir, "invariance.onnx");
    }

    /** Logits (n, classes) then the input gradient of each image's class cls[i] (n, 3, H, H). */
    static float[][] run(Backend be, Model m, float[] x, int n, int[] cls) {
        try (Tensor xt = be.upload(x, n, 3, H, H); Tape tape = Tape.record(m, be, xt, Set.of("x"))) {
            float[] logits = tape.logits().toArray();
            try (Tensor plain = m.forward(be, xt)) {
                assertSameBits("plain forward (fused) against the tape's logits, batch of " + n, logits, plain.toArray(), 0);
            }
            Map<String, Tensor> g = tape.backward(cls, BackwardRules.standard());
            try (Tensor gx = g.get("x")) {
                return new float[][] {logits, gx.toArray()};
            }
        }
    }

    public static void assertSameBits(String what, float[] want, float[] got, int offset) {
        for (int i = 0; i < want.length; i++) {
            int a = Float.floatToRawIntBits(want[i]), b = Float.floatToRawIntBits(got[offset + i]);
            if (a != b) fail(what + ": element " + i + " is " + got[offset + i] + ", alone " + want[i] + " (bits differ)");
        }
    }

    /** The batch of 5 test images. */
    static float[] images() {
        Random r = new Random(11);
        float[] x = new float[N * D];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    /**
     * Image i of a batch of 5 against image i alone, and image 4 as the second of a pair, on
     * {@code be}: logits and input gradients, bit for bit. Returns the batch's result.
     */
    public static float[][] assertBatchInvariant(Backend be, Model m, String where) {
        float[] x = images();
        float[][] batch = run(be, m, x, N, CLS);
        for (int i = 0; i < N; i++) {
            float[][] one = run(be, m, Arrays.copyOfRange(x, i * D, (i + 1) * D), 1, new int[] {CLS[i]});
            assertSameBits("logits of image " + i + " in a batch of 5, " + where, one[0], batch[0], i * CLASSES);
            assertSameBits("input gradient of image " + i + " in a batch of 5, " + where, one[1], batch[1], i * D);
        }
        // a batch of 2 whose second image is image 4: its place in the batch does not matter either
        float[] pair = new float[2 * D];
        System.arraycopy(x, 2 * D, pair, 0, D);
        System.arraycopy(x, 4 * D, pair, D, D);
        float[][] two = run(be, m, pair, 2, new int[] {CLS[2], CLS[4]});
        assertSameBits("logits of image 4 second of 2, " + where, Arrays.copyOfRange(batch[0], 4 * CLASSES, 5 * CLASSES), two[0], CLASSES);
        assertSameBits("input gradient of image 4 second of 2, " + where, Arrays.copyOfRange(batch[1], 4 * D, 5 * D), two[1], D);
        return batch;
    }

    @Test
    void anImageGetsTheSameBitsAloneInABatchAndOnAnyThreadCount(@TempDir Path dir) throws Exception {
        int before = CpuNative.salient_get_num_threads();
        try (Model m = Model.load(model(dir))) {
            assertEquals(0, CpuNative.salient_set_num_threads(1));
            float[][] t1 = assertBatchInvariant(CPU, m, "1 thread");
            assertEquals(0, CpuNative.salient_set_num_threads(2));
            float[][] t2 = assertBatchInvariant(CPU, m, "2 threads");
            assertSameBits("logits, 1 thread against 2", t1[0], t2[0], 0);
            assertSameBits("input gradient, 1 thread against 2", t1[1], t2[1], 0);
        } finally {
            CpuNative.salient_set_num_threads(before);
        }
    }
}
