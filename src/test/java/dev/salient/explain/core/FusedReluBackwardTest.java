package dev.salient.explain.core;

import static dev.salient.model.OnnxBuilder.attr;
import static dev.salient.model.OnnxBuilder.attrs;
import static dev.salient.model.OnnxBuilder.in;
import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BatchInvarianceTest;
import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.Engine;
import dev.salient.engine.Pool2dGeometry;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import dev.salient.model.OnnxBuilder;
import dev.salient.model.OpProfile;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A Relu whose output only a Conv or a max pool reads has its backward run inside the reader's
 * (the mask applied as the reader writes its data gradient, after the other readers' gradients
 * where the Relu output has several, read last by a Conv): the engine's fused calls give the
 * composed ones' bits on every path of the CPU's conv data gradient and both max-pool paths, and a
 * tape's input gradients are those of the unfused walk bit for bit, where it fuses and where it
 * must not (a Relu output read twice, or asked for). A residual Add hands its output's gradient
 * on to one input instead of copying it, with the same floats.
 */
class FusedReluBackwardTest {
    static final Backend CPU = Engine.cpu();

    /** Values with exact zeros, negatives, tiny ones and a NaN, as a Relu's output and gradients hold them. */
    static float[] values(Random r, int n, boolean reluOut) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            float g = (float) r.nextGaussian();
            v[i] = reluOut ? Math.max(0f, g) : g;
        }
        if (n > 7) {
            v[3] = Float.NaN;
            v[5] = reluOut ? 1e-40f : -0f;
        }
        return v;
    }

    /**
     * n, c, h, k, r, stride, pad, groups: Winograd (3x3 stride 1, 16+ channels, batched and by
     * images), the batched im2col items (stride 2, small planes), per-image items, the pointwise
     * products split over threads (batch 1), few images with col2im split by channels, depthwise.
     */
    @ParameterizedTest
    @CsvSource({"3,16,12,16,3,1,1,1", "1,32,9,24,3,1,1,1", "4,8,10,12,3,2,1,1", "3,6,30,10,3,1,1,1", "1,24,14,16,1,1,0,1",
            "2,24,14,16,1,1,0,1", "1,5,31,7,5,2,2,1", "2,12,11,12,3,1,1,12", "2,3,20,8,7,2,3,1"})
    void convDataGradientWithTheMaskIsTheComposedOne(int n, int c, int h, int k, int r, int stride, int pad, int groups) {
        Random rnd = new Random(n * 31 + c * 7 + h);
        int oh = (h + 2 * pad - r) / stride + 1;
        Conv2dGeometry g = new Conv2dGeometry(n, c, h, h, k, r, r, stride, stride, pad, pad, pad, pad, 1, 1, groups);
        try (Tensor dy = CPU.upload(values(rnd, n * k * oh * oh, false), n, k, oh, oh);
                Tensor w = CPU.upload(values(rnd, k * (c / groups) * r * r, false), k, c / groups, r, r);
                Tensor mask = CPU.upload(values(rnd, n * c * h * h, true), n, c, h, h);
                Tensor sum = CPU.upload(values(rnd, n * c * h * h, false), n, c, h, h);
                Tensor fused = CPU.allocate(n, c, h, h); Tensor composed = CPU.allocate(n, c, h, h)) {
            CPU.conv2dBackwardDataRelu(dy, w, fused, g, mask, null);
            CPU.conv2dBackwardData(dy, w, composed, g);
            CPU.activationBackward(Activation.RELU, mask, composed, composed, 0f, 0f);
            BatchInvarianceTest.assertSameBits("conv data gradient through a Relu", composed.toArray(), fused.toArray(), 0);
            // the tape's fan-in (its axpby of the two), then the Relu
            CPU.conv2dBackwardDataRelu(dy, w, fused, g, mask, sum);
            CPU.conv2dBackwardData(dy, w, composed, g);
            CPU.axpby(1f, composed, 1f, sum);
            CPU.activationBackward(Activation.RELU, mask, sum, composed, 0f, 0f);
            BatchInvarianceTest.assertSameBits("conv data gradient plus a sum through a Relu", composed.toArray(), fused.toArray(), 0);
        }
    }

    /** Stride-2 3x3 pools (the AVX-512 path, then the general one) and a 2x2 pool; NaNs and -inf in the input. */
    @ParameterizedTest
    @CsvSource({"2,5,70,3,2,1", "1,3,35,3,2,1", "2,4,8,3,2,0", "1,2,17,3,2,1", "2,3,12,2,2,0", "1,2,9,3,1,1"})
    void maxPoolGradientWithTheMaskIsTheComposedOne(int n, int c, int h, int kk, int stride, int pad) {
        Random rnd = new Random(h * 13 + kk);
        int oh = (h + 2 * pad - kk) / stride + 1;
        Pool2dGeometry g = new Pool2dGeometry(n, c, h, h, kk, kk, stride, stride, pad, pad, pad, pad, 1, 1, oh, oh, false);
        float[] x = values(rnd, n * c * h * h, true);
        for (int i = 0; i < x.length; i += 97) x[i] = 0f; // windows whose winner is 0
        x[x.length - 1] = Float.NEGATIVE_INFINITY;
        try (Tensor xt = CPU.upload(x, n, c, h, h); Tensor dy = CPU.upload(values(rnd, n * c * oh * oh, false), n, c, oh, oh);
                Tensor fused = CPU.allocate(n, c, h, h); Tensor composed = CPU.allocate(n, c, h, h)) {
            CPU.maxPool2dBackwardRelu(xt, dy, fused, g);
            CPU.maxPool2dBackward(xt, dy, composed, g);
            CPU.activationBackward(Activation.RELU, xt, composed, composed, 0f, 0f);
            BatchInvarianceTest.assertSameBits("max-pool gradient through a Relu", composed.toArray(), fused.toArray(), 0);
        }
    }

    @Test
    void maskOfTheWrongShapeIsOneLine() {
        Conv2dGeometry g = new Conv2dGeometry(1, 4, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
        try (Tensor dy = CPU.zeros(1, 4, 6, 6); Tensor w = CPU.zeros(4, 4, 3, 3); Tensor dx = CPU.allocate(1, 4, 6, 6);
                Tensor mask = CPU.zeros(1, 4, 6, 5)) {
            SalientException e = assertThrows(SalientException.class, () -> CPU.conv2dBackwardDataRelu(dy, w, dx, g, mask, null));
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
            assertTrue(e.getMessage().contains("Relu"), e.getMessage());
        }
    }

    /**
     * A ResNet-like stem and block: conv, Relu, max pool (fused), conv, Relu, conv (fused), a
     * residual sum whose Relu output two steps read (not fused). The input gradients equal a walk
     * in which the Relu's rule is a copy of its own VJP (which the tape never fuses), bit for bit;
     * asking for the gradient at a Relu's output keeps that Relu apart and gives the same values too.
     */
    @Test
    void tapeGradientsAreTheUnfusedOnes(@TempDir Path dir) throws Exception {
        Random r = new Random(11);
        OnnxBuilder ob = new OnnxBuilder().input("x", -1, 3, 20, 20).output("logits", -1, 5);
        ob.init("w0", OnnxBuilder.random(r, 16 * 3 * 9, 0.4f), 16, 3, 3, 3).init("b0", OnnxBuilder.random(r, 16, 0.1f), 16);
        ob.init("w1", OnnxBuilder.random(r, 16 * 16 * 9, 0.15f), 16, 16, 3, 3).init("b1", OnnxBuilder.random(r, 16, 0.1f), 16);
        ob.init("w2", OnnxBuilder.random(r, 16 * 16 * 9, 0.15f), 16, 16, 3, 3).init("b2", OnnxBuilder.random(r, 16, 0.1f), 16);
        ob.init("w3", OnnxBuilder.random(r, 16 * 16, 0.2f), 16, 16, 1, 1).init("b3", OnnxBuilder.random(r, 16, 0.1f), 16);
        ob.init("wf", OnnxBuilder.random(r, 5 * 16, 0.3f), 5, 16).init("bf", OnnxBuilder.random(r, 5, 0.1f), 5);
        ob.node("Conv", "stem", in("x", "w0", "b0"), in("a0"), attrs("pads", 1, 1, 1, 1))
                .node("Relu", "r0", in("a0"), in("h0"))
                .node("MaxPool", "pool", in("h0"), in("p0"), attrs("kernel_shape", 3, 3), attrs("strides", 2, 2),
                        attrs("pads", 1, 1, 1, 1))
                .node("Conv", "c1", in("p0", "w1", "b1"), in("a1"), attrs("pads", 1, 1, 1, 1))
                .node("Relu", "r1", in("a1"), in("h1"))
                .node("Conv", "c2", in("h1", "w2", "b2"), in("a2"), attrs("pads", 1, 1, 1, 1))
                .node("Add", "res", in("a2", "p0"), in("s"))
                .node("Relu", "r2", in("s"), in("h2"))
                .node("Conv", "c3", in("h2", "w3", "b3"), in("a3"))
                .node("Add", "res2", in("a3", "h2"), in("t"))
                .node("GlobalAveragePool", "gap", in("t"), in("g"))
                .node("Flatten", "flat", in("g"), in("f"))
                .node("Gemm", "fc", in("f", "wf", "bf"), in("logits"), attr("transB", 1L));
        int n = 4;
        float[] x = new float[n * 3 * 20 * 20];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        int[] cls = {0, 3, 4, 1};
        // the Relu's and the Add's own VJPs as rules of their own: the same floats, never fused or handed on
        BackwardRule own = BackwardRule.inputsOnly((op, b, i, o, dOut, dIn) -> op.backward(b, i, o, dOut, dIn));
        BackwardRules apart = BackwardRules.standard().with("apart", "Relu", own).with("apart", "Add", own);
        boolean was = OpProfile.on();
        try (Model m = Model.load(ob.write(dir, "stem.onnx")); Tensor xt = CPU.upload(x, n, 3, 20, 20);
                Tape tape = Tape.record(m, CPU, xt, Set.of("x"), List.of(BackwardRules.standard(), apart));
                Tape atH1 = Tape.record(m, CPU, xt, Set.of("x", "h1"), List.of(BackwardRules.standard(), apart))) {
            OpProfile.enable(true);
            OpProfile.reset();
            Map<String, Tensor> fused = tape.backward(cls, BackwardRules.standard());
            String report = OpProfile.report();
            OpProfile.enable(was);
            assertTrue(report.contains("bwd MaxPool+Relu"), report);
            assertEquals(2, calls(report, "bwd Conv+Relu"), report); // c2 with r1; c3 with r2, res2's part added
            assertTrue(report.contains("bwd Add, handed on"), report);
            Map<String, Tensor> plain = tape.backward(cls, apart);
            try (Tensor a = plain.get("x"); Tensor b = fused.get("x")) {
                float[] av = a.toArray();
                boolean nonzero = false;
                for (float v : av) nonzero |= v != 0f;
                assertTrue(nonzero, "the gradient reaches the input");
                BatchInvarianceTest.assertSameBits("input gradient, Relus fused", av, b.toArray(), 0);
            }
            // the gradient at h1 asked for: r1 stays apart, and h1's gradient is c2's data gradient
            OpProfile.enable(true);
            OpProfile.reset();
            Map<String, Tensor> at = atH1.backward(cls, BackwardRules.standard());
            report = OpProfile.report();
            OpProfile.enable(was);
            assertTrue(report.contains("bwd MaxPool+Relu"), report);
            assertEquals(1, calls(report, "bwd Conv+Relu"), report); // c3 with r2 only
            Map<String, Tensor> atPlain = atH1.backward(cls, apart);
            for (String v : List.of("x", "h1"))
                try (Tensor a = atPlain.get(v); Tensor b = at.get(v)) {
                    BatchInvarianceTest.assertSameBits(v + " gradient, h1 asked for", a.toArray(), b.toArray(), 0);
                }
        } finally {
            OpProfile.enable(was);
        }
    }

    /**
     * Residual Adds whose two inputs both get the output's gradient, one reading it in place: a
     * downsampling block (its shortcut conv made after the main branch, so the walk reads the
     * shortcut's gradient first) and an identity block whose shortcut two steps read; the input
     * gradient is the same bits as a walk where every Add and Relu copies through its own VJP.
     */
    @Test
    void residualGradientsReadInPlaceAreTheCopiedOnes(@TempDir Path dir) throws Exception {
        Random r = new Random(12);
        OnnxBuilder ob = new OnnxBuilder().input("x", -1, 3, 12, 12).output("logits", -1, 4);
        ob.init("w0", OnnxBuilder.random(r, 8 * 3 * 9, 0.4f), 8, 3, 3, 3);
        ob.init("w1", OnnxBuilder.random(r, 16 * 8 * 9, 0.2f), 16, 8, 3, 3);
        ob.init("w2", OnnxBuilder.random(r, 16 * 16 * 9, 0.15f), 16, 16, 3, 3);
        ob.init("wd", OnnxBuilder.random(r, 16 * 8, 0.3f), 16, 8, 1, 1);
        ob.init("w3", OnnxBuilder.random(r, 16 * 16 * 9, 0.15f), 16, 16, 3, 3);
        ob.init("wf", OnnxBuilder.random(r, 4 * 16, 0.3f), 4, 16);
        ob.node("Conv", "stem", in("x", "w0"), in("a0"), attrs("pads", 1, 1, 1, 1))
                .node("Relu", "r0", in("a0"), in("h0"))
                .node("Conv", "c1", in("h0", "w1"), in("a1"), attrs("pads", 1, 1, 1, 1), attrs("strides", 2, 2))
                .node("Relu", "r1", in("a1"), in("h1"))
                .node("Conv", "c2", in("h1", "w2"), in("a2"), attrs("pads", 1, 1, 1, 1))
                .node("Conv", "down", in("h0", "wd"), in("d"), attrs("strides", 2, 2))
                .node("Add", "res", in("a2", "d"), in("s"))
                .node("Relu", "r2", in("s"), in("h2"))
                .node("Conv", "c3", in("h2", "w3"), in("a3"), attrs("pads", 1, 1, 1, 1))
                .node("Add", "res2", in("h2", "a3"), in("t"))
                .node("Relu", "r3", in("t"), in("h3"))
                .node("GlobalAveragePool", "gap", in("h3"), in("g"))
                .node("Flatten", "flat", in("g"), in("f"))
                .node("Gemm", "fc", in("f", "wf"), in("logits"), attr("transB", 1L));
        int n = 3;
        float[] x = new float[n * 3 * 12 * 12];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        int[] cls = {2, 0, 3};
        BackwardRule own = BackwardRule.inputsOnly((op, b, i, o, dOut, dIn) -> op.backward(b, i, o, dOut, dIn));
        BackwardRules apart = BackwardRules.standard().with("apart", "Relu", own).with("apart", "Add", own);
        try (Model m = Model.load(ob.write(dir, "down.onnx")); Tensor xt = CPU.upload(x, n, 3, 12, 12);
                Tape tape = Tape.record(m, CPU, xt, Set.of("x"), List.of(BackwardRules.standard(), apart))) {
            Map<String, Tensor> fused = tape.backward(cls, BackwardRules.standard());
            Map<String, Tensor> plain = tape.backward(cls, apart);
            try (Tensor a = plain.get("x"); Tensor b = fused.get("x")) {
                BatchInvarianceTest.assertSameBits("input gradient, residual gradients read in place", a.toArray(), b.toArray(), 0);
            }
        }
    }

    /** The calls of a key in OpProfile's report. */
    static int calls(String report, String key) {
        for (String line : report.split("\n"))
            if (line.startsWith(key + " ")) {
                String[] f = line.trim().split("\\s+");
                return Integer.parseInt(f[f.length - 2]);
            }
        return 0;
    }
}
