package dev.salient.explain.core;

import static dev.salient.model.OnnxBuilder.attr;
import static dev.salient.model.OnnxBuilder.attrs;
import static dev.salient.model.OnnxBuilder.in;
import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BatchInvarianceTest;
import dev.salient.engine.Engine;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import dev.salient.model.OnnxBuilder;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tape recorded for the standard rules keeps what their VJPs read and no more: a Relu's output
 * (its mask, {@code y <= 0}, is the input's), a Conv's or a Gemm's input, nothing of a sum. So no
 * Conv output is kept, and the forward runs each Conv with its Relu, or with its residual Add and
 * Relu, fused. The gradients are those of a tape that keeps everything, bit for bit.
 */
class LeanTapeTest {
    static final Backend CPU = Engine.cpu();

    @Test
    void standardRulesKeepNoConvOutputAndGiveTheSameBits(@TempDir Path dir) throws Exception {
        Random r = new Random(5);
        int n = 3, d = 3 * 24 * 24;
        float[] x = new float[n * d];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        int[] cls = {1, 8, 5};
        try (Model m = Model.load(BatchInvarianceTest.model(dir)); Tensor xt = CPU.upload(x, n, 3, 24, 24);
                Tape all = Tape.record(m, CPU, xt, Set.of("x"));
                Tape lean = Tape.record(m, CPU, xt, Set.of("x"), List.of(BackwardRules.standard()))) {
            // the fixture's conv outputs a1..a5 and the sum s4 before a Relu: kept by the full tape, not by the lean one
            for (String v : List.of("a1", "a2", "a3", "a4", "a5", "s4")) {
                assertNotNull(all.value(v), v);
                SalientException e = assertThrows(SalientException.class, () -> lean.value(v), v);
                assertTrue(e.getMessage().contains("not kept"), e.getMessage());
            }
            // what the VJPs read: the Relus' outputs, and the sum s2 that a Conv reads
            for (String v : List.of("h1", "h2", "h3", "h4", "h5", "s2")) assertNotNull(lean.value(v), v);
            BatchInvarianceTest.assertSameBits("logits", all.logits().toArray(), lean.logits().toArray(), 0);
            Map<String, Tensor> ga = all.backward(cls, BackwardRules.standard());
            Map<String, Tensor> gl = lean.backward(cls, BackwardRules.standard());
            try (Tensor a = ga.get("x"); Tensor l = gl.get("x")) {
                BatchInvarianceTest.assertSameBits("input gradient, lean tape", a.toArray(), l.toArray(), 0);
            }
            // guided backprop reads the Relus' inputs: a tape for it and the standard rules keeps them
            try (Tape both = Tape.record(m, CPU, xt, Set.of("x"), List.of(BackwardRules.standard(), BackwardRules.guided()))) {
                assertNotNull(both.value("a1"));
                Map<String, Tensor> gg = both.backward(cls, BackwardRules.guided());
                Map<String, Tensor> gw = all.backward(cls, BackwardRules.guided());
                try (Tensor a = gw.get("x"); Tensor b = gg.get("x")) {
                    BatchInvarianceTest.assertSameBits("guided input gradient", a.toArray(), b.toArray(), 0);
                }
            }
        }
    }

    /**
     * A difference and a broadcast sum whose gradients read no forward value: a - relu(a), plus its
     * own global average broadcast over the plane. The lean tape does not keep the conv output a that
     * the difference reads forward, and gives the full tape's input gradient bit for bit.
     */
    @Test
    void sumsAndDifferencesReadNothing(@TempDir Path dir) throws Exception {
        Random r = new Random(9);
        OnnxBuilder ob = new OnnxBuilder().input("x", -1, 3, 12, 12).output("logits", -1, 4);
        ob.init("w", OnnxBuilder.random(r, 8 * 3 * 9, 0.4f), 8, 3, 3, 3).init("b", OnnxBuilder.random(r, 8, 0.1f), 8);
        ob.init("wf", OnnxBuilder.random(r, 4 * 8, 0.3f), 4, 8).init("bf", OnnxBuilder.random(r, 4, 0.1f), 4);
        ob.node("Conv", "c", in("x", "w", "b"), in("a"), attrs("pads", 1, 1, 1, 1))
                .node("Relu", "r", in("a"), in("h"))
                .node("Sub", "neg", in("a", "h"), in("s"))
                .node("GlobalAveragePool", "m", in("s"), in("p"))
                .node("Add", "plus", in("s", "p"), in("t"))
                .node("GlobalAveragePool", "gap", in("t"), in("q"))
                .node("Flatten", "flat", in("q"), in("f"))
                .node("Gemm", "fc", in("f", "wf", "bf"), in("logits"), attr("transB", 1L));
        float[] x = new float[2 * 3 * 12 * 12];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        try (Model m = Model.load(ob.write(dir, "sums.onnx")); Tensor xt = CPU.upload(x, 2, 3, 12, 12);
                Tape all = Tape.record(m, CPU, xt, Set.of("x"));
                Tape lean = Tape.record(m, CPU, xt, Set.of("x"), List.of(BackwardRules.standard()))) {
            // a is read by no VJP (the Conv's, the Relu's and the Sub's read other values); h by the Relu's
            assertThrows(SalientException.class, () -> lean.value("a"));
            assertNotNull(lean.value("h"));
            Map<String, Tensor> ga = all.backward(new int[] {2, 0}, BackwardRules.standard());
            Map<String, Tensor> gl = lean.backward(new int[] {2, 0}, BackwardRules.standard());
            try (Tensor a = ga.get("x"); Tensor l = gl.get("x")) {
                float[] av = a.toArray();
                boolean nonzero = false;
                for (float v : av) nonzero |= v != 0f;
                assertTrue(nonzero, "the gradient reaches the input");
                BatchInvarianceTest.assertSameBits("input gradient through Sub and a broadcast Add", av, l.toArray(), 0);
            }
        }
    }

    /** Relu's gradient taken from its output is the one taken from its input: at 0, -0, NaN and infinities too. */
    @Test
    void reluMaskFromTheOutputIsTheInputs() {
        float[] x = {-2f, -0f, 0f, 1e-40f, -1e-40f, 3f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0.5f};
        float[] dy = new float[x.length];
        for (int i = 0; i < dy.length; i++) dy[i] = i + 1.5f;
        try (Tensor xt = CPU.upload(x, x.length); Tensor y = CPU.allocate(x.length); Tensor g = CPU.upload(dy, x.length);
                Tensor fromX = CPU.allocate(x.length); Tensor fromY = CPU.allocate(x.length)) {
            CPU.activationForward(Activation.RELU, xt, y, 0, 0);
            CPU.activationBackward(Activation.RELU, xt, g, fromX, 0, 0);
            CPU.activationBackward(Activation.RELU, y, g, fromY, 0, 0);
            BatchInvarianceTest.assertSameBits("relu gradient from y", fromX.toArray(), fromY.toArray(), 0);
        }
    }
}
