package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.explain.core.BackwardRules;
import dev.salient.explain.core.Tape;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CPU kernels' results do not depend on the instruction set (native/cpu/isa.h): on a
 * processor with AVX-512 the engine runs its AVX-512 kernels, and forcing AVX2
 * ({@code salient_set_isa}) gives the same bits. Each committed architecture fixture (2-D and
 * 3-D: im2col, pointwise, Winograd, depthwise, strided, implicit-GEMM and pooling paths) runs a
 * plain forward, a taped forward and the input gradient of its top-1 class at both levels, on 1
 * and 2 threads; the canonical SGEMM's own paths are checked against Java's FMA chain at every
 * level in {@link CanonicalGemmTest}. Skipped where the processor has no AVX-512.
 */
class IsaInvarianceTest {
    static final Backend CPU = Engine.cpu();

    static Stream<String> fixtures() throws Exception {
        Stream.Builder<String> b = Stream.builder();
        for (String root : new String[] {"src/test/resources/fixtures/arch", "src/test/resources/fixtures/volume"})
            try (Stream<Path> s = Files.list(Path.of(root))) {
                s.filter(p -> p.getFileName().toString().endsWith("_folded") && Files.exists(p.resolve("model.onnx")))
                        .map(Path::toString).sorted().forEach(b::add);
            }
        return b.build();
    }

    /** Runs body at every instruction-set level this processor has, on 1 and 2 threads; returns them by level. */
    static void atEveryLevel(java.util.function.IntFunction<float[][]> body, String what) {
        int max = CpuNative.salient_max_isa();
        Assumptions.assumeTrue(max >= CpuNative.ISA_AVX512, "this processor has no AVX-512: AVX2 is the only level");
        int isa = CpuNative.salient_get_isa(), threads = CpuNative.salient_get_num_threads();
        try {
            for (int t : new int[] {1, 2}) {
                assertEquals(0, CpuNative.salient_set_num_threads(t));
                assertEquals(0, CpuNative.salient_set_isa(CpuNative.ISA_AVX2));
                float[][] want = body.apply(t);
                assertEquals(0, CpuNative.salient_set_isa(CpuNative.ISA_AVX512));
                float[][] got = body.apply(t);
                for (int i = 0; i < want.length; i++)
                    BatchInvarianceTest.assertSameBits(what + ", output " + i + ", AVX-512 against AVX2, " + t + " thread(s)",
                            want[i], got[i], 0);
            }
        } finally {
            CpuNative.salient_set_isa(isa);
            CpuNative.salient_set_num_threads(threads);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void theFixturesGetTheSameBitsOnEveryInstructionSet(String dir) {
        Path d = Path.of(dir);
        NdArray x = Npy.read(d.resolve("input.npy"));
        try (Model m = Model.load(d.resolve("model.onnx"))) {
            atEveryLevel(t -> {
                try (Tensor xt = x.upload(CPU); Tensor plain = m.forward(CPU, xt);
                        Tape tape = Tape.record(m, CPU, xt, Set.of(m.inputs().get(0).name()))) {
                    float[] logits = tape.logits().toArray();
                    int n = (int) tape.logits().shape()[0], classes = logits.length / n;
                    int[] cls = new int[n];
                    for (int i = 0; i < n; i++)
                        for (int j = 1; j < classes; j++) if (logits[i * classes + j] > logits[i * classes + cls[i]]) cls[i] = j;
                    Map<String, Tensor> g = tape.backward(cls, BackwardRules.standard());
                    try (Tensor gx = g.get(m.inputs().get(0).name())) {
                        return new float[][] {plain.toArray(), logits, gx.toArray()};
                    }
                }
            }, d.getFileName().toString());
        }
    }

    @Test
    void theBatchInvarianceModelGetsTheSameBitsOnEveryInstructionSet(@TempDir Path dir) throws Exception {
        try (Model m = Model.load(BatchInvarianceTest.model(dir))) {
            atEveryLevel(t -> BatchInvarianceTest.assertBatchInvariant(CPU, m, t + " thread(s)"), "invariance model");
        }
    }

    @Test
    void aLevelAboveTheProcessorsIsRefusedWithOneLine() {
        int isa = CpuNative.salient_get_isa();
        assertEquals(-1, CpuNative.salient_set_isa(CpuNative.salient_max_isa() + 1));
        assertTrue(CpuNative.salient_last_error().getString().contains("instruction set level"));
        assertEquals(-1, CpuNative.salient_set_isa(0));
        assertEquals(isa, CpuNative.salient_get_isa(), "a refused level leaves the level as it was");
    }
}
