package dev.salient.parity;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.Tensor;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The engine equals PyTorch on real CNN topologies: narrow ResNet (BasicBlock and
 * Bottleneck), VGG, MobileNetV2, DenseNet and SqueezeNet, each exported with
 * BatchNorm folded by the exporter and with BatchNormalization left as nodes
 * (fixtures by scripts/make_arch_fixtures.py). Logits must match within
 * {@code 1e-4 * max|logit|} at batch 2, and at batch 1 on each sample alone
 * (the batch axis is dynamic).
 */
class ArchitectureParityTest {
    static final String[] ARCHS = {"resnet_basic", "resnet_bottleneck", "vgg", "mobilenetv2", "densenet", "squeezenet"};

    static Path root() {
        try {
            return Path.of(ArchitectureParityTest.class.getResource("/fixtures/arch").toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("fixtures/arch not on the test classpath", e);
        }
    }

    static Stream<String> fixtures() {
        return Stream.of(ARCHS).flatMap(a -> Stream.of(a + "_folded", a + "_bn"));
    }

    @Test
    void everyFixtureIsPresentAndTested() throws IOException {
        try (Stream<Path> s = Files.list(root())) {
            List<String> onDisk = s.map(p -> p.getFileName().toString()).sorted().toList();
            assertEquals(fixtures().sorted().toList(), onDisk);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void logitsMatchPyTorch(String name) {
        Path dir = root().resolve(name);
        NdArray x = Npy.read(dir.resolve("input.npy"));
        NdArray ref = Npy.read(dir.resolve("logits.npy"));
        assertEquals(2, x.dim(0));
        double scale = 0;
        for (float v : ref.data()) scale = Math.max(scale, Math.abs(v));
        assertTrue(scale > 0, "reference logits are all zero");
        double atol = 1e-4 * scale;
        Backend cpu = Engine.cpu();
        try (Model m = Model.load(dir.resolve("model.onnx"))) {
            assertEquals(1, m.inputs().size());
            long[] declared = m.inputs().get(0).shape();
            assertEquals(-1, declared[0], "batch axis must be dynamic");
            assertArrayEquals(new long[] {x.dim(1), x.dim(2), x.dim(3)}, java.util.Arrays.copyOfRange(declared, 1, 4));

            try (Tensor in = x.upload(cpu); Tensor y = m.forward(cpu, in)) {
                assertArrayEquals(ref.shape(), y.shape());
                Parity.assertClose(name + " batch 2", y.toArray(), ref.data(), atol, 0);
            }
            for (int n = 0; n < 2; n++) {
                NdArray xi = x.sliceFirst(n, n + 1);
                try (Tensor in = xi.upload(cpu); Tensor y = m.forward(cpu, in)) {
                    assertArrayEquals(new long[] {1, ref.dim(1)}, y.shape());
                    Parity.assertClose(name + " batch 1, sample " + n, y.toArray(), ref.sliceFirst(n, n + 1).data(), atol, 0);
                }
            }
        }
    }
}
