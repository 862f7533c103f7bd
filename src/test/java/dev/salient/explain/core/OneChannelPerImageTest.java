package dev.salient.explain.core;

import static dev.salient.model.OnnxBuilder.attr;
import static dev.salient.model.OnnxBuilder.attrs;
import static dev.salient.model.OnnxBuilder.in;
import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.BatchInvarianceTest;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import dev.salient.model.OnnxBuilder;
import dev.salient.model.OpProfile;
import dev.salient.model.Plan;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tape recorded for one channel per image of its output (feature visualisation's channel
 * objectives): the step that makes the output computes those channels alone, where it is a conv
 * (with its residual Add and Relu fused, or alone), and everything else is the full forward.
 */
class OneChannelPerImageTest {
    static final Backend CPU = Engine.cpu();

    static Path model(Path dir) throws Exception {
        Random r = new Random(5);
        OnnxBuilder ob = new OnnxBuilder().input("x", -1, 3, 12, 12).output("logits", -1, 5);
        ob.init("w0", OnnxBuilder.random(r, 16 * 3 * 9, 0.4f), 16, 3, 3, 3).init("b0", OnnxBuilder.random(r, 16, 0.1f), 16);
        ob.init("w1", OnnxBuilder.random(r, 16 * 16 * 9, 0.15f), 16, 16, 3, 3).init("b1", OnnxBuilder.random(r, 16, 0.1f), 16);
        ob.init("w2", OnnxBuilder.random(r, 16 * 16 * 9, 0.15f), 16, 16, 3, 3).init("b2", OnnxBuilder.random(r, 16, 0.1f), 16);
        ob.init("w3", OnnxBuilder.random(r, 8 * 16, 0.2f), 8, 16, 1, 1).init("b3", OnnxBuilder.random(r, 8, 0.1f), 8);
        ob.init("wf", OnnxBuilder.random(r, 5 * 8, 0.3f), 5, 8).init("bf", OnnxBuilder.random(r, 5, 0.1f), 5);
        ob.node("Conv", "stem", in("x", "w0", "b0"), in("a0"), attrs("pads", 1, 1, 1, 1))
                .node("Relu", "r0", in("a0"), in("h0"))
                .node("Conv", "c1", in("h0", "w1", "b1"), in("a1"), attrs("pads", 1, 1, 1, 1))
                .node("Relu", "r1", in("a1"), in("h1"))
                .node("Conv", "c2", in("h1", "w2", "b2"), in("a2"), attrs("pads", 1, 1, 1, 1))
                .node("Add", "res", in("a2", "h0"), in("s"))
                .node("Relu", "r2", in("s"), in("h2"))
                .node("Conv", "c3", in("h2", "w3", "b3"), in("a3"))
                .node("GlobalAveragePool", "gap", in("a3"), in("g"))
                .node("Flatten", "flat", in("g"), in("f"))
                .node("Gemm", "fc", in("f", "wf", "bf"), in("logits"), attr("transB", 1L));
        return ob.write(dir, "block.onnx");
    }

    @Test
    void outputChannelsAloneAndGradientsAsTheFullTape(@TempDir Path dir) throws Exception {
        int n = 3;
        float[] x = Parity.random(7, n * 3 * 12 * 12);
        boolean was = OpProfile.on();
        try (Model m = Model.load(model(dir)); Tensor xt = CPU.upload(x, n, 3, 12, 12)) {
            // h2: c2, the residual Add and r2 run as one step; a3: c3 alone (its output is the layer)
            for (String layer : List.of("h2", "a3")) {
                int k = layer.equals("h2") ? 16 : 8;
                int[] ch = {3, 0, k - 1};
                List<BackwardRules> rules = List.of(BackwardRules.standard());
                OpProfile.enable(true);
                OpProfile.reset();
                try (Tape full = Tape.record(m, CPU, xt, Set.of("x"), layer, rules);
                        Tape one = Tape.record(m, CPU, xt, Set.of("x"), layer, rules, ch)) {
                    String report = OpProfile.report();
                    OpProfile.enable(was);
                    assertTrue(report.contains("(one channel per image)"), report);
                    float[] a = full.output().toArray(), b = one.output().toArray();
                    long[] shape = full.output().shape();
                    int plane = (int) (shape[2] * shape[3]), per = k * plane;
                    float[] want = new float[a.length];
                    for (int i = 0; i < n; i++)
                        System.arraycopy(a, i * per + ch[i] * plane, want, i * per + ch[i] * plane, plane);
                    Parity.assertClose(layer + ": the channels asked for, 0 elsewhere", b, toDouble(want), 1e-5, 1e-4, shape);
                    // the channel objective's seed: its gradient at the input as the full tape's
                    float[] seed = new float[a.length];
                    for (int i = 0; i < n; i++)
                        for (int j = 0; j < plane; j++) seed[i * per + ch[i] * plane + j] = 1f / plane;
                    try (Tensor s1 = CPU.upload(seed, shape); Tensor s2 = CPU.upload(seed, shape)) {
                        Map<String, Tensor> g1 = full.backward(s1, BackwardRules.standard(), Set.of("x"));
                        Map<String, Tensor> g2 = one.backward(s2, BackwardRules.standard(), Set.of("x"));
                        try (Tensor d1 = g1.get("x"); Tensor d2 = g2.get("x")) {
                            Parity.assertClose(layer + ": input gradient", d2.toArray(), toDouble(d1.toArray()), 1e-5, 1e-4,
                                    d1.shape());
                        }
                    }
                    // each image's bits are its own: alone as in the batch
                    for (int i = 0; i < n; i++)
                        try (Tensor x1 = CPU.upload(java.util.Arrays.copyOfRange(x, i * 432, (i + 1) * 432), 1, 3, 12, 12);
                                Tape alone = Tape.record(m, CPU, x1, Set.of("x"), layer, rules, new int[] {ch[i]})) {
                            BatchInvarianceTest.assertSameBits(layer + " image " + i + " alone",
                                    java.util.Arrays.copyOfRange(b, i * per, (i + 1) * per), alone.output().toArray(), 0);
                        }
                } finally {
                    OpProfile.enable(was);
                }
            }
        }
    }

    /** Where a later step reads the tensor (the logits are fetched too), it is computed in full: the same bits as a plain run. */
    @Test
    void aTensorReadLaterIsComputedWhole(@TempDir Path dir) throws Exception {
        int n = 2;
        float[] x = Parity.random(8, n * 3 * 12 * 12);
        try (Model m = Model.load(model(dir)); Tensor xt = CPU.upload(x, n, 3, 12, 12)) {
            Map<String, Tensor> plain = m.run(CPU, Map.of("x", xt), Set.of("logits", "h2"));
            Map<String, Tensor> sel = m.run(CPU, Map.of("x", xt), Set.of("logits", "h2"), new Plan.Channels("h2", new int[] {1, 2}));
            try {
                for (String t : List.of("logits", "h2"))
                    BatchInvarianceTest.assertSameBits(t, plain.get(t).toArray(), sel.get(t).toArray(), 0);
            } finally {
                for (Tensor t : plain.values()) t.close();
                for (Tensor t : sel.values()) t.close();
            }
        }
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}
