package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * With AVX-512, the 2-D stems and strided convs of a few taps onto output planes of 12x12 and more
 * run on the direct kernel of the 3-D convs (native conv3d_implicit.cpp, direct2d_applies) when a
 * batch has an image per thread; an image alone, and AVX2, run im2col + the canonical SGEMM. The two are one chain per output (from
 * zero, one fused multiply-add per tap in order, then the bias, the residual and the activation).
 * Stride-2 3x3 depthwise convs run with 16 channels in the lanes (AVX-512) or on phase planes
 * (AVX2), both with taps_plane's three partial sums. So each image's outputs must be the
 * same bits whichever runs it: a batch of three on two
 * threads against each image alone, and AVX-512 against AVX2, for the plain, activated and
 * residual forwards. Geometries reach the kernel's tails (blocks of filters part-empty, rows that
 * end inside a tile) and its in-place and slab-copy inputs. (AVX-512 parts skip on processors
 * without it; the per-image check runs everywhere.) On AVX2 the stems (a few input channels,
 * stride 2) run on the 3-D convs' 16-output kernels over a phase-split copy (stem2d_applies), and
 * every stem's bits are checked against its column matrix on the canonical SGEMM, built here. With
 * AVX-512 the 3x3 stride-2 stems from at most 4 channels onto 16k (k <= 8) channels, on rows of 16
 * outputs or more, run on the stem kernel (conv2d_stem.cpp: a row's outputs on the lanes, the same
 * chain); its geometries here reach its row tails, pads of 0 to 2 on either side, its input columns
 * and rows past the plane, 1 to 4 input channels and 1 to 8 blocks of 16 filters, with and without
 * a residual, Relu and Clip.
 */
class Direct2dTest {
    static final Backend CPU = Engine.cpu();
    static final int FORWARDS = 4;

    static Stream<Conv2dGeometry> geometries() {
        return Stream.of(
                // a ResNet stem in small: 7x7 stride 2, pad 3, 3 -> 20 filters (a 64-filter tile part-empty)
                new Conv2dGeometry(3, 3, 38, 30, 20, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1),
                // a stem whose 60x58 output plane is large enough that an image alone on two threads
                // runs the direct kernel too, its output rows split between the threads
                new Conv2dGeometry(2, 3, 120, 116, 24, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1),
                // a 3x3 stride-2 downsampling conv, 24 -> 48, rows of 15 (a last tile of one output)
                new Conv2dGeometry(3, 24, 30, 30, 48, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1),
                // dilation 2, stride 1 (not Winograd), asymmetric pads, 16 filters (the 16 x 28 tile)
                new Conv2dGeometry(3, 8, 20, 33, 16, 3, 3, 1, 1, 2, 1, 0, 2, 2, 2, 1),
                // grouped: 2 groups of 8 -> 16, 5x3 kernel, stride 2 across, 1 down
                new Conv2dGeometry(3, 16, 17, 26, 32, 5, 3, 1, 2, 2, 1, 2, 1, 1, 1, 2),
                // no pads: the kernel reads x in place; 128 taps, 70 filters, a 13x14 output plane
                new Conv2dGeometry(3, 8, 28, 30, 70, 4, 4, 2, 2, 0, 0, 0, 0, 1, 1, 1),
                // a 10x10 output plane, under kDirect2dMinPlane: im2col + SGEMM on every instruction set
                new Conv2dGeometry(3, 32, 20, 20, 64, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1),
                // depthwise 3x3 stride 2: the channel-lane kernel (conv2d_depthwise.cpp)
                // with AVX-512, the phase planes else; 20 channels (a block of 16 lanes, then 4)
                new Conv2dGeometry(3, 20, 58, 60, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 20),
                // ... uneven pads, rows of 29
                new Conv2dGeometry(2, 16, 56, 57, 16, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, 16),
                // ... dilation 2
                new Conv2dGeometry(2, 33, 62, 64, 33, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 33),
                // ... on short rows, which the lanes take too: rows of 7 (MobileNetV2's 576 channels on
                // 14x14 in small), 40 channels (two blocks of 16, then 8)
                new Conv2dGeometry(3, 40, 14, 14, 40, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 40),
                // ... rows of 13 from 27 columns, uneven pads
                new Conv2dGeometry(2, 24, 28, 27, 24, 3, 3, 2, 2, 1, 0, 0, 1, 1, 1, 24),
                // ... an input of 9 x 5, 17 channels: rows of 3, shorter than one register transpose
                new Conv2dGeometry(2, 17, 9, 5, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 17),
                // the stem kernel: MobileNetV2's stem in small, rows of 18 (a segment of 16, then 2)
                new Conv2dGeometry(3, 3, 34, 36, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1),
                // ... 4 channels onto 48, pads 2 / 0 on top and bottom, 0 / 2 left and right, rows of 33
                new Conv2dGeometry(3, 4, 21, 66, 48, 3, 3, 2, 2, 2, 0, 0, 2, 1, 1, 1),
                // ... one channel onto 16, no pads, rows of exactly 16 from 33 columns
                new Conv2dGeometry(2, 1, 17, 33, 16, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 1));
    }

    /** Plain, ReLU, Conv+Add+ReLU and Clip forwards of geometry g on x, in one array. */
    static float[] forwards(Conv2dGeometry g, float[] x, float[] w, float[] bias, float[] z) {
        try (Tensor tx = CPU.upload(x, g.inputShape()); Tensor tw = CPU.upload(w, g.weightShape());
                Tensor tb = CPU.upload(bias, g.k()); Tensor tz = CPU.upload(z, g.outputShape());
                Tensor ty = CPU.allocate(g.outputShape())) {
            int len = (int) ty.numel();
            float[] out = new float[FORWARDS * len];
            CPU.conv2dForward(tx, tw, tb, ty, g);
            System.arraycopy(ty.toArray(), 0, out, 0, len);
            CPU.conv2dForwardActivation(tx, tw, tb, ty, g, Activation.RELU, 0f, 0f);
            System.arraycopy(ty.toArray(), 0, out, len, len);
            CPU.conv2dForwardSum(tx, tw, tb, tz, ty, g, Activation.RELU, 0f, 0f);
            System.arraycopy(ty.toArray(), 0, out, 2 * len, len);
            CPU.conv2dForwardActivation(tx, tw, tb, ty, g, Activation.CLIP, -0.5f, 0.5f);
            System.arraycopy(ty.toArray(), 0, out, 3 * len, len);
            return out;
        }
    }

    @ParameterizedTest
    @MethodSource("geometries")
    void eachImageGetsTheSameBitsInABatchAloneAndOnEitherInstructionSet(Conv2dGeometry g) {
        int n = g.n();
        float[] x = Parity.random(41, (int) numel(g.inputShape())), w = Parity.random(42, (int) numel(g.weightShape()));
        float[] bias = Parity.random(43, g.k()), z = Parity.random(44, (int) numel(g.outputShape()));
        int threads = CpuNative.salient_get_num_threads(), isa = CpuNative.salient_get_isa();
        try {
            assertEquals(0, CpuNative.salient_set_num_threads(2));
            float[] batch = forwards(g, x, w, bias, z);
            Conv2dGeometry one = g.withBatch(1);
            int in = (int) numel(one.inputShape()), out = (int) numel(one.outputShape());
            for (int i = 0; i < n; i++) {
                float[] alone = forwards(one, java.util.Arrays.copyOfRange(x, i * in, (i + 1) * in), w, bias,
                        java.util.Arrays.copyOfRange(z, i * out, (i + 1) * out));
                for (int f = 0; f < FORWARDS; f++)
                    BatchInvarianceTest.assertSameBits(g + ": forward " + f + ", image " + i + " in the batch against alone",
                            java.util.Arrays.copyOfRange(alone, f * out, (f + 1) * out), batch, f * n * out + i * out);
            }
            if (CpuNative.salient_max_isa() >= CpuNative.ISA_AVX512) {
                assertEquals(0, CpuNative.salient_set_isa(CpuNative.ISA_AVX2));
                float[] avx2 = forwards(g, x, w, bias, z);
                BatchInvarianceTest.assertSameBits(g + ": AVX-512 against AVX2", avx2, batch, 0);
            }
        } finally {
            CpuNative.salient_set_isa(isa);
            CpuNative.salient_set_num_threads(threads);
        }
    }

    static Stream<Conv2dGeometry> stems() {
        return Stream.of(
                // MobileNetV2's stem in small: 3x3 stride 2, pad 1, 3 -> 32 (27 taps), rows of 17
                new Conv2dGeometry(2, 3, 34, 34, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1),
                // ResNet's: 7x7 stride 2, pad 3, 3 -> 20 (147 taps: two of the kernel's chunks of 96), rows of 19
                new Conv2dGeometry(2, 3, 38, 37, 20, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1),
                // 288 taps (32 channels, 3x3), uneven pads, 70 filters
                new Conv2dGeometry(1, 32, 30, 41, 70, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, 1),
                // at 289 taps and more, im2col + SGEMM (the same bits either way)
                new Conv2dGeometry(1, 19, 26, 26, 24, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 1),
                // the stem kernel (AVX-512): 3 -> 32 on rows of 32 (two whole segments), 20 rows
                new Conv2dGeometry(2, 3, 40, 64, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1),
                // ... 2 -> 128 (its most: 8 blocks of 16), rows of 18, an odd input width
                new Conv2dGeometry(1, 2, 20, 35, 128, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1),
                // ... 1 -> 16, uneven pads, rows of 18; and 4 -> 64 on rows of 47 (two segments and 15)
                new Conv2dGeometry(2, 1, 35, 37, 16, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, 1),
                new Conv2dGeometry(1, 4, 23, 94, 64, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1),
                // past its limits (144 filters; 5 channels; rows of 15): the direct kernel, the same bits
                new Conv2dGeometry(1, 3, 20, 34, 144, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1),
                new Conv2dGeometry(1, 5, 20, 34, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1),
                new Conv2dGeometry(1, 3, 20, 30, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1));
    }

    /**
     * The stems that run on the 16-output kernels on AVX2 (stem2d_applies) and the direct kernel on
     * AVX-512 give the bits of their definition as the engine's contract states it: the column matrix
     * times the filters on the canonical SGEMM (one chain from zero per output), then the bias, then
     * the activation. The column matrix is built here, in Java.
     */
    @ParameterizedTest
    @MethodSource("stems")
    void stemsGetTheBitsOfTheirColumnMatrixOnTheCanonicalGemm(Conv2dGeometry g) {
        float[] x = Parity.random(51, (int) numel(g.inputShape())), w = Parity.random(52, (int) numel(g.weightShape()));
        float[] bias = Parity.random(53, g.k());
        int oh = g.outH(), ow = g.outW(), ohw = oh * ow, crs = g.c() * g.r() * g.s();
        int threads = CpuNative.salient_get_num_threads();
        try {
            assertEquals(0, CpuNative.salient_set_num_threads(2));
            float[] got;
            try (Tensor tx = CPU.upload(x, g.inputShape()); Tensor tw = CPU.upload(w, g.weightShape());
                    Tensor tb = CPU.upload(bias, g.k()); Tensor ty = CPU.allocate(g.outputShape())) {
                CPU.conv2dForwardActivation(tx, tw, tb, ty, g, Activation.RELU, 0f, 0f);
                got = ty.toArray();
            }
            for (int i = 0; i < g.n(); i++) {
                float[] col = new float[crs * ohw];
                for (int c = 0; c < g.c(); c++)
                    for (int r = 0; r < g.r(); r++)
                        for (int s = 0; s < g.s(); s++)
                            for (int p = 0; p < oh; p++)
                                for (int q = 0; q < ow; q++) {
                                    int ih = p * g.strideH() - g.padTop() + r, iw = q * g.strideW() - g.padLeft() + s;
                                    col[((c * g.r() + r) * g.s() + s) * ohw + p * ow + q] =
                                            ih >= 0 && ih < g.h() && iw >= 0 && iw < g.w()
                                                    ? x[((i * g.c() + c) * g.h() + ih) * g.w() + iw] : 0f;
                                }
                float[] want;
                try (Tensor ta = CPU.upload(w, g.k(), crs); Tensor tc = CPU.upload(col, crs, ohw);
                        Tensor tp = CPU.allocate(g.k(), ohw)) {
                    CPU.matmul(ta, tc, tp);
                    want = tp.toArray();
                }
                for (int o = 0; o < g.k(); o++)
                    for (int j = 0; j < ohw; j++) {
                        float v = want[o * ohw + j] + bias[o];
                        want[o * ohw + j] = v < 0f ? 0f : v;
                    }
                BatchInvarianceTest.assertSameBits(g + ": image " + i + " against its column matrix times the filters",
                        want, got, i * g.k() * ohw);
            }
        } finally {
            CpuNative.salient_set_num_threads(threads);
        }
    }

    static long numel(long[] s) {
        long n = 1;
        for (long d : s) n *= d;
        return n;
    }
}
