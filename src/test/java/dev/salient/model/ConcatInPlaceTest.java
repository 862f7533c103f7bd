package dev.salient.model;

import static dev.salient.model.OnnxBuilder.attr;
import static dev.salient.model.OnnxBuilder.attrs;
import static dev.salient.model.OnnxBuilder.in;
import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.engine.cuda.CudaBackend;
import org.junit.jupiter.api.Assumptions;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Concats whose output is their inputs end to end (only size-1 axes before the concat axis, so
 * batch 1 for a channel concat) are not run: the steps that make the inputs write them where the
 * output lies (Planner.concatsInPlace). Each plan is checked against one that fetches every
 * intermediate (each its own tensor, nothing laid out in place), bit for bit.
 */
class ConcatInPlaceTest {
    @TempDir
    Path dir;

    final Backend cpu = Engine.cpu();
    final Random rnd = new Random(5);

    OnnxBuilder conv(OnnxBuilder b, String name, String x, String y, long cin, long cout) {
        b.init(name + ".w", OnnxBuilder.random(rnd, (int) (cin * cout * 9), 0.2f), cout, cin, 3, 3);
        return b.node("Conv", name, in(x, name + ".w"), in(y), attrs("pads", 1, 1, 1, 1));
    }

    /**
     * A dense block of two layers on input x (batch dimension {@code batch}, -1 for any): stem s, then
     * each layer Relu, conv of 16 channels, concatenated with everything before; the first layer
     * reads c1 = Concat(s) when {@code singleConcat}, else s (tensor r1 either way).
     */
    OnnxBuilder denseBlock(long batch, boolean singleConcat) {
        OnnxBuilder b = new OnnxBuilder().input("x", batch, 3, 8, 8).output("y");
        conv(b, "stem", "x", "s", 3, 16);
        if (singleConcat) b.node("Concat", "cat1", in("s"), in("c1"), attr("axis", 1));
        b.node("Relu", "relu1", in(singleConcat ? "c1" : "s"), in("r1"));
        conv(b, "conv1", "r1", "f1", 16, 16);
        b.node("Concat", "cat2", in("s", "f1"), in("c2"), attr("axis", 1));
        b.node("Relu", "relu2", in("c2"), in("r2"));
        conv(b, "conv2", "r2", "f2", 32, 16);
        b.node("Concat", "cat3", in("s", "f1", "f2"), in("c3"), attr("axis", 1));
        return conv(b, "head", "c3", "y", 48, 4);
    }

    /**
     * A dense block as DenseNet has it: each layer concatenates the block's input with every feature
     * map made so far, then Relu (which may not run in place over a concat: the features under it
     * are read again) and a conv. At batch 1 the three concats are views of one buffer, and the
     * arena is smaller; at batch 2 they run.
     */
    @Test
    void denseBlockConcatsAreViewsAtBatchOne() throws Exception {
        OnnxBuilder b = denseBlock(-1, true);
        Set<String> all = Set.of("s", "c1", "r1", "f1", "c2", "r2", "f2", "c3", "y");
        try (Model m = Model.load(b.write(dir, "dense.onnx"))) {
            for (int n : new int[] {1, 2}) {
                Plan p = m.plan(Map.of("x", new long[] {n, 3, 8, 8}), Set.of("y"));
                assertEquals(n == 1 ? 3 : 0, p.joinedConcats(), "batch " + n);
                if (n == 1) {
                    long copies = 16 * 64 + 32 * 64 + 48 * 64;  // what the concats' own outputs took
                    assertTrue(p.bufferFloats() < m.plan(Map.of("x", new long[] {2, 3, 8, 8}), Set.of("y")).bufferFloats() / 2,
                            "batch 1's arena " + p.bufferFloats() + " holds no concat copies (" + copies + " floats)");
                }
                assertSameAsEveryTensorKept(m, n, all);
            }
        }
    }

    /**
     * A run that takes the values a changed constant does not reach from an earlier run (a
     * cascading-randomisation step, Model.Prefix): the second layer's conv weights change, so the
     * last concat (laid out in place) must find the stem's and the first layer's features, taken
     * from the earlier run, in its buffer. Bit for bit a run of the changed model from scratch.
     */
    @Test
    void reusedValuesLandInTheConcatBuffer() throws Exception {
        OnnxBuilder b = denseBlock(1, false);
        float[] x = OnnxBuilder.random(new Random(9), 3 * 64, 1f);
        Set<String> all = Set.of("s", "r1", "f1", "c2", "r2", "f2", "c3", "y");
        try (Model m = Model.load(b.write(dir, "reuse.onnx")); Tensor xt = cpu.upload(x, 1, 3, 8, 8)) {
            assertEquals(2, m.plan(Map.of("x", new long[] {1, 3, 8, 8}), Set.of("y")).joinedConcats());
            Map<String, HostTensor> changed = Map.of("conv2.w", HostTensor.ofFloats(OnnxBuilder.random(rnd, 16 * 32 * 9, 0.2f),
                    new long[] {16, 32, 3, 3}));
            Map<String, Tensor> before = m.run(cpu, Map.of("x", xt), all);
            try (Model fresh = m.withConstants(changed); Model reusing = m.withConstants(changed);
                    Tensor want = fresh.forward(cpu, xt)) {
                reusing.reusing(new Model.Prefix(x, before, Set.of("conv2.w")));
                try (Tensor got = reusing.forward(cpu, xt)) {
                    assertArrayEquals(want.toArray(), got.toArray());
                }
            } finally {
                for (Tensor t : before.values()) t.close();
            }
        }
    }

    /**
     * Two concats that would put different tensors at the same place (b after a in one, after c in
     * the other, a and c of one size): the second runs as a copy. A concat of a fetched tensor, or of
     * tensors whose offsets are not 64-byte aligned, runs as well.
     */
    @Test
    void concatsThatCannotShareMemoryRun() throws Exception {
        OnnxBuilder b = new OnnxBuilder().input("x", 1, 3, 8, 8).output("y");
        conv(b, "a", "x", "a", 3, 8);
        conv(b, "b", "x", "b", 3, 8);
        conv(b, "c", "x", "c", 3, 8);
        b.node("Concat", "cat1", in("a", "b"), in("ab"), attr("axis", 1));
        b.node("Concat", "cat2", in("c", "b"), in("cb"), attr("axis", 1));
        conv(b, "p", "ab", "pa", 16, 4);
        conv(b, "q", "cb", "pb", 16, 4);
        b.node("Add", "sum", in("pa", "pb"), in("y"));
        try (Model m = Model.load(b.write(dir, "clash.onnx"))) {
            assertEquals(1, m.plan(Map.of("x", new long[] {1, 3, 8, 8}), Set.of("y")).joinedConcats());
            assertEquals(0, m.plan(Map.of("x", new long[] {1, 3, 8, 8}), Set.of("y", "b")).joinedConcats(), "b fetched");
            assertSameAsEveryTensorKept(m, 1, Set.of("a", "b", "c", "ab", "cb", "pa", "pb", "y"));
        }
        OnnxBuilder odd = new OnnxBuilder().input("x", 1, 3, 5, 5).output("y");
        conv(odd, "a", "x", "a", 3, 3);
        conv(odd, "b", "x", "b", 3, 3);
        odd.node("Concat", "cat", in("a", "b"), in("ab"), attr("axis", 1));
        conv(odd, "p", "ab", "y", 6, 2);
        try (Model m = Model.load(odd.write(dir, "odd.onnx"))) {
            assertEquals(0, m.plan(Map.of("x", new long[] {1, 3, 5, 5}), Set.of("y")).joinedConcats(), "75 floats apart");
            assertSameAsEveryTensorKept(m, 1, Set.of("a", "b", "ab", "y"));
        }
    }

    /** The dense block at batch 1 on the CUDA engine (emulated where there is no GPU): the same layout. */
    @Test
    void denseBlockInPlaceOnCuda() throws Exception {
        Assumptions.assumeTrue(CudaBackend.isAvailable(), "no CUDA engine: " + CudaBackend.unavailableReason());
        try (Model m = Model.load(denseBlock(-1, true).write(dir, "dense-cuda.onnx")); CudaBackend gpu = CudaBackend.create()) {
            assertSameAsEveryTensorKept(gpu, m, 1, Set.of("s", "c1", "r1", "f1", "c2", "r2", "f2", "c3", "y"));
        }
    }

    void assertSameAsEveryTensorKept(Model m, int n, Set<String> all) {
        assertSameAsEveryTensorKept(cpu, m, n, all);
    }

    /** The plan's y against a run on {@code be} that keeps every tensor in {@code all} (fetched: laid out nowhere in place). */
    void assertSameAsEveryTensorKept(Backend be, Model m, int n, Set<String> all) {
        float[] x = OnnxBuilder.random(new Random(9), n * 3 * (int) (m.inputs().get(0).shape()[2] * m.inputs().get(0).shape()[3]), 1f);
        long[] shape = m.inputs().get(0).shape().clone();
        shape[0] = n;
        try (Tensor xt = be.upload(x, shape); Tensor y = m.forward(be, xt)) {
            assertEquals(0, m.plan(Map.of("x", shape), new HashSet<>(all)).joinedConcats());
            Map<String, Tensor> kept = m.run(be, Map.of("x", xt), all);
            try {
                assertArrayEquals(kept.get("y").toArray(), y.toArray(), "batch " + n);
            } finally {
                for (Tensor t : kept.values()) t.close();
            }
        }
    }
}
