package dev.salient.model;

import dev.salient.engine.Parity;

import static dev.salient.model.OnnxBuilder.attr;
import static dev.salient.model.OnnxBuilder.attrs;
import static dev.salient.model.OnnxBuilder.in;
import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Load-time rewriting: BatchNorm folding, constant and shape-subgraph folding, Identity/Dropout removal. */
class RewriteTest {
    @TempDir
    Path dir;
    final Backend cpu = Engine.cpu();

    static List<String> ops(Model m) {
        return m.graph().nodes().stream().map(Node::opType).toList();
    }

    /** x -> Conv -> BN -> Relu -> y; with {@code exposeConv} the conv output is also a graph output, which blocks folding. */
    Path convBn(boolean exposeConv, long seed) throws Exception {
        Random r = new Random(seed);
        OnnxBuilder b = new OnnxBuilder().input("x", 2, 3, 8, 8).output("y", 2, 4, 8, 8)
                .init("W", OnnxBuilder.random(r, 4 * 3 * 9, 0.3f), 4, 3, 3, 3)
                .init("B", OnnxBuilder.random(r, 4, 0.1f), 4)
                .init("gamma", OnnxBuilder.positive(r, 4), 4).init("beta", OnnxBuilder.random(r, 4, 0.5f), 4)
                .init("mean", OnnxBuilder.random(r, 4, 0.5f), 4).init("var", OnnxBuilder.positive(r, 4), 4)
                .node("Conv", "conv", in("x", "W", "B"), in("c"), attrs("pads", 1, 1, 1, 1))
                .node("BatchNormalization", "bn", in("c", "gamma", "beta", "mean", "var"), in("n"), attr("epsilon", 1e-3f))
                .node("Relu", "relu", in("n"), in("y"));
        if (exposeConv) b.output("c", 2, 4, 8, 8);
        return b.write(dir, exposeConv ? "unfolded.onnx" : "folded.onnx");
    }

    @Test
    void batchNormFoldingEqualsUnfoldedExecution() throws Exception {
        float[] x = OnnxBuilder.random(new Random(1), 2 * 3 * 64, 1f);
        try (Model folded = Model.load(convBn(false, 7)); Model unfolded = Model.load(convBn(true, 7));
                Tensor xt = cpu.upload(x, 2, 3, 8, 8)) {
            assertEquals(List.of("Conv", "Relu"), ops(folded), "BN folded into the conv");
            assertEquals(List.of("Conv", "ChannelAffine", "Relu"), ops(unfolded), "BN kept as a per-channel affine");
            Map<String, Tensor> u = unfolded.run(cpu, Map.of("x", xt), Set.of("y", "c"));
            try (Tensor yf = folded.forward(cpu, xt); Tensor yu = u.get("y"); Tensor c = u.get("c")) {
                float[] a = yf.toArray(), bb = yu.toArray(), conv = c.toArray();
                // independent reference: BN by its definition on the unfolded conv output
                float[] ref = new float[conv.length];
                Random r = new Random(7);
                OnnxBuilder.random(r, 4 * 3 * 9, 0.3f);
                OnnxBuilder.random(r, 4, 0.1f);
                float[] gamma = OnnxBuilder.positive(r, 4), beta = OnnxBuilder.random(r, 4, 0.5f),
                        mean = OnnxBuilder.random(r, 4, 0.5f), var = OnnxBuilder.positive(r, 4);
                for (int i = 0; i < conv.length; i++) {
                    int ch = (i / 64) % 4;
                    double v = (conv[i] - mean[ch]) / Math.sqrt(var[ch] + 1e-3) * gamma[ch] + beta[ch];
                    ref[i] = (float) Math.max(0, v);
                }
                Parity.assertClose("folded vs unfolded", a, bb, 1e-5, 1e-5);
                var e = assertThrows(dev.salient.engine.SalientException.class, () -> folded.run(cpu, Map.of("x", xt), Set.of("c")));
                assertTrue(e.getMessage().contains("'c' was folded away"), e.getMessage());
                try (Tensor n = folded.run(cpu, Map.of("x", xt), Set.of("n")).get("n")) {
                    assertEquals("n", folded.graph().nodes().get(0).outputs().get(0), "the folded conv writes the BN output");
                }
                Parity.assertClose("unfolded vs BN definition", bb, ref, 1e-5, 1e-5);
            }
        }
    }

    Path shapeChain(long batch) throws Exception {
        // y = x.view(x.size(0), -1), as PyTorch exports it
        return new OnnxBuilder().input("x", batch, 3, 4, 4).output("y", batch, 48)
                .initInts("zero", new long[] {0})
                .initInts("minus1", new long[] {-1}, 1)
                .node("Shape", "shape", in("x"), in("s"))
                .node("Gather", "gather", in("s", "zero"), in("n"), attr("axis", 0L))
                .node("Unsqueeze", "unsq", in("n"), in("n1"), attrs("axes", 0))
                .opset(11)
                .node("Concat", "cat", in("n1", "minus1"), in("shape"), attr("axis", 0L))
                .node("Reshape", "reshape", in("x", "shape"), in("y"))
                .write(dir, batch < 0 ? "dyn.onnx" : "static.onnx");
    }

    @Test
    void shapeChainFoldsAtLoadForStaticInputs() throws Exception {
        try (Model m = Model.load(shapeChain(2))) {
            assertEquals(List.of("Reshape"), ops(m), "Shape->Gather->Unsqueeze->Concat folded into a constant");
            assertArrayEquals(new long[] {2, 48}, m.outputs().get(0).shape());
            float[] x = OnnxBuilder.random(new Random(3), 96, 1f);
            try (Tensor xt = cpu.upload(x, 2, 3, 4, 4); Tensor y = m.forward(cpu, xt)) {
                assertArrayEquals(new long[] {2, 48}, y.shape());
                assertArrayEquals(x, y.toArray());
            }
        }
    }

    @Test
    void shapeChainFoldsPerPlanForDynamicBatch() throws Exception {
        try (Model m = Model.load(shapeChain(-1))) {
            assertArrayEquals(new long[] {-1, 3, 4, 4}, m.inputs().get(0).shape());
            assertTrue(ops(m).contains("Shape"), "dynamic batch keeps the shape subgraph until a plan");
            for (int n : new int[] {1, 5, 2}) {
                float[] x = OnnxBuilder.random(new Random(n), n * 48, 1f);
                try (Tensor xt = cpu.upload(x, n, 3, 4, 4); Tensor y = m.forward(cpu, xt)) {
                    assertArrayEquals(new long[] {n, 48}, y.shape());
                    assertArrayEquals(x, y.toArray());
                }
                var plan = m.plan(Map.of("x", new long[] {n, 3, 4, 4}), Set.of("y"));
                assertEquals(1, plan.steps().size(), "only the Reshape runs on the backend");
                assertEquals(4, plan.foldedNodes().size());
            }
        }
    }

    /** x -> Pad(0 on H,W) -> Conv / AveragePool(count_include_pad); exposing the Pad output blocks the merge. */
    Path padThen(String op, boolean exposePad) throws Exception {
        Random r = new Random(11);
        OnnxBuilder b = new OnnxBuilder().input("x", 1, 2, 6, 5).output("y")
                .initInts("p", new long[] {0, 0, 1, 2, 0, 0, 2, 0}, 8)
                .node("Pad", "pad", in("x", "p"), in("xp"));
        if (op.equals("Conv"))
            b.init("w", OnnxBuilder.random(r, 3 * 2 * 9, 0.4f), 3, 2, 3, 3)
                    .node("Conv", "conv", in("xp", "w"), in("y"), attrs("pads", 1, 0, 0, 1), attrs("strides", 2, 1));
        else
            b.node("AveragePool", "pool", in("xp"), in("y"), attrs("kernel_shape", 3, 2), attrs("pads", 0, 1, 1, 0),
                    attr("count_include_pad", 1L));
        if (exposePad) b.output("xp");
        return b.write(dir, op + exposePad + ".onnx");
    }

    @Test
    void zeroPadMergesIntoConvAndCountingAveragePool() throws Exception {
        float[] x = OnnxBuilder.random(new Random(12), 60, 1f);
        for (String op : new String[] {"Conv", "AveragePool"}) {
            try (Model merged = Model.load(padThen(op, false)); Model kept = Model.load(padThen(op, true));
                    Tensor xt = cpu.upload(x, 1, 2, 6, 5)) {
                assertEquals(List.of(op), ops(merged), "Pad merged into " + op);
                assertEquals(List.of("Pad", op), ops(kept));
                try (Tensor a = merged.forward(cpu, xt); Tensor b = kept.run(cpu, Map.of("x", xt), Set.of("y")).get("y")) {
                    assertArrayEquals(b.shape(), a.shape());
                    Parity.assertClose(op + " merged vs padded", a.toArray(), b.toArray(), 1e-6, 1e-5);
                }
            }
        }
    }

    @Test
    void dynamicImageSizeLoadsAndPlansPerCall() throws Exception {
        Random r = new Random(13);
        Path p = new OnnxBuilder().input("x", -1, 3, -1, -1).output("y")
                .init("w", OnnxBuilder.random(r, 4 * 3 * 49, 0.1f), 4, 3, 7, 7)
                .node("Conv", "stem", in("x", "w"), in("c"), attrs("strides", 2, 2))
                .node("GlobalAveragePool", "gap", in("c"), in("y")).write(dir, "dynhw.onnx");
        try (Model m = Model.load(p)) { // a 1x1 stand-in would be smaller than the 7x7 kernel: no validation at load
            for (int hw : new int[] {9, 16}) {
                try (Tensor x = cpu.upload(OnnxBuilder.random(r, 2 * 3 * hw * hw, 1f), 2, 3, hw, hw); Tensor y = m.forward(cpu, x)) {
                    assertArrayEquals(new long[] {2, 4, 1, 1}, y.shape());
                }
            }
            try (Tensor x = cpu.upload(new float[3 * 16], 1, 3, 4, 4)) {
                var e = assertThrows(dev.salient.engine.SalientException.class, () -> m.forward(cpu, x));
                assertTrue(e.getMessage().contains("Conv node 'stem'"), e.getMessage());
            }
        }
    }

    @Test
    void identityDropoutAndConstantsAreRemoved() throws Exception {
        Path p = new OnnxBuilder().input("x", 1, 4).output("y", 1, 4)
                .node(dev.salient.onnx.proto.Onnx.NodeProto.newBuilder().setOpType("Constant").setName("k").addOutput("k")
                        .addAttribute(dev.salient.onnx.proto.Onnx.AttributeProto.newBuilder().setName("value")
                                .setType(dev.salient.onnx.proto.Onnx.AttributeProto.AttributeType.TENSOR)
                                .setT(OnnxBuilder.floatTensor("", new float[] {1, 2, 3, 4}, 1, 4)))
                        .build())
                .node("Identity", "id", in("x"), in("a"))
                .node("Dropout", "drop", in("a"), in("b"))
                .node("Mul", "two", in("k", "k"), in("k2"))
                .node("Add", "add", in("b", "k2"), in("y"))
                .write(dir, "ident.onnx");
        try (Model m = Model.load(p); Tensor x = cpu.upload(new float[] {1, 1, 1, 1}, 1, 4); Tensor y = m.forward(cpu, x)) {
            assertEquals(List.of("Add"), ops(m));
            assertEquals("x", m.graph().nodes().get(0).input(0));
            assertArrayEquals(new float[] {2, 5, 10, 17}, y.toArray());
            // the removed pass-through names still fetch the value they carried
            Map<String, Tensor> r = m.run(cpu, Map.of("x", x), Set.of("b", "a", "y"));
            try (Tensor a = r.get("a"); Tensor b = r.get("b"); Tensor y2 = r.get("y")) {
                assertNotSame(a, b);
                assertArrayEquals(new float[] {1, 1, 1, 1}, a.toArray());
                assertArrayEquals(new float[] {1, 1, 1, 1}, b.toArray());
                assertArrayEquals(new float[] {2, 5, 10, 17}, y2.toArray());
            }
        }
    }
}
