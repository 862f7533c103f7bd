package dev.salient.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.core.Tape;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A plain forward runs each 1x1 expansion (and its Relu or Clip) with the depthwise conv that alone
 * reads it as one step where the CPU fuses the pair ({@link Backend#fusesPointwiseDepthwise}): two
 * inverted residuals on 56x56 planes expanding to 120 channels (7.2 MiB at batch 5), one with its residual Add (its input lives on) and one whose input
 * dies at its expansion (the plan keeps it alive until the pair's depthwise conv has run). The logits are
 * bit for bit those of the tape, of the steps run one by one (the pair turned off), of a plan that
 * fetches the expansions' outputs (nothing fused there) and, for the first image, of that image alone
 * (too small a batch to fuse).
 */
class InvertedResidualPlanTest {
    static final Backend CPU = Engine.cpu();

    static Path model(Path dir) throws java.io.IOException {
        Random r = new Random(21);
        OnnxBuilder b = new OnnxBuilder().input("x", -1, 8, 56, 56).output("y")
                .initFloat("lo", 0f).initFloat("hi", 6f);
        String[][] blocks = {{"x", "8", "1", "relu"}, {"a", "16", "2", "clip"}};
        for (int i = 0; i < 2; i++) {
            String in = blocks[i][0], act = blocks[i][3];
            int out = Integer.parseInt(blocks[i][1]), stride = Integer.parseInt(blocks[i][2]);
            b.init("we" + i, OnnxBuilder.random(r, 120 * 8, 0.4f), 120, 8, 1, 1).init("be" + i, OnnxBuilder.random(r, 120, 0.2f), 120);
            b.init("wd" + i, OnnxBuilder.random(r, 120 * 9, 0.4f), 120, 1, 3, 3).init("bd" + i, OnnxBuilder.random(r, 120, 0.2f), 120);
            b.init("wp" + i, OnnxBuilder.random(r, out * 120, 0.1f), out, 120, 1, 1);
            b.node("Conv", "expand" + i, OnnxBuilder.in(in, "we" + i, "be" + i), OnnxBuilder.in("e" + i));
            if (act.equals("relu")) b.node("Relu", "r" + i, OnnxBuilder.in("e" + i), OnnxBuilder.in("ea" + i));
            else b.node("Clip", "c" + i, OnnxBuilder.in("e" + i, "lo", "hi"), OnnxBuilder.in("ea" + i));
            b.node("Conv", "dw" + i, OnnxBuilder.in("ea" + i, "wd" + i, "bd" + i), OnnxBuilder.in("d" + i),
                    OnnxBuilder.attrs("pads", 1, 1, 1, 1), OnnxBuilder.attrs("kernel_shape", 3, 3),
                    OnnxBuilder.attrs("strides", stride, stride), OnnxBuilder.attr("group", 120L));
            if (act.equals("relu")) b.node("Relu", "dr" + i, OnnxBuilder.in("d" + i), OnnxBuilder.in("da" + i));
            else b.node("Clip", "dc" + i, OnnxBuilder.in("d" + i, "lo", "hi"), OnnxBuilder.in("da" + i));
            b.node("Conv", "project" + i, OnnxBuilder.in("da" + i, "wp" + i), OnnxBuilder.in(i == 0 ? "p0" : "p1"));
        }
        b.node("Add", "residual", OnnxBuilder.in("p0", "x"), OnnxBuilder.in("a"));
        b.node("GlobalAveragePool", "gap", OnnxBuilder.in("p1"), OnnxBuilder.in("g"));
        b.node("Flatten", "flat", OnnxBuilder.in("g"), OnnxBuilder.in("y"));
        return b.write(dir, "inverted.onnx");
    }

    @Test
    void pairsRunAsOneStepWithTheStepsBits(@TempDir Path dir) throws Exception {
        float[] v = SubBatchTest.gaussian(5 * 8 * 56 * 56, 8);
        long[] shape = {5, 8, 56, 56};
        Conv2dGeometry pw = new Conv2dGeometry(5, 8, 56, 56, 120, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        Conv2dGeometry dw = new Conv2dGeometry(5, 120, 56, 56, 120, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 120);
        int expected = CPU.fusesPointwiseDepthwise(pw, dw) ? 2 : 0;
        if (dev.salient.engine.CpuNative.salient_get_isa() == dev.salient.engine.CpuNative.ISA_AVX512)
            assertEquals(2, expected, "AVX-512 runs these pairs in bands");
        try (Model m = Model.load(model(dir)); Tensor x = CPU.upload(v, shape); Tensor y = m.forward(CPU, x);
                Tape tape = Tape.record(m, CPU, x, Set.of())) {
            Plan plain = m.plan(Map.of("x", shape), Set.of("y"));
            assertEquals(expected, plain.fusedPrologues("Conv", CPU), "expansions run with their depthwise convs");
            assertArrayEquals(tape.logits().toArray(), y.toArray(), "plain forward against the tape");
            String was = System.getProperty("salient.cpu.pointwiseDepthwise");
            System.setProperty("salient.cpu.pointwiseDepthwise", "false");
            try (Tensor steps = m.forward(CPU, x)) {
                assertEquals(0, plain.fusedPrologues("Conv", CPU));
                assertArrayEquals(steps.toArray(), y.toArray(), "the steps one by one");
            } finally {
                if (was == null) System.clearProperty("salient.cpu.pointwiseDepthwise");
                else System.setProperty("salient.cpu.pointwiseDepthwise", was);
            }
            // the first image alone (an expanded tensor of 1.4 MiB: the two convs) gives the batch's first row
            float[] first = java.util.Arrays.copyOf(v, 8 * 56 * 56);
            try (Tensor x1 = CPU.upload(first, 1, 8, 56, 56); Tensor y1 = m.forward(CPU, x1)) {
                assertEquals(0, m.plan(Map.of("x", new long[] {1, 8, 56, 56}), Set.of("y")).fusedPrologues("Conv", CPU));
                assertArrayEquals(java.util.Arrays.copyOf(y.toArray(), (int) y1.numel()), y1.toArray(), "image 0 alone");
            }
            Set<String> fetch = new HashSet<>(Set.of("y", "e0", "ea1"));
            assertEquals(0, m.plan(Map.of("x", shape), fetch).fusedPrologues("Conv", CPU), "fetched expansions still fused");
            Map<String, Tensor> got = m.run(CPU, Map.of("x", x), fetch);
            try {
                assertArrayEquals(y.toArray(), got.get("y").toArray(), "fetching the expansions changed the logits");
            } finally {
                for (Tensor t : got.values()) t.close();
            }
        }
    }
    /** MobileNetV2's first block: a depthwise conv and its Clip, then the 1x1 projection that alone reads it. */
    @Test
    void depthwiseThenProjectionRunsAsOneStep(@TempDir Path dir) throws Exception {
        Random r = new Random(23);
        Path f = new OnnxBuilder().input("x", -1, 128, 56, 56).output("y").initFloat("lo", 0f).initFloat("hi", 6f)
                .init("wd", OnnxBuilder.random(r, 128 * 9, 0.4f), 128, 1, 3, 3).init("bd", OnnxBuilder.random(r, 128, 0.2f), 128)
                .init("wp", OnnxBuilder.random(r, 16 * 128, 0.1f), 16, 128, 1, 1).init("bp", OnnxBuilder.random(r, 16, 0.1f), 16)
                .node("Conv", "dw", OnnxBuilder.in("x", "wd", "bd"), OnnxBuilder.in("d"), OnnxBuilder.attrs("pads", 1, 1, 1, 1),
                        OnnxBuilder.attrs("kernel_shape", 3, 3), OnnxBuilder.attr("group", 128L))
                .node("Clip", "c", OnnxBuilder.in("d", "lo", "hi"), OnnxBuilder.in("da"))
                .node("Conv", "project", OnnxBuilder.in("da", "wp", "bp"), OnnxBuilder.in("p"))
                .node("GlobalAveragePool", "gap", OnnxBuilder.in("p"), OnnxBuilder.in("g"))
                .node("Flatten", "flat", OnnxBuilder.in("g"), OnnxBuilder.in("y"))
                .write(dir, "first.onnx");
        long[] shape = {4, 128, 56, 56};
        float[] v = SubBatchTest.gaussian(4 * 128 * 56 * 56, 9);
        Conv2dGeometry dw = new Conv2dGeometry(4, 128, 56, 56, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 128);
        Conv2dGeometry pw = new Conv2dGeometry(4, 128, 56, 56, 16, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        int expected = CPU.fusesDepthwisePointwise(dw, pw) ? 1 : 0;
        if (dev.salient.engine.CpuNative.salient_get_isa() == dev.salient.engine.CpuNative.ISA_AVX512)
            assertEquals(1, expected, "AVX-512 runs this pair in bands");
        try (Model m = Model.load(f); Tensor x = CPU.upload(v, shape); Tensor y = m.forward(CPU, x);
                Tape tape = Tape.record(m, CPU, x, Set.of())) {
            assertEquals(expected, m.plan(Map.of("x", shape), Set.of("y")).fusedPrologues("Conv", CPU));
            assertArrayEquals(tape.logits().toArray(), y.toArray(), "plain forward against the tape");
            Map<String, Tensor> got = m.run(CPU, Map.of("x", x), Set.of("y", "da"));
            try {
                assertArrayEquals(y.toArray(), got.get("y").toArray(), "fetching the depthwise output changed the logits");
            } finally {
                for (Tensor t : got.values()) t.close();
            }
        }
    }
}
