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
 * The engine equals PyTorch on 3-D CNNs: a narrow R3D (torchvision's video ResNet blocks) and a
 * VGG-style 3-D net with max pools (one in ceil mode), a padded average pool and a dilated
 * grouped conv, each exported with BatchNorm folded by the exporter and with BatchNormalization
 * nodes that the loader folds (fixtures by scripts/make_volume_fixtures.py). Logits must match
 * within {@code 1e-4 * max|logit|} with the same top-1, at batch 2 and on each sample alone.
 */
class VolumeParityTest {
    static final String[] ARCHS = {"r3d", "vgg3d"};

    static Path root() {
        try {
            return Path.of(VolumeParityTest.class.getResource("/fixtures/volume").toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("fixtures/volume not on the test classpath", e);
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

    static int[] top1(float[] logits, int n, int k) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++)
            for (int j = 1; j < k; j++)
                if (logits[i * k + j] > logits[i * k + t[i]]) t[i] = j;
        return t;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void logitsMatchPyTorch(String name) {
        Path dir = root().resolve(name);
        NdArray x = Npy.read(dir.resolve("input.npy"));
        NdArray ref = Npy.read(dir.resolve("logits.npy"));
        assertEquals(5, x.shape().length);
        assertEquals(2, x.dim(0));
        double scale = 0;
        for (float v : ref.data()) scale = Math.max(scale, Math.abs(v));
        assertTrue(scale > 0, "reference logits are all zero");
        double atol = 1e-4 * scale;
        int k = (int) ref.dim(1);
        Backend cpu = Engine.cpu();
        try (Model m = Model.load(dir.resolve("model.onnx"))) {
            long[] declared = m.inputs().get(0).shape();
            assertEquals(-1, declared[0], "batch axis must be dynamic");
            assertArrayEquals(java.util.Arrays.copyOfRange(x.shape(), 1, 5), java.util.Arrays.copyOfRange(declared, 1, 5));
            try (Tensor in = x.upload(cpu); Tensor y = m.forward(cpu, in)) {
                assertArrayEquals(ref.shape(), y.shape());
                float[] got = y.toArray();
                Parity.assertClose(name + " batch 2", got, ref.data(), atol, 0);
                double err = 0;
                for (int i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - ref.data()[i]));
                System.out.printf("volume parity %s: max|got-ref| = %.3g max|logit|%n", name, err / scale);
                assertArrayEquals(top1(ref.data(), 2, k), top1(got, 2, k), name + " top-1");
            }
            for (int n = 0; n < 2; n++) {
                NdArray xi = x.sliceFirst(n, n + 1);
                try (Tensor in = xi.upload(cpu); Tensor y = m.forward(cpu, in)) {
                    Parity.assertClose(name + " batch 1, sample " + n, y.toArray(), ref.sliceFirst(n, n + 1).data(), atol, 0);
                }
            }
        }
    }
}
