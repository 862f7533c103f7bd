package dev.salient.model;

import dev.salient.engine.Parity;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The committed PyTorch fixtures (narrow ResNet, VGG, MobileNetV2, DenseNet,
 * SqueezeNet; BatchNorm as a node and pre-folded) load through the rewriting
 * loader and match PyTorch's logits within 1e-4 * max|logit|.
 */
class ArchitectureFixturesTest {
    static final Path ROOT = Path.of("src/test/resources/fixtures/arch");

    static Stream<String> fixtures() throws IOException {
        if (!Files.isDirectory(ROOT)) return Stream.of("<none>");
        try (Stream<Path> s = Files.list(ROOT)) {
            return s.filter(p -> Files.exists(p.resolve("model.onnx"))).map(p -> p.getFileName().toString()).sorted().toList().stream();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void matchesPytorch(String name) {
        Assumptions.assumeTrue(!name.equals("<none>"), "no fixtures under " + ROOT);
        Path d = ROOT.resolve(name);
        Backend cpu = Engine.cpu();
        NdArray x = Npy.read(d.resolve("input.npy")), want = Npy.read(d.resolve("logits.npy"));
        try (Model m = Model.load(d.resolve("model.onnx")); Tensor xt = x.upload(cpu); Tensor y = m.forward(cpu, xt)) {
            for (Node n : m.graph().nodes()) assertNotEquals("BatchNormalization", n.opType(), "BN rewritten at load");
            assertArrayEquals(want.shape(), y.shape());
            double max = 0;
            for (float v : want.data()) max = Math.max(max, Math.abs(v));
            Parity.assertClose(name, y.toArray(), want.data(), 1e-4 * max, 0);
        }
    }

    /**
     * DenseNet's BatchNorms after a Concat cannot be folded into a Conv. Before a 1x1 conv (each
     * dense layer's first) the channel affine and its Relu are applied by the conv as it packs its
     * input, never written; the others (the last, before the pooling) run as a channel affine with
     * its Relu in one pass, written over the Concat's output when that dies
     * there (the fused step is elementwise). The plain forward still gives the tape's logits bit
     * for bit, and so does a plan that fetches the affines' outputs (nothing fused into the convs);
     * the first image alone, whose concats are laid out in place, gives the batch's first row.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void unfoldableBatchNormsRunWithTheirRelu(String name) {
        Assumptions.assumeTrue(name.startsWith("densenet"), "DenseNet fixtures only");
        Path d = ROOT.resolve(name);
        Backend cpu = Engine.cpu();
        NdArray x = Npy.read(d.resolve("input.npy"));
        try (Model m = Model.load(d.resolve("model.onnx")); Tensor xt = x.upload(cpu); Tensor y = m.forward(cpu, xt);
                dev.salient.explain.core.Tape tape = dev.salient.explain.core.Tape.record(m, cpu, xt, Set.of())) {
            String in = m.inputs().get(0).name(), out = m.outputs().get(0).name();
            Plan plain = m.plan(Map.of(in, xt.shape()), Set.of(out));
            int pairs = 0;
            for (int i = 0; i + 1 < plain.steps().size(); i++)
                if (plain.steps().get(i).op().opType().equals("ChannelAffine")
                        && plain.steps().get(i + 1).node().opType().equals("Relu"))
                    pairs++;
            assertTrue(pairs > 0, name + ": no channel affine before a Relu");
            int intoConvs = 0;
            for (int i = 0; i + 2 < plain.steps().size(); i++)
                if (plain.steps().get(i).op().opType().equals("ChannelAffine")
                        && plain.steps().get(i + 1).node().opType().equals("Relu")
                        && plain.steps().get(i + 2).node().opType().equals("Conv")
                        && plain.steps().get(i + 2).inputShapes()[1][2] == 1)
                    intoConvs++;
            assertTrue(intoConvs > 0, name + ": no channel affine and Relu before a 1x1 conv");
            assertEquals(intoConvs, plain.fusedPrologues("ChannelAffine", cpu), name + ": not applied by their 1x1 convs");
            assertEquals(pairs - intoConvs, plain.fusedAfter("ChannelAffine", cpu),
                    name + ": the other channel affines not fused with their Relu");
            assertArrayEquals(tape.logits().toArray(), y.toArray(), name + ": plain forward against the tape");
            // the first image alone: its dense blocks' concats are views of one buffer per block, and its
            // logits are the batch's first row, bit for bit
            long[] one = xt.shape().clone();
            one[0] = 1;
            float[] first = java.util.Arrays.copyOf(x.data(), (int) dev.salient.engine.Shapes.numel(one));
            try (Tensor x1 = cpu.upload(first, one); Tensor y1 = m.forward(cpu, x1)) {
                assertTrue(m.plan(Map.of(in, one), Set.of(out)).joinedConcats() > 0, name + ": no concat laid out in place");
                float[] all = y.toArray();
                assertArrayEquals(java.util.Arrays.copyOf(all, (int) y1.numel()), y1.toArray(), name + ": image 0 alone");
            }
            Set<String> fetch = new HashSet<>(Set.of(out));
            for (Plan.Step s : plain.steps()) if (s.op().opType().equals("ChannelAffine")) fetch.add(s.outputs()[0]);
            Plan kept = m.plan(Map.of(in, xt.shape()), fetch);
            assertEquals(0, kept.fusedPrologues("ChannelAffine", cpu), name + ": fetched channel affines still fused");
            Map<String, Tensor> got = m.run(cpu, Map.of(in, xt), fetch);
            try {
                assertArrayEquals(y.toArray(), got.get(out).toArray(), name + ": fetching the affines changed the logits");
            } finally {
                for (Tensor t : got.values()) t.close();
            }
        }
    }

    /**
     * A plain forward runs Relu/Clip in the epilogue of the Conv before them; fetching the Convs'
     * outputs (as a method asking for a pre-activation layer does) turns that off for them. The
     * logits agree bit for bit, and the fetched Conv outputs are the pre-activations.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void fusedEpiloguesMatchUnfusedSteps(String name) {
        Assumptions.assumeTrue(!name.equals("<none>"), "no fixtures under " + ROOT);
        Path d = ROOT.resolve(name);
        Backend cpu = Engine.cpu();
        NdArray x = Npy.read(d.resolve("input.npy"));
        try (Model m = Model.load(d.resolve("model.onnx")); Tensor xt = x.upload(cpu); Tensor y = m.forward(cpu, xt)) {
            String in = m.inputs().get(0).name(), out = m.outputs().get(0).name();
            Plan plain = m.plan(Map.of(in, xt.shape()), Set.of(out));
            assertTrue(plain.fusedSteps(cpu) > 0, name + ": no Conv ran an activation in its epilogue");
            Set<String> fetch = new HashSet<>(Set.of(out));
            Set<String> fusedConvs = new HashSet<>();
            for (int i = 0; i + 1 < plain.steps().size(); i++) {
                Plan.Step s = plain.steps().get(i), next = plain.steps().get(i + 1);
                if (s.node().opType().matches("Conv|BatchNormalization|ChannelAffine")) fetch.add(s.outputs()[0]);
                if (s.node().opType().equals("Conv") && next.node().opType().matches("Relu|Clip")
                        && next.inputs()[0].equals(s.outputs()[0]))
                    fusedConvs.add(s.outputs()[0]);
            }
            assertFalse(fusedConvs.isEmpty(), name);
            // residual blocks (a Conv, then an Add of its output, then maybe Relu) run as one step
            long sums = 0;
            for (int i = 0; i + 1 < plain.steps().size(); i++) {
                Plan.Step s = plain.steps().get(i), next = plain.steps().get(i + 1);
                if (s.node().opType().equals("Conv") && next.node().opType().equals("Add")
                        && Arrays.asList(next.inputs()).contains(s.outputs()[0]))
                    sums++;
            }
            if (name.startsWith("resnet") || name.startsWith("mobilenet")) assertTrue(sums > 0, name + ": no Conv then Add");
            int fusedWithSums = plain.fusedSteps(cpu);
            assertTrue(fusedWithSums >= fusedConvs.size() + sums, name + ": " + fusedWithSums + " fused steps, "
                    + fusedConvs.size() + " activations and " + sums + " residual sums expected at least");
            assertEquals(0, m.plan(Map.of(in, xt.shape()), fetch).fusedSteps(cpu), name + ": fetched Convs (or BatchNorms) still fused");
            Map<String, Tensor> r = m.run(cpu, Map.of(in, xt), fetch);
            try {
                assertArrayEquals(r.get(out).toArray(), y.toArray(), name + ": fused and unfused logits differ");
                for (String c : fusedConvs) {
                    float min = Float.POSITIVE_INFINITY;
                    for (float v : r.get(c).toArray()) min = Math.min(min, v);
                    assertTrue(min < 0, name + ": fetched Conv output " + c + " has no negative value (activation applied?)");
                }
            } finally {
                for (Tensor t : r.values()) t.close();
            }
        }
    }
}
