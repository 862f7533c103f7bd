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

    static int[] v(int d, int h, int w) {
        return new int[] {d, h, w};
    }

    // n = 2; c, k, groups, in, kernel, stride, padBegin, padEnd, dilation. The 3-D conv paths with
    // AVX-512 kernels of their own, at shapes that reach the kernels' tails: blocks of output
    // channels left part-empty, rows that end inside the last group of lanes, rows of one zmm.
    static Stream<Conv3dGeometry> convs() {
        return Stream.of(
                // implicit GEMM: rows of 40 (two zmm, then 8 of 32 lanes), 20 filters (blocks of 8: 4 empty)
                new Conv3dGeometry(2, 3, 20, 1, v(5, 9, 40), v(3, 5, 5), v(1, 1, 1), v(1, 2, 2), v(1, 2, 2), v(1, 1, 1)),
                // implicit GEMM, stride 2 (the phase-split copy): rows of 14 (one zmm), an R3D downsampling conv
                new Conv3dGeometry(2, 8, 16, 1, v(6, 12, 28), v(3, 3, 3), v(2, 2, 2), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)),
                // implicit GEMM: stride 3, dilation, grouped, rows of 17 (two zmm, the second of one lane)
                new Conv3dGeometry(2, 4, 6, 2, v(4, 9, 50), v(2, 3, 3), v(1, 3, 3), v(0, 1, 1), v(1, 1, 1), v(1, 2, 1)),
                // an R3D stem in small
                new Conv3dGeometry(2, 1, 16, 1, v(5, 30, 62), v(3, 7, 7), v(1, 2, 2), v(1, 3, 3), v(1, 3, 3), v(1, 1, 1)),
                // Winograd F(2x2, 3x3) both ways, 12 channels each way (part-empty blocks of output channels)
                new Conv3dGeometry(2, 12, 12, 1, v(5, 14, 22), v(3, 3, 3), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)),
                // Winograd F(4x4, 3x3) both ways (40 of its tiles a plane), 20 filters, uneven pads
                new Conv3dGeometry(2, 12, 20, 1, v(4, 18, 30), v(3, 3, 3), v(1, 1, 1), v(1, 0, 2), v(1, 2, 1), v(1, 1, 1)),
                // Winograd both ways, 24 -> 40, depth kernel 2 with a depth pad on one side only
                new Conv3dGeometry(2, 24, 40, 1, v(4, 9, 11), v(2, 3, 3), v(1, 1, 1), v(1, 1, 0), v(0, 1, 2), v(1, 1, 1)),
                // AVX-512's direct kernel against AVX2's implicit GEMM: 32 filters x 14 outputs, stride 2,
                // rows of 15 (a last block of one output)
                new Conv3dGeometry(2, 5, 32, 1, v(4, 10, 30), v(3, 3, 3), v(1, 2, 2), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)),
                // the direct kernel's 64 x 7 tile, 60 filters, dilation 2, rows of 5 (vol2col + sgemm on AVX2)
                new Conv3dGeometry(2, 3, 60, 1, v(3, 6, 12), v(3, 3, 3), v(1, 1, 2), v(1, 1, 1), v(1, 1, 1), v(1, 2, 2)),
                // the direct kernel's 16 x 28 tile, grouped, stride 1 with a 3x5 plane kernel
                new Conv3dGeometry(2, 4, 32, 2, v(3, 8, 40), v(2, 3, 5), v(1, 1, 1), v(1, 1, 2), v(0, 1, 2), v(1, 1, 1)),
                // a strided pointwise conv: direct kernel in place against AVX2's vol2col + sgemm
                new Conv3dGeometry(2, 6, 32, 1, v(5, 9, 30), v(1, 1, 1), v(2, 2, 2), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1)));
    }

    @ParameterizedTest
    @MethodSource("convs")
    void everyConv3dPathGetsTheSameBitsOnEveryInstructionSet(Conv3dGeometry g) {
        float[] x = Parity.random(31, Volume3dTest.numel(g.inputShape())), w = Parity.random(32, Volume3dTest.numel(g.weightShape()));
        float[] bias = Parity.random(33, g.k()), dy = Parity.random(34, Volume3dTest.numel(g.outputShape()));
        atEveryLevel(t -> {
            try (Tensor tx = CPU.upload(x, g.inputShape()); Tensor tw = CPU.upload(w, g.weightShape());
                    Tensor tb = CPU.upload(bias, g.k()); Tensor ty = CPU.allocate(g.outputShape());
                    Tensor tdy = CPU.upload(dy, g.outputShape()); Tensor tdx = CPU.allocate(g.inputShape())) {
                CPU.conv3dForward(tx, tw, tb, ty, g);
                float[] y = ty.toArray();
                CPU.conv3dForwardActivation(tx, tw, tb, ty, g, Activation.RELU, 0f, 0f);
                float[] yr = ty.toArray();
                CPU.conv3dForwardSum(tx, tw, tb, tdy, ty, g, Activation.RELU, 0f, 0f);  // a residual block's Conv+Add+Relu
                float[] ys = ty.toArray();
                CPU.conv3dBackwardData(tdy, tw, tdx, g);
                return new float[][] {y, yr, ys, tdx.toArray()};
            }
        }, g.toString());
    }

    /**
     * Stride-1 3x3 depthwise convs with padding 1: AVX-512's flat kernel (16 outputs of the
     * flattened plane to a vector, masked loads at the border) against AVX2's phase planes, on planes
     * of one pixel, rows shorter than a vector, planes that end inside a vector (5x5, 13x17, 7x7),
     * exact vectors (4x4, 28x28) and MobileNetV2's 56x56, with a bias and with each fused epilogue,
     * and the data gradient (the same kernel on the flipped filters).
     */
    @Test
    void theFlatDepthwiseKernelGetsThePhasePlanesBits() {
        int[][] planes = {{1, 1}, {2, 3}, {4, 4}, {5, 5}, {7, 7}, {13, 17}, {14, 14}, {28, 28}, {56, 56}};
        for (int[] hw : planes) {
            Conv2dGeometry g = new Conv2dGeometry(2, 20, hw[0], hw[1], 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 20);
            float[] x = Parity.random(41, Conv2dTest.numel(g.inputShape())), w = Parity.random(42, Conv2dTest.numel(g.weightShape()));
            float[] bias = Parity.random(43, g.k()), z = Parity.random(44, Conv2dTest.numel(g.outputShape()));
            x[x.length / 3] = Float.NaN;
            atEveryLevel(t -> {
                try (Tensor tx = CPU.upload(x, g.inputShape()); Tensor tw = CPU.upload(w, g.weightShape());
                        Tensor tb = CPU.upload(bias, g.k()); Tensor tz = CPU.upload(z, g.outputShape());
                        Tensor ty = CPU.allocate(g.outputShape()); Tensor tdx = CPU.allocate(g.inputShape())) {
                    CPU.conv2dForward(tx, tw, null, ty, g);
                    float[] plain = ty.toArray();
                    CPU.conv2dForwardActivation(tx, tw, tb, ty, g, Activation.CLIP, 0f, 6f);  // MobileNetV2's ReLU6
                    float[] clip = ty.toArray();
                    CPU.conv2dForwardSum(tx, tw, tb, tz, ty, g, Activation.RELU, 0f, 0f);
                    float[] sum = ty.toArray();
                    CPU.conv2dBackwardData(tz, tw, tdx, g);
                    return new float[][] {plain, clip, sum, tdx.toArray()};
                }
            }, "depthwise " + g);
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
