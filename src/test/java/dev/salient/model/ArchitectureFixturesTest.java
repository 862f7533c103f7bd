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
}
