package dev.salient.model;

import static dev.salient.model.OnnxBuilder.attr;
import static dev.salient.model.OnnxBuilder.attrs;
import static dev.salient.model.OnnxBuilder.in;
import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model's large float constants live off the Java heap: decoded straight from the file into
 * native memory, read in place by the CPU backend, shared by {@link Model#withConstants} copies,
 * and freed when the last model holding them is closed.
 */
class OffHeapWeightsTest {
    @TempDir
    Path dir;
    final Backend cpu = Engine.cpu();

    /** x (2,16,10,10) -> Conv W (64,16,3,3) + B -> Relu -> Conv V (8,64,1,1) -> y: W is large, B and V small. */
    Path twoConvs(String file, long seed) throws Exception {
        Random r = new Random(seed);
        return new OnnxBuilder().input("x", 2, 16, 10, 10).output("y", 2, 8, 10, 10)
                .init("W", OnnxBuilder.random(r, 64 * 16 * 9, 0.1f), 64, 16, 3, 3)
                .init("B", OnnxBuilder.random(r, 64, 0.1f), 64)
                .init("V", OnnxBuilder.random(r, 8 * 64, 0.1f), 8, 64, 1, 1)
                .node("Conv", "conv1", in("x", "W", "B"), in("c"), attrs("pads", 1, 1, 1, 1))
                .node("Relu", "relu", in("c"), in("r"))
                .node("Conv", "conv2", in("r", "V"), in("y"))
                .write(dir, file);
    }

    float[] input(long seed) {
        return OnnxBuilder.random(new Random(seed), 2 * 16 * 100, 1f);
    }

    float[] forward(Model m, float[] x) {
        try (Tensor xt = cpu.upload(x, 2, 16, 10, 10); Tensor y = m.forward(cpu, xt)) {
            return y.toArray();
        }
    }

    @Test
    void largeFloatConstantsLiveOffHeapAndTheCpuReadsThemInPlace() throws Exception {
        float[] x = input(3);
        try (Model m = Model.load(twoConvs("m.onnx", 1))) {
            HostTensor w = m.graph().constants().get("W"), b = m.graph().constants().get("B"), v = m.graph().constants().get("V");
            assertTrue(w.isOffHeap(), "a weight of " + w.numel() + " floats is off the heap");
            assertFalse(b.isOffHeap(), "a bias of 64 floats stays on the heap");
            assertFalse(v.isOffHeap(), "a weight under " + HostTensor.OFF_HEAP_MIN_NUMEL + " floats stays on the heap");
            float[] expect = OnnxBuilder.random(new Random(1), 64 * 16 * 9, 0.1f);
            assertArrayEquals(expect, w.floats(), "the off-heap values are the file's");
            assertEquals(expect[123], (float) w.get(123));
            assertEquals(expect[5], w.floatBuffer().get(5));
            assertArrayEquals(expect, w.reshape(64, 144).floats(), "a reshape shares the values");

            Tensor wt = m.weight(cpu, "W");
            assertEquals(w.nativeFloats().pointer().address(), wt.data().address(), "the CPU backend reads the weight in place");
            assertSame(wt, m.weight(cpu, "W"), "one tensor per weight and backend");
            assertSame(w.nativeFloats(), wt.owner(), "the weight tensor keeps its memory's holder reachable");

            // the same graph with W on the heap (uploaded by copy) gives bit-identical logits
            float[] got = forward(m, x);
            try (Model heap = m.withConstants(Map.of("W", HostTensor.ofFloats(w.floats(), w.shape())))) {
                assertFalse(heap.graph().constants().get("W").isOffHeap());
                assertArrayEquals(forward(heap, x), got, "off-heap and heap weights give the same result");
            }
        }
    }

    @Test
    void closingTheModelFreesItsOffHeapConstants() throws Exception {
        Path f = twoConvs("m.onnx", 2);
        long before = NativeFloats.liveBytes();
        Model m = Model.load(f);
        HostTensor w = m.graph().constants().get("W");
        assertEquals(before + 64 * 16 * 9 * 4, NativeFloats.liveBytes(), "the model holds exactly its large weight off the heap");
        forward(m, input(1));
        m.close();
        assertEquals(before, NativeFloats.liveBytes(), "closing the model frees its weights");
        var e = assertThrows(SalientException.class, w::floats);
        assertTrue(e.getMessage().contains("freed"), e.getMessage());
        assertThrows(SalientException.class, () -> w.get(0));
        assertThrows(SalientException.class, () -> m.weight(cpu, "W"));
        m.close(); // twice: nothing more
        assertEquals(before, NativeFloats.liveBytes());
    }

    @Test
    void copiesByWithConstantsShareTheWeightsUntilTheLastIsClosed() throws Exception {
        float[] x = input(4);
        long before = NativeFloats.liveBytes();
        Model m = Model.load(twoConvs("m.onnx", 3));
        float[] ref = forward(m, x);
        Model zeroBias = m.withConstants(Map.of("B", HostTensor.ofFloats(new float[64], 64)));
        Model same = m.withConstants(Map.of());
        assertSame(m.graph().constants().get("W"), zeroBias.graph().constants().get("W"), "the copy shares the weight");
        long held = NativeFloats.liveBytes();
        assertEquals(before + 64 * 16 * 9 * 4, held, "sharing copies nothing off the heap");
        m.close();
        assertEquals(held, NativeFloats.liveBytes(), "the copies still hold the weight");
        assertArrayEquals(ref, forward(same, x), "a copy runs as the closed original did");
        assertFalse(Arrays.equals(ref, forward(zeroBias, x)), "the replaced bias is used");
        same.close();
        assertEquals(held, NativeFloats.liveBytes());
        zeroBias.close();
        assertEquals(before, NativeFloats.liveBytes(), "the last copy closed frees the weight");
    }

    @Test
    void batchNormFoldingWritesFoldedWeightsOffHeapAndFreesTheOriginals() throws Exception {
        Random r = new Random(5);
        float[] w = OnnxBuilder.random(r, 32 * 16 * 9, 0.2f);
        float[] gamma = OnnxBuilder.positive(r, 32), beta = OnnxBuilder.random(r, 32, 0.5f),
                mean = OnnxBuilder.random(r, 32, 0.5f), var = OnnxBuilder.positive(r, 32);
        Path f = new OnnxBuilder().input("x", 1, 16, 6, 6).output("y", 1, 32, 6, 6)
                .init("W", w, 32, 16, 3, 3).init("gamma", gamma, 32).init("beta", beta, 32).init("mean", mean, 32).init("var", var, 32)
                .node("Conv", "conv", in("x", "W"), in("c"), attrs("pads", 1, 1, 1, 1))
                .node("BatchNormalization", "bn", in("c", "gamma", "beta", "mean", "var"), in("y"), attr("epsilon", 1e-3f))
                .write(dir, "bn.onnx");
        long before = NativeFloats.liveBytes();
        try (Model m = Model.load(f)) {
            String wn = m.graph().nodes().get(0).input(1);
            HostTensor folded = m.graph().constants().get(wn);
            assertTrue(folded.isOffHeap(), "the folded weight is written off the heap");
            assertFalse(m.graph().constants().containsKey("W"));
            assertEquals(before + w.length * 4L, NativeFloats.liveBytes(), "the weight before folding is freed at load");
            float[] got = folded.floats();
            for (int i = 0; i < w.length; i++) {
                int k = i / (16 * 9);
                float want = (float) (w[i] * (gamma[k] / Math.sqrt(var[k] + 1e-3f)));
                assertEquals(want, got[i], 1e-6f * Math.max(1, Math.abs(want)), "folded weight " + i);
            }
        }
        assertEquals(before, NativeFloats.liveBytes());
    }

    @Test
    void loadingDoesNotPassTheWeightsThroughTheJavaHeap() throws Exception {
        // one 9.4 MB weight: reading the file, parsing it and decoding each used to allocate several times that
        Random r = new Random(6);
        int n = 256 * 256 * 9;
        Path f = new OnnxBuilder().input("x", 1, 256, 4, 4).output("y", 1, 256, 4, 4)
                .init("W", OnnxBuilder.random(r, n, 0.05f), 256, 256, 3, 3)
                .node("Conv", "conv", in("x", "W"), in("y"), attrs("pads", 1, 1, 1, 1))
                .write(dir, "big.onnx");
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().getId();
        Model.load(f).close(); // classes loaded and initialised outside the measured load
        long a0 = threads.getThreadAllocatedBytes(tid);
        try (Model m = Model.load(f)) {
            long heap = threads.getThreadAllocatedBytes(tid) - a0;
            assertTrue(m.graph().constants().get("W").isOffHeap());
            assertTrue(heap < n * 4L / 8, "loading allocated " + heap + " bytes on the Java heap for a weight of " + n * 4L + " bytes");
        }
    }
}
