package dev.salient.model;

import static dev.salient.model.OnnxBuilder.attrs;
import static dev.salient.model.OnnxBuilder.in;
import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The executor's memory plan: intermediates packed into one arena by offset, by liveness. */
class ArenaPlanTest {
    @TempDir
    Path dir;

    static long round(long f) {
        return (f + Planner.Arena.ALIGN - 1) / Planner.Arena.ALIGN * Planner.Arena.ALIGN;
    }

    @Test
    void buffersAliveAtTheSameStepNeverOverlap() {
        Random r = new Random(11);
        for (int trial = 0; trial < 50; trial++) {
            List<long[]> bufs = new ArrayList<>();
            int n = 1 + r.nextInt(60);
            for (int i = 0; i < n; i++) {
                int first = r.nextInt(40);
                bufs.add(new long[] {1 + r.nextInt(5000), first, first + r.nextInt(8)});
            }
            long[][] p = Planner.Arena.place(bufs);
            long[] off = p[0];
            long total = p[1][0], liveSum = 0, sum = 0;
            int most = 0;
            for (int t = 0; t < 50; t++) {
                long s = 0;
                int c = 0;
                for (long[] b : bufs) if (b[1] <= t && t <= b[2]) {
                    s += round(b[0]);
                    c++;
                }
                liveSum = Math.max(liveSum, s);
                most = Math.max(most, c);
            }
            for (long[] b : bufs) sum += round(b[0]);
            for (int i = 0; i < n; i++) {
                long[] a = bufs.get(i);
                assertEquals(0, off[i] % Planner.Arena.ALIGN, "offsets are 64-byte aligned");
                assertTrue(off[i] + a[0] <= total, "inside the arena");
                for (int j = 0; j < i; j++) {
                    long[] b = bufs.get(j);
                    boolean together = a[1] <= b[2] && b[1] <= a[2];
                    boolean overlap = off[i] < off[j] + b[0] && off[j] < off[i] + a[0];
                    assertFalse(together && overlap, "trial " + trial + ": buffers " + i + " and " + j + " share memory while both live");
                }
            }
            assertTrue(total >= liveSum && total <= sum, "arena " + total + " between the live peak " + liveSum + " and the sum " + sum);
            assertEquals(most, p[1][1], "the most buffers live at once");
        }
    }

    /**
     * Channels 4 -> 32 -> 4 -> 4 -> 32 -> 4 -> 4: buffers by slot each grow to the widest tensor
     * they ever hold (2 wide ones); packed by offset, a wide tensor and a narrow one share memory
     * with tensors that are not alive with them.
     */
    @Test
    void narrowTensorsFitBesideAWideOneInsteadOfAWholeWideBuffer() throws Exception {
        Random r = new Random(12);
        long[] ch = {4, 32, 4, 4, 32, 4, 4};
        OnnxBuilder b = new OnnxBuilder().input("x", 1, 4, 8, 8).output("y");
        String prev = "x";
        for (int i = 0; i + 1 < ch.length; i++) {
            b.init("w" + i, OnnxBuilder.random(r, (int) (ch[i] * ch[i + 1] * 9), 0.1f), ch[i + 1], ch[i], 3, 3);
            String next = i + 2 == ch.length ? "y" : "c" + i;
            b.node("Conv", "conv" + i, in(prev, "w" + i), in(next), attrs("pads", 1, 1, 1, 1));
            prev = next;
        }
        Backend cpu = Engine.cpu();
        float[] x = OnnxBuilder.random(new Random(3), 4 * 64, 1f);
        try (Model m = Model.load(b.write(dir, "bottleneck.onnx")); Tensor xt = cpu.upload(x, 1, 4, 8, 8)) {
            Plan p = m.plan(Map.of("x", new long[] {1, 4, 8, 8}), Set.of("y"));
            long wide = 32 * 64, narrow = 4 * 64;
            assertEquals(2, p.bufferCount());
            assertEquals(wide + 2 * narrow, p.bufferFloats(), "one wide tensor's memory and two narrow ones, not two wide");
            // the packed plan computes what a plan keeping every intermediate computes
            Map<String, Tensor> all = m.run(cpu, Map.of("x", xt), Set.of("c0", "c1", "c2", "c3", "c4", "y"));
            try (Tensor y = m.forward(cpu, xt)) {
                assertArrayEquals(all.get("y").toArray(), y.toArray());
            } finally {
                for (Tensor t : all.values()) t.close();
            }
        }
    }

    /**
     * A BatchNormalization (a ChannelAffine once loaded) and Relu before a 1x1 conv run as the conv's
     * prologue, the conv reading the affine's input: so that input lives until the conv and the step
     * after it, and neither output is placed over it. Before, the input died at the affine and the
     * conv's output could take its place, so the group ran unfused (DenseNet's transitions), as two
     * passes and a conv. Fused, the output is the unfused steps' bit for bit.
     */
    @Test
    void aPrologueGroupsInputOutlivesItsConv() throws Exception {
        Random r = new Random(13);
        Path f = new OnnxBuilder().input("x", 2, 8, 6, 6).output("y")
                .init("W0", OnnxBuilder.random(r, 8 * 8 * 9, 0.3f), 8, 8, 3, 3).init("W0b", OnnxBuilder.random(r, 8 * 8 * 9, 0.3f), 8, 8, 3, 3)
                .init("gamma", OnnxBuilder.positive(r, 16), 16).init("beta", OnnxBuilder.random(r, 16, 0.5f), 16)
                .init("mean", OnnxBuilder.random(r, 16, 0.5f), 16).init("var", OnnxBuilder.positive(r, 16), 16)
                .init("W1", OnnxBuilder.random(r, 8 * 16, 0.3f), 8, 16, 1, 1)
                .node("Conv", "c0", in("x", "W0"), in("a"), attrs("pads", 1, 1, 1, 1))
                .node("Conv", "c0b", in("x", "W0b"), in("a2"), attrs("pads", 1, 1, 1, 1))
                // b, laid out in place (its inputs written where it lies), dies at the BatchNormalization unfused
                .node("Concat", "cat", in("a", "a2"), in("b"), OnnxBuilder.attr("axis", 1L))
                .node("BatchNormalization", "bn", in("b", "gamma", "beta", "mean", "var"), in("n"), OnnxBuilder.attr("epsilon", 1e-3f))
                .node("Relu", "r1", in("n"), in("p"))
                .node("Conv", "c1", in("p", "W1"), in("q"))
                .node("AveragePool", "pool", in("q"), in("y"), attrs("kernel_shape", 2, 2), attrs("strides", 2, 2))
                .write(dir, "prologue.onnx");
        Backend cpu = Engine.cpu();
        boolean was = OpProfile.on();
        try (Model m = Model.load(f); Tensor x = cpu.upload(OnnxBuilder.random(r, 2 * 8 * 36, 1f), 2, 8, 6, 6)) {
            OpProfile.reset();
            OpProfile.enable(true);
            float[] fused;
            try (Tensor y = m.forward(cpu, x)) {
                fused = y.toArray();
            }
            String report = OpProfile.report();
            assertTrue(report.contains("fwd ChannelAffine+Relu+Conv "), report);
            // the same steps unfused: fetching the affine's output keeps it from fusing
            Map<String, Tensor> out = m.run(cpu, Map.of("x", x), Set.of("n", "y"));
            try (Tensor n = out.get("n"); Tensor y = out.get("y")) {
                assertArrayEquals(fused, y.toArray());
            }
        } finally {
            OpProfile.enable(was);
            OpProfile.reset();
        }
    }
}
