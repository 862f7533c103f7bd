package dev.salient.engine.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.Methods;
import dev.salient.explain.Target;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * CUDA parity of the coalition methods (shapley exact and sampled, kernelshap, lime, over grid
 * and SLIC segments): the same masked blends, random coalitions and regressions on cuda as on
 * cpu, within 1e-4·max|cpu| + 1e-4 relative, on both method fixture models; small shapes, as
 * CI runs it in the emulation. Skips without a CUDA device.
 */
class CudaCoalitionsTest {
    @BeforeEach
    void needsGpu() {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
    }

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (String model : new String[] {"resnet", "vgg"}) {
            b.add(Arguments.of(model, "shapley", Map.of("--segments", "grid:2", "--baseline", "constant:0.5")));
            b.add(Arguments.of(model, "lime", Map.of("--segments", "slic:6", "--samples", "12", "--seed", "1")));
        }
        b.add(Arguments.of("resnet", "shapley", Map.of("--segments", "grid:2", "--max-evals", "8", "--samples", "2", "--seed", "4")));
        b.add(Arguments.of("resnet", "kernelshap", Map.of("--segments", "grid:3", "--samples", "12", "--seed", "2")));
        return b.build();
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void matchesCpu(String model, String method, Map<String, String> opts) {
        Path dir = Path.of("src/test/resources/fixtures/methods", model);
        NdArray x = Npy.read(dir.resolve("input.npy"));
        MethodSpec spec = Methods.get(method);
        try (Model m = Model.load(dir.resolve("model.onnx"))) {
            Attribution ref = run(Engine.cpu(), spec, m, opts, x);
            Attribution got = run(CudaBackend.shared(), spec, m, opts, x);
            assertArrayEquals(ref.shape(), got.shape());
            assertArrayEquals(ref.targets(), got.targets());
            double max = 0;
            for (float v : ref.values()) max = Math.max(max, Math.abs(v));
            Parity.assertClose(model + " " + method + " " + opts, got.values(), ref.values(), 1e-4 * max, 1e-4);
        }
    }

    private static Attribution run(Backend b, MethodSpec spec, Model m, Map<String, String> opts, NdArray x) {
        try (Tensor t = x.upload(b)) {
            return spec.create(m, MethodOptions.parse(spec, opts)).explain(b, t, Target.top1());
        }
    }
}
