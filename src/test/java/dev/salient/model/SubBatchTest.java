package dev.salient.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link Model#forward} in sub-batches ({@link Model#subBatch}): the same bits as the batch run
 * whole, whatever the sub-batch and a last part shorter than the rest; which models are light
 * enough to split; a declared fixed batch never split, whatever the property says; the system
 * property's override and its bad values.
 */
class SubBatchTest {
    static final Path ARCH = Path.of("src/test/resources/fixtures/arch");
    static final Backend CPU = Engine.cpu();

    static float[] forward(Model m, float[] x, long... shape) {
        try (Tensor t = CPU.upload(x, shape); Tensor y = m.forward(CPU, t)) {
            assertEquals(shape[0], y.dim(0));
            return y.toArray();
        }
    }

    static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    /** body's result with the system property salient.subBatch set to value, the property restored after. */
    static <T> T underSubBatch(String value, java.util.function.Supplier<T> body) {
        String prev = System.getProperty("salient.subBatch");
        System.setProperty("salient.subBatch", value);
        try {
            return body.get();
        } finally {
            if (prev == null) System.clearProperty("salient.subBatch");
            else System.setProperty("salient.subBatch", prev);
        }
    }

    static float[] withSubBatch(String value, Model m, float[] x, long... shape) {
        return underSubBatch(value, () -> forward(m, x, shape));
    }

    /** The model's declared input shape with batch n. */
    static long[] shape(Model m, long n) {
        long[] s = m.inputs().get(0).shape().clone();
        s[0] = n;
        return s;
    }

    static int numel(long[] s) {
        return (int) Shapes.numel(s);
    }

    @Test
    void subBatchesGiveTheBatchsBits() {
        for (String arch : new String[] {"mobilenetv2_folded", "resnet_bottleneck_folded", "densenet_folded"}) {
            try (Model m = Model.load(ARCH.resolve(arch).resolve("model.onnx"))) {
                long[] shape = shape(m, 7);
                float[] x = gaussian(numel(shape), 11);
                float[] whole = withSubBatch("0", m, x, shape);
                for (String sub : new String[] {"1", "2", "3", "4", "8"})
                    assertArrayEquals(whole, withSubBatch(sub, m, x, shape), arch + " in sub-batches of " + sub);
            }
        }
    }

    /** Eight 3x3 convs onto 32 channels with ReLUs on 3 x 16 x 16: about 1020 FLOPs a byte of its largest map (32 KiB). */
    static Path deepConvs(Path dir) throws java.io.IOException {
        Random r = new Random(5);
        OnnxBuilder b = new OnnxBuilder().input("x", -1, 3, 16, 16).output("y");
        String prev = "x";
        for (int i = 0; i < 8; i++) {
            int c = i == 0 ? 3 : 32;
            b.init("w" + i, OnnxBuilder.random(r, 32 * c * 9, 0.2f), 32, c, 3, 3).init("b" + i, OnnxBuilder.random(r, 32, 0.1f), 32);
            b.node("Conv", "conv" + i, OnnxBuilder.in(prev, "w" + i, "b" + i), OnnxBuilder.in("c" + i),
                    OnnxBuilder.attrs("pads", 1, 1, 1, 1), OnnxBuilder.attrs("kernel_shape", 3, 3));
            b.node("Relu", "relu" + i, OnnxBuilder.in("c" + i), OnnxBuilder.in(i == 7 ? "y" : "r" + i));
            prev = "r" + i;
        }
        return b.write(dir, "deep.onnx");
    }

    @Test
    void lightModelsSplitHeavyOnesDoNot(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        // MobileNetV2's inverted residuals: few FLOPs per byte of their widest expansion
        try (Model m = Model.load(ARCH.resolve("mobilenetv2_folded/model.onnx")); Tensor x = CPU.allocate(shape(m, 1))) {
            int sub = m.subBatch(x);
            assertTrue(sub >= 1 && Integer.bitCount(sub) == 1, "MobileNetV2 sub-batch " + sub);
        }
        try (Model m = Model.load(deepConvs(dir)); Tensor x = CPU.allocate(1, 3, 16, 16)) {
            assertEquals(0, m.subBatch(x), "eight 3x3 convs run their batch whole");
            float[] v = gaussian(5 * 3 * 16 * 16, 3);
            assertArrayEquals(withSubBatch("0", m, v, 5, 3, 16, 16), withSubBatch("2", m, v, 5, 3, 16, 16));
        }
    }

    /**
     * A light model with a large classifier: a 1x1 conv onto 64 channels at 64x64, global average
     * pooling, Flatten, and a Gemm onto 4096 outputs whose weight is 1 MiB (transB as exporters write
     * it, or as a MatMul of the constant (64, 4096)).
     */
    static Path lightWithClassifier(Path dir, boolean matmul) throws java.io.IOException {
        Random r = new Random(13);
        OnnxBuilder b = new OnnxBuilder().input("x", -1, 3, 64, 64).output("y")
                .init("w", OnnxBuilder.random(r, 64 * 3, 0.5f), 64, 3, 1, 1).init("b", OnnxBuilder.random(r, 64, 0.1f), 64)
                .node("Conv", "conv", OnnxBuilder.in("x", "w", "b"), OnnxBuilder.in("c"))
                .node("Relu", "relu", OnnxBuilder.in("c"), OnnxBuilder.in("r"))
                .node("GlobalAveragePool", "gap", OnnxBuilder.in("r"), OnnxBuilder.in("g"))
                .node("Flatten", "flat", OnnxBuilder.in("g"), OnnxBuilder.in("f"));
        if (matmul) {
            b.init("fc", OnnxBuilder.random(r, 64 * 4096, 0.2f), 64, 4096)
                    .node("MatMul", "fc", OnnxBuilder.in("f", "fc"), OnnxBuilder.in("y"));
        } else {
            b.init("fc", OnnxBuilder.random(r, 4096 * 64, 0.2f), 4096, 64).init("fcb", OnnxBuilder.random(r, 4096, 0.1f), 4096)
                    .node("Gemm", "fc", OnnxBuilder.in("f", "fc", "fcb"), OnnxBuilder.in("y"), OnnxBuilder.attr("transB", 1L));
        }
        return b.write(dir, matmul ? "light_matmul.onnx" : "light_gemm.onnx");
    }

    @Test
    void aLargeClassifierRunsOnceOverTheWholeBatch(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        for (boolean matmul : new boolean[] {false, true}) {
            try (Model m = Model.load(lightWithClassifier(dir, matmul)); Tensor one = CPU.allocate(1, 3, 64, 64)) {
                String what = matmul ? "MatMul" : "Gemm";
                assertTrue(m.subBatch(one) >= 1, what + ": a light model");
                for (int n : new int[] {5, 8}) {
                    long[] shape = {n, 3, 64, 64};
                    float[] x = gaussian(numel(shape), 21 + n);
                    float[] whole = withSubBatch("0", m, x, shape);
                    boolean on = OpProfile.on();
                    OpProfile.enable(true);
                    try {
                        OpProfile.reset();
                        float[] split = withSubBatch("2", m, x, shape);
                        assertArrayEquals(whole, split, what + " at batch " + n + " in sub-batches of 2");
                        long calls = 0, convs = 0;
                        for (var e : OpProfile.snapshot().entrySet()) {
                            if (e.getKey().startsWith("fwd " + what)) calls += (long) e.getValue()[1];
                            if (e.getKey().startsWith("fwd Conv")) convs += (long) e.getValue()[1];
                        }
                        assertEquals(1, calls, what + " at batch " + n + ": the classifier once over the batch");
                        assertEquals((n + 1) / 2, convs, what + " at batch " + n + ": the conv once a sub-batch");
                    } finally {
                        OpProfile.enable(on);
                    }
                    // image 0 alone: each image's bits are its own
                    float[] first = withSubBatch("0", m, java.util.Arrays.copyOf(x, 3 * 64 * 64), 1, 3, 64, 64);
                    assertArrayEquals(first, java.util.Arrays.copyOf(whole, 4096), what + ": image 0 alone");
                }
            }
        }
    }

    @Test
    void aClassifierOverTheMemoryBudgetRunsPerSubBatch(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        try (Model m = Model.load(lightWithClassifier(dir, false))) {
            long[] shape = {6, 3, 64, 64};
            float[] x = gaussian(numel(shape), 31);
            float[] whole = withSubBatch("0", m, x, shape);
            // the whole batch's activations (6 x 1 MiB for the conv alone) over the budget: the sub-batches
            // run the classifier each, within it
            m.memoryLimit(4L << 20);
            assertArrayEquals(whole, withSubBatch("2", m, x, shape));
        }
    }

    @Test
    void aFixedBatchRunsWhole(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Random r = new Random(9);
        Path f = new OnnxBuilder().input("x", 4, 3, 8, 8).output("y")
                .init("w", OnnxBuilder.random(r, 8 * 3, 0.5f), 8, 3, 1, 1)
                .node("Conv", "conv", OnnxBuilder.in("x", "w"), OnnxBuilder.in("y"))
                .write(dir, "fixed.onnx");
        try (Model m = Model.load(f)) {
            float[] v = gaussian(4 * 3 * 8 * 8, 2);
            assertArrayEquals(withSubBatch("0", m, v, 4, 3, 8, 8), withSubBatch("2", m, v, 4, 3, 8, 8));
            try (Tensor x = CPU.allocate(4, 3, 8, 8)) {
                assertEquals(0, m.subBatch(x));
            }
        }
    }

    @Test
    void aBatchThatMixesImagesRunsWhole(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        // a Softmax over the batch axis: its shapes keep a row per image, its attribute does not
        Path soft = new OnnxBuilder().input("x", -1, 4).output("y")
                .node("Softmax", "sm", OnnxBuilder.in("x"), OnnxBuilder.in("y"), OnnxBuilder.attr("axis", 0L))
                .write(dir, "softmax0.onnx");
        // a Reshape that folds the batch into one row
        Path fold = new OnnxBuilder().input("x", -1, 4).output("y")
                .initInts("s", new long[] {1, -1}, 2)
                .node("Reshape", "r", OnnxBuilder.in("x", "s"), OnnxBuilder.in("y"))
                .write(dir, "fold.onnx");
        for (Path f : new Path[] {soft, fold}) {
            try (Model m = Model.load(f); Tensor x = CPU.allocate(1, 4)) {
                assertEquals(0, m.subBatch(x), f.getFileName().toString());
                float[] v = gaussian(5 * 4, 4);
                underSubBatch("2", () -> {
                    try (Tensor t = CPU.upload(v, 5, 4); Tensor y = m.forward(CPU, t);
                            Tensor whole = m.run(CPU, java.util.Map.of(m.inputs().get(0).name(), t),
                                    java.util.Set.of(m.outputs().get(0).name())).get(m.outputs().get(0).name())) {
                        assertArrayEquals(whole.toArray(), y.toArray(), f.getFileName().toString());
                        assertArrayEquals(whole.shape(), y.shape());
                    }
                    return null;
                });
            }
        }
    }

    @Test
    void badPropertyIsOneLine() {
        try (Model m = Model.load(ARCH.resolve("mobilenetv2_folded/model.onnx"))) {
            SalientException e = assertThrows(SalientException.class,
                    () -> withSubBatch("many", m, gaussian(numel(shape(m, 2)), 1), shape(m, 2)));
            assertEquals("salient.subBatch must be an integer, got 'many'", e.getMessage());
        }
    }
}
