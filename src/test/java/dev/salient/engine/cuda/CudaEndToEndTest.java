package dev.salient.engine.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.Methods;
import dev.salient.explain.TestOptions;
import dev.salient.explain.Target;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * End to end on the committed PyTorch fixture models: the CUDA logits and every method's
 * attributions match the CPU engine's (FP32: |cuda - cpu| <= 1e-4 max|cpu| + 1e-4 |cpu|).
 * A perturbation method's attribution is a difference of logits, each of which the engines
 * agree on to 1e-4 max|logit| (logitsMatchCpu), so its absolute term is 1e-4 times the larger
 * of max|attribution| and max|logit|: on SqueezeNet, whose logits move by 1e-5 of their size
 * when a patch is occluded, the attributions are a few float32 steps of the logits.
 * Skips without a CUDA device; runs in CI under the CPU emulation of the kernels.
 */
class CudaEndToEndTest {
    static final Path ROOT = Path.of("src/test/resources/fixtures/arch");

    @BeforeEach
    void needsGpu() {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
    }

    static List<String> models() throws IOException {
        if (!Files.isDirectory(ROOT)) return List.of();
        try (Stream<Path> s = Files.list(ROOT)) {
            return s.filter(p -> Files.exists(p.resolve("model.onnx"))).map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    static Stream<Arguments> modelsAndMethods() throws IOException {
        List<Arguments> out = new ArrayList<>();
        for (String m : models())
            if (m.endsWith("_folded"))
                for (String method : Methods.names()) out.add(Arguments.of(m, method));
        return out.stream();
    }

    static Stream<String> allModels() throws IOException {
        return models().stream();
    }

    static void assertClose(String what, float[] ref, float[] got) {
        assertClose(what, ref, got, 0);
    }

    /** As above, with the absolute term at least 1e-4 {@code scale}. */
    static void assertClose(String what, float[] ref, float[] got, double scale) {
        assertEquals(ref.length, got.length, what + ": length");
        double max = 0;
        for (float v : ref) max = Math.max(max, Math.abs(v));
        double atol = 1e-4 * Math.max(max, scale), rtol = 1e-4;
        StringBuilder sb = new StringBuilder();
        int bad = 0;
        for (int i = 0; i < ref.length; i++) {
            boolean ok = Math.abs(got[i] - ref[i]) <= atol + rtol * Math.abs(ref[i]) || (Float.isNaN(ref[i]) && Float.isNaN(got[i]));
            if (!ok && bad++ < 5) sb.append(String.format("%n  [%d] cpu=%.8g cuda=%.8g", i, ref[i], got[i]));
        }
        if (bad > 0) fail(what + ": " + bad + " of " + ref.length + " mismatches (max|cpu| " + max + ")" + sb);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("allModels")
    void logitsMatchCpu(String name) {
        Backend cpu = Engine.cpu();
        CudaBackend gpu = CudaBackend.shared();
        Path d = ROOT.resolve(name);
        NdArray x = Npy.read(d.resolve("input.npy"));
        try (Model m = Model.load(d.resolve("model.onnx")); Tensor xc = x.upload(cpu); Tensor xg = x.upload(gpu);
                Tensor yc = m.forward(cpu, xc); Tensor yg = m.forward(gpu, xg)) {
            assertArrayEquals(yc.shape(), yg.shape());
            assertClose(name + " logits", yc.toArray(), yg.toArray());
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("modelsAndMethods")
    void attributionsMatchCpu(String name, String method) {
        Backend cpu = Engine.cpu();
        CudaBackend gpu = CudaBackend.shared();
        Path d = ROOT.resolve(name);
        NdArray x = Npy.read(d.resolve("input.npy"));
        MethodSpec spec = Methods.get(method);
        // under the CPU emulation fewer IG steps, noise samples and RISE masks: the same kernels, less time
        boolean emulated = CudaBackend.isEmulated();
        // the sampled Score-CAMs (K x samples masked images) share their code and ops with scorecam: under the
        // emulation they run on the two cheapest architectures, one sample each
        boolean sampledCam = method.equals("sscam") || method.equals("iscam");
        assumeTrue(!emulated || !sampledCam || name.startsWith("squeezenet") || name.startsWith("mobilenetv2"),
                method + " runs on squeezenet and mobilenetv2 under the emulation (on every architecture on a GPU)");
        MethodOptions o = TestOptions.forSpec(spec, java.util.Map.of("--steps", emulated ? "6" : "16", "--samples",
                emulated ? (sampledCam ? "1" : "2") : "4", "--masks", emulated ? "16" : "256", "--seed", "1234",
                "--baselines", "uniform:2"));
        // squeezenet's auto layer ends in a ReLU whose conductance cancels to ~1e-7, below the float32
        // resolution of its terms (~1e-9 apart on the two engines): no parity to check there
        assumeTrue(!(method.equals("layerconductance") && name.startsWith("squeezenet")),
                name + " layerconductance: the conductance cancels to float32 noise");
        try (Model m = Model.load(d.resolve("model.onnx")); Tensor xc = x.upload(cpu); Tensor xg = x.upload(gpu)) {
            Explainer e = spec.create(m, o);
            Attribution ref;
            try {
                ref = e.explain(cpu, xc, Target.top1());
            } catch (dev.salient.engine.SalientException err) {
                // cam reads the classifier after GlobalAveragePool: models without that head refuse it on every device
                assumeTrue(!method.equals("cam"), name + ": " + err.getMessage());
                throw err;
            }
            Attribution got = e.explain(gpu, xg, Target.top1());
            assertArrayEquals(ref.shape(), got.shape(), method + " shape");
            assertArrayEquals(ref.targets(), got.targets(), method + " targets");
            double logits = 0;
            if (spec.family() == MethodSpec.Family.PERTURBATION)
                try (Tensor y = m.forward(cpu, xc)) {
                    for (float v : y.toArray()) logits = Math.max(logits, Math.abs(v));
                }
            assertClose(name + " " + method, ref.values(), got.values(), logits);
        }
    }
}
