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
}
