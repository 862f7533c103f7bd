package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/** conv2d_forward / conv2d_backward_data against a direct double-precision reference. */
class Conv2dTest {
    static final Backend B = Engine.cpu();

    // n, c, h, w, k, r, s, strideH, strideW, padTop, padLeft, padBottom, padRight, dilH, dilW, groups
    static Stream<Conv2dGeometry> geometries() {
        return Stream.of(
                new Conv2dGeometry(2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),     // 3x3 same
                new Conv2dGeometry(2, 3, 9, 8, 5, 3, 3, 2, 2, 0, 1, 1, 2, 1, 1, 1),     // stride 2, asymmetric pads
                new Conv2dGeometry(1, 2, 9, 9, 3, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1),     // dilation 2
                new Conv2dGeometry(2, 4, 6, 7, 6, 3, 3, 1, 2, 1, 0, 1, 1, 1, 1, 2),     // groups 2
                new Conv2dGeometry(2, 6, 5, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3),     // groups 3
                new Conv2dGeometry(2, 5, 8, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5),     // depthwise
                new Conv2dGeometry(1, 4, 9, 10, 8, 3, 3, 2, 2, 1, 2, 0, 1, 2, 1, 4),    // depthwise x2, stride, dil
                new Conv2dGeometry(2, 3, 11, 11, 3, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 3),   // depthwise 5x5 stride 2
                new Conv2dGeometry(2, 8, 5, 6, 7, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1),     // pointwise
                new Conv2dGeometry(2, 8, 5, 6, 6, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2),     // pointwise, groups 2
                new Conv2dGeometry(2, 8, 7, 7, 6, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1),     // strided 1x1 downsample
                new Conv2dGeometry(1, 3, 16, 15, 4, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1),   // 7x7/2 stem
                new Conv2dGeometry(2, 3, 8, 9, 2, 3, 2, 2, 1, 0, 1, 2, 0, 1, 2, 1),     // rectangular kernel
                new Conv2dGeometry(1, 1, 4, 4, 1, 4, 4, 1, 1, 0, 0, 0, 0, 1, 1, 1),     // kernel = input
                new Conv2dGeometry(2, 3, 7, 8, 4, 3, 2, 1, 1, 2, 0, 1, 1, 1, 2, 1),     // stride 1, uneven pads, dil w
                new Conv2dGeometry(2, 6, 5, 5, 3, 3, 3, 1, 1, 1, 0, 0, 1, 1, 1, 3),     // groups = k < c
                new Conv2dGeometry(1, 2, 5, 5, 3, 3, 3, 1, 1, 3, 0, 2, 1, 1, 1, 1));    // pad beyond the kernel
    }

    /** Big enough (> 2 MFLOP) to take the multi-threaded paths: row blocks, per-image items, shared col2im. */
    static Stream<Conv2dGeometry> threadedGeometries() {
        return Stream.of(
                new Conv2dGeometry(1, 16, 30, 29, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),   // one image: row blocks
                new Conv2dGeometry(3, 16, 20, 21, 16, 3, 3, 2, 2, 1, 0, 2, 1, 1, 1, 2),   // images per thread, groups
                new Conv2dGeometry(1, 64, 24, 24, 48, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1),   // pointwise, one image
                new Conv2dGeometry(4, 64, 16, 16, 48, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1),   // pointwise, batch
                new Conv2dGeometry(1, 8, 40, 40, 1100, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1),  // pointwise: 64-column blocks, tail
                new Conv2dGeometry(2, 8, 70, 70, 16, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1),    // pointwise: 4096-column blocks
                new Conv2dGeometry(1, 8, 128, 128, 520, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), // output over 32 MiB: streamed stores
                new Conv2dGeometry(2, 96, 27, 27, 24, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1),   // pointwise projection: B where it lies, tail
                new Conv2dGeometry(2, 320, 9, 9, 72, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1),    // pointwise, k past one GEMM k block
                new Conv2dGeometry(2, 32, 32, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 32),  // depthwise, threaded
                new Conv2dGeometry(1, 3, 64, 64, 16, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1),    // stem-like, one image
                new Conv2dGeometry(2, 3, 60, 70, 8, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1),     // im2col in blocks of rows
                new Conv2dGeometry(8, 32, 7, 7, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),     // small planes: batched GEMM
                new Conv2dGeometry(7, 64, 7, 7, 64, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2),     // batched pointwise, groups,
                                                                                          // uneven last item
                new Conv2dGeometry(9, 32, 13, 13, 40, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1),   // batched, strided
                // Winograd F(2x2, 3x3): odd output sides, pads 0..2 and uneven, several images per item
                new Conv2dGeometry(6, 16, 9, 11, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),
                new Conv2dGeometry(3, 24, 17, 18, 20, 3, 3, 1, 1, 0, 2, 2, 0, 1, 1, 1),
                new Conv2dGeometry(9, 16, 6, 6, 32, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1, 1),
                new Conv2dGeometry(4, 16, 20, 20, 16, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1),
                new Conv2dGeometry(2, 64, 28, 28, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),
                new Conv2dGeometry(1, 32, 17, 27, 16, 3, 3, 1, 1, 2, 0, 1, 1, 1, 1, 1),   // one image: tile-row blocks
                new Conv2dGeometry(2, 16, 366, 364, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),  // > 32768 tiles: blocks too
                // one image on a small plane: threads split the output channels
                new Conv2dGeometry(1, 24, 13, 11, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),
                new Conv2dGeometry(1, 96, 7, 7, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),     // Winograd, 16 tiles
                new Conv2dGeometry(1, 256, 10, 10, 64, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1),
                new Conv2dGeometry(1, 64, 14, 14, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2));
    }

    /**
     * Depthwise convs: strides 1 and 2 (any dilation) take the phase-plane forward (3x3 with its taps in
     * registers, two rows at a time for stride 1; other kernels tap by tap), stride 3 the direct loops. The
     * data gradient runs as a stride-1 conv of the upsampled dy for every stride, dilation and multiplier:
     * checked against the transpose, as the adjoint of the forward and by finite differences.
     */
    static Stream<Conv2dGeometry> depthwiseGeometries() {
        return Stream.of(
                new Conv2dGeometry(1, 8, 7, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8),       // 7x7 plane
                new Conv2dGeometry(2, 6, 14, 14, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 6),     // stride 2, even side
                new Conv2dGeometry(1, 5, 15, 13, 5, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, 5),     // stride 2, odd, uneven pads
                new Conv2dGeometry(2, 4, 9, 11, 8, 3, 3, 1, 2, 2, 0, 1, 2, 1, 1, 4),      // multiplier 2, strides 1x2
                new Conv2dGeometry(1, 3, 10, 9, 3, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 3),      // 5x5
                new Conv2dGeometry(1, 4, 12, 13, 4, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 4),     // 7x7 stride 2
                new Conv2dGeometry(2, 2, 6, 8, 2, 1, 3, 2, 1, 0, 1, 0, 1, 1, 1, 2),       // 1x3, strides 2x1
                new Conv2dGeometry(1, 2, 3, 3, 2, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 2),       // kernel beyond the plane
                new Conv2dGeometry(1, 3, 4, 5, 3, 3, 3, 1, 1, 3, 0, 2, 3, 1, 1, 3),       // pads beyond the kernel
                new Conv2dGeometry(1, 3, 11, 10, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3),     // stride 3: direct loops
                new Conv2dGeometry(2, 48, 23, 23, 48, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 48),  // threaded, stride 2
                new Conv2dGeometry(1, 16, 40, 38, 32, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 16),  // threaded, blocks of 512
                new Conv2dGeometry(3, 32, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 32),  // threaded, 3x3
                new Conv2dGeometry(2, 6, 14, 14, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6),     // 14x14: rows of 8 + 6 lanes
                new Conv2dGeometry(1, 4, 11, 19, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4),     // multiplier 2, odd rows
                new Conv2dGeometry(1, 3, 13, 12, 6, 3, 3, 2, 2, 1, 1, 1, 1, 2, 2, 3),     // multiplier 2, stride 2, dil 2
                new Conv2dGeometry(1, 2, 10, 11, 2, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 2),     // dilation 2, stride 1
                new Conv2dGeometry(1, 4, 2, 3, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4));      // rows shorter than a vector
    }

    @ParameterizedTest
    @MethodSource("depthwiseGeometries")
    void depthwiseMatchesReference(Conv2dGeometry g) {
        forwardMatchesReference(g);
        backwardDataMatchesReferenceTranspose(g);
        backwardDataIsTheAdjoint(g);
    }

    static Stream<Conv2dGeometry> allGeometries() {
        return Stream.of(geometries(), depthwiseGeometries(), threadedGeometries()).flatMap(s -> s);
    }

    /**
     * conv2dForwardActivation (Relu or Clip in each conv path's epilogue) is bit for bit
     * conv2dForward then activationForward, on every path (direct and phase-plane depthwise,
     * Winograd whole images and tile-row blocks, batched images, channel split, row blocks,
     * pointwise), with and without bias, NaN rule included (NaN propagates through Relu and Clip).
     */
    @ParameterizedTest
    @MethodSource("allGeometries")
    void fusedActivationMatchesConvThenActivation(Conv2dGeometry g) {
        atEachIsa(() -> {
            float[] x = Parity.random(11, numel(g.inputShape()));
            x[x.length / 3] = Float.NaN;
            float[] w = Parity.random(12, numel(g.weightShape()));
            float[] b = Parity.random(13, g.k());
            Object[][] acts = {{Activation.RELU, 0f, 0f}, {Activation.CLIP, 0f, 6f}, {Activation.CLIP, -0.2f, 0.1f}};
            for (Object[] a : acts) {
                Activation kind = (Activation) a[0];
                float lo = (Float) a[1], hi = (Float) a[2];
                for (float[] bias : new float[][] {b, null}) {
                    try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape());
                            Tensor tb = bias == null ? null : B.upload(bias, g.k());
                            Tensor want = B.allocate(g.outputShape()); Tensor got = B.allocate(g.outputShape())) {
                        B.conv2dForward(tx, tw, tb, want, g);
                        B.activationForward(kind, want, want, lo, hi);
                        B.fill(got, Float.NaN); // must be overwritten
                        B.conv2dForwardActivation(tx, tw, tb, got, g, kind, lo, hi);
                        assertArrayEquals(want.toArray(), got.toArray(),
                                "fused " + kind + "(" + lo + ", " + hi + ")" + (bias == null ? " no bias " : " ") + g);
                    }
                }
            }
        });
    }

    /**
     * conv2dForwardSum (a residual Add, then no activation, Relu or Clip, in each conv path's
     * epilogue) is bit for bit conv2dForward, binary Add and activationForward, on every path,
     * with and without bias, NaN in the residual included.
     */
    @ParameterizedTest
    @MethodSource("allGeometries")
    void fusedSumMatchesConvThenAddThenActivation(Conv2dGeometry g) {
        atEachIsa(() -> {
            float[] x = Parity.random(21, numel(g.inputShape()));
            float[] w = Parity.random(22, numel(g.weightShape()));
            float[] b = Parity.random(23, g.k());
            float[] z = Parity.random(24, numel(g.outputShape()));
            z[z.length / 2] = Float.NaN;
            Object[][] acts = {{null, 0f, 0f}, {Activation.RELU, 0f, 0f}, {Activation.CLIP, 0f, 6f}};
            for (Object[] a : acts) {
                Activation kind = (Activation) a[0];
                float lo = (Float) a[1], hi = (Float) a[2];
                for (float[] bias : new float[][] {b, null}) {
                    try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape());
                            Tensor tb = bias == null ? null : B.upload(bias, g.k()); Tensor tz = B.upload(z, g.outputShape());
                            Tensor want = B.allocate(g.outputShape()); Tensor got = B.allocate(g.outputShape())) {
                        B.conv2dForward(tx, tw, tb, want, g);
                        B.binary(BinaryOp.ADD, want, tz, want);
                        if (kind != null) B.activationForward(kind, want, want, lo, hi);
                        B.fill(got, Float.NaN); // must be overwritten
                        B.conv2dForwardSum(tx, tw, tb, tz, got, g, kind, lo, hi);
                        assertArrayEquals(want.toArray(), got.toArray(),
                                "fused sum " + kind + "(" + lo + ", " + hi + ")" + (bias == null ? " no bias " : " ") + g);
                    }
                }
            }
        });
    }

    /**
     * conv2dForwardChannels: channel channels[n] of image n against the double reference with its
     * residual and activation (NaN passing through), every other channel 0 (the output starts as NaN),
     * on every geometry kind (groups, depthwise, strides, dilations, pads beyond the kernel); and an
     * image's bits are its own: the same alone as in its batch.
     */
    @ParameterizedTest
    @MethodSource("geometries")
    void oneChannelPerImageMatchesReference(Conv2dGeometry g) {
        float[] x = Parity.random(31, numel(g.inputShape()));
        float[] w = Parity.random(32, numel(g.weightShape()));
        float[] b = Parity.random(33, g.k());
        float[] z = Parity.random(34, numel(g.outputShape()));
        z[z.length - 1] = Float.NaN;
        int[] ch = new int[g.n()];
        for (int i = 0; i < ch.length; i++) ch[i] = (5 * i + 2) % g.k();
        double[] conv = reference(x, w, b, g), convNoBias = reference(x, w, null, g);
        long plane = g.outH() * g.outW(), per = g.k() * plane;
        Object[][] acts = {{null, 0f, 0f}, {Activation.RELU, 0f, 0f}, {Activation.CLIP, -0.1f, 0.2f}};
        for (Object[] a : acts) {
            Activation kind = (Activation) a[0];
            float lo = (Float) a[1], hi = (Float) a[2];
            for (boolean withBias : new boolean[] {true, false})
                for (boolean withZ : new boolean[] {true, false}) {
                    double[] want = new double[(int) numel(g.outputShape())];
                    for (int i = 0; i < g.n(); i++)
                        for (long j = 0; j < plane; j++) {
                            int e = (int) (i * per + ch[i] * plane + j);
                            double v = (withBias ? conv : convNoBias)[e] + (withZ ? z[e] : 0);
                            if (kind == Activation.RELU) v = v < 0 ? 0 : v;
                            else if (kind == Activation.CLIP) v = v < lo ? lo : (v > hi ? hi : v);
                            want[e] = v;
                        }
                    String what = "one channel per image " + kind + (withBias ? "" : " no bias") + (withZ ? " + z " : " ") + g;
                    try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape());
                            Tensor tb = withBias ? B.upload(b, g.k()) : null; Tensor tz = withZ ? B.upload(z, g.outputShape()) : null;
                            Tensor got = B.allocate(g.outputShape())) {
                        B.fill(got, Float.NaN); // every element must be written
                        B.conv2dForwardChannels(tx, tw, tb, tz, ch, got, g, kind, lo, hi);
                        float[] y = got.toArray();
                        Parity.assertClose(what, y, want, 1e-5, 1e-4, g.outputShape());
                        for (int i = 0; i < g.n(); i++) { // alone: the same bits
                            Conv2dGeometry one = new Conv2dGeometry(1, g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.strideH(),
                                    g.strideW(), g.padTop(), g.padLeft(), g.padBottom(), g.padRight(), g.dilationH(),
                                    g.dilationW(), g.groups());
                            long in = g.c() * g.h() * g.w();
                            try (Tensor x1 = B.upload(java.util.Arrays.copyOfRange(x, (int) (i * in), (int) ((i + 1) * in)),
                                    one.inputShape()); Tensor z1 = withZ ? B.upload(java.util.Arrays.copyOfRange(z, (int) (i * per),
                                    (int) ((i + 1) * per)), one.outputShape()) : null; Tensor y1 = B.allocate(one.outputShape())) {
                                B.conv2dForwardChannels(x1, tw, tb, z1, new int[] {ch[i]}, y1, one, kind, lo, hi);
                                assertArrayEquals(java.util.Arrays.copyOfRange(y, (int) (i * per), (int) ((i + 1) * per)),
                                        y1.toArray(), "image " + i + " alone: " + what);
                            }
                        }
                    }
                }
        }
    }

    /** One channel per image: AVX-512's rows in registers (planes at most 16 wide, stride 1) and AVX2's loops give the same bits. */
    @ParameterizedTest
    @MethodSource("geometries")
    void oneChannelPerImageIsTheSameOnEveryInstructionSet(Conv2dGeometry g) {
        float[] x = Parity.random(35, numel(g.inputShape()));
        float[] w = Parity.random(36, numel(g.weightShape()));
        float[] z = Parity.random(37, numel(g.outputShape()));
        int[] ch = new int[g.n()];
        for (int i = 0; i < ch.length; i++) ch[i] = (3 * i + 1) % g.k();
        IsaInvarianceTest.atEveryLevel(t -> {
            try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape());
                    Tensor tz = B.upload(z, g.outputShape()); Tensor y = B.allocate(g.outputShape())) {
                B.conv2dForwardChannels(tx, tw, null, tz, ch, y, g, Activation.RELU, 0f, 0f);
                return new float[][] {y.toArray()};
            }
        }, "one channel per image " + g);
    }

    /** A channel outside the layer, a missing one, or an output over the input: one line, nothing written. */
    @org.junit.jupiter.api.Test
    void oneChannelPerImageRejectsBadChannels() {
        Conv2dGeometry g = new Conv2dGeometry(2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
        try (Tensor tx = B.upload(Parity.random(1, numel(g.inputShape())), g.inputShape());
                Tensor tw = B.upload(Parity.random(2, numel(g.weightShape())), g.weightShape()); Tensor y = B.allocate(g.outputShape())) {
            for (int[] ch : new int[][] {{0, 4}, {-1, 0}, {0}, null}) {
                SalientException e = assertThrows(SalientException.class,
                        () -> B.conv2dForwardChannels(tx, tw, null, null, ch, y, g, null, 0f, 0f));
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
                assertTrue(e.getMessage().startsWith("conv2dForwardChannels"), e.getMessage());
            }
        }
        // the native entry checks the channels itself before it writes
        float[] y0 = new float[(int) numel(g.outputShape())];
        try (Tensor tx = B.upload(Parity.random(1, numel(g.inputShape())), g.inputShape());
                Tensor tw = B.upload(Parity.random(2, numel(g.weightShape())), g.weightShape()); Tensor y = B.upload(y0, g.outputShape());
                org.bytedeco.javacpp.FloatPointer bad = new org.bytedeco.javacpp.FloatPointer(0f, 4.5f)) {
            int rc = CpuNative.conv2d_forward_channels_cpu(tx.data(), tw.data(), null, null, bad, y.data(), g.n(), g.c(), g.h(), g.w(),
                    g.k(), g.r(), g.s(), 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, 0f, 0f);
            assertNotEquals(0, rc);
            assertTrue(CpuNative.salient_last_error().getString().contains("channel 4.5 of image 1"), CpuNative.salient_last_error().getString());
            assertArrayEquals(y0, y.toArray());
        }
    }

    /**
     * Runs body at each instruction-set level the processor has (native/cpu/isa.h): the fused
     * epilogues are applied in the AVX-512 GEMM kernel's stores, or in passes after the AVX2 GEMM.
     */
    static void atEachIsa(Runnable body) {
        int isa = CpuNative.salient_get_isa();
        try {
            for (int level = CpuNative.ISA_AVX2; level <= CpuNative.salient_max_isa(); level++) {
                assertEquals(0, CpuNative.salient_set_isa(level));
                body.run();
            }
        } finally {
            CpuNative.salient_set_isa(isa);
        }
    }

    @Test
    void fusedSumRefusesOverlapsAndBadResiduals() {
        Conv2dGeometry g = new Conv2dGeometry(1, 2, 4, 4, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
        try (Tensor tx = B.allocate(g.inputShape()); Tensor tw = B.allocate(g.weightShape());
                Tensor ty = B.allocate(g.outputShape()); Tensor tz = B.allocate(g.outputShape());
                Tensor small = B.allocate(3)) {
            SalientException e = assertThrows(SalientException.class,
                    () -> B.conv2dForwardSum(tx, tw, null, ty, ty, g, Activation.RELU, 0f, 0f));
            assertTrue(e.getMessage().contains("overlaps the residual"), e.getMessage());
            assertThrows(SalientException.class, () -> B.conv2dForwardSum(tx, tw, null, small, ty, g, null, 0f, 0f));
            assertThrows(SalientException.class, () -> B.conv2dForwardSum(tx, tw, null, null, ty, g, null, 0f, 0f));
            assertThrows(SalientException.class,
                    () -> B.conv2dForwardSum(tx, tw, null, tz, ty, g, Activation.SIGMOID, 0f, 0f));
        }
    }

    @Test
    void fusedActivationRefusesOtherKinds() {
        Conv2dGeometry g = new Conv2dGeometry(1, 2, 4, 4, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
        try (Tensor tx = B.allocate(g.inputShape()); Tensor tw = B.allocate(g.weightShape());
                Tensor ty = B.allocate(g.outputShape())) {
            assertFalse(Backend.fusesConvActivation(Activation.SIGMOID));
            assertThrows(SalientException.class,
                    () -> B.conv2dForwardActivation(tx, tw, null, ty, g, Activation.SIGMOID, 0f, 0f));
        }
    }

    @ParameterizedTest
    @MethodSource("threadedGeometries")
    void threadedPathsMatchReference(Conv2dGeometry g) {
        forwardMatchesReference(g);
        backwardDataMatchesReferenceTranspose(g);
    }

    /**
     * Java threads calling the Winograd and channel-split paths at once, with four filter sets
     * (so the transformed-filter cache is filled and read concurrently), agree bit for bit with
     * the same calls made one at a time.
     */
    @Test
    void concurrentCallsAgreeWithSequentialOnes() throws Exception {
        Conv2dGeometry[] gs = {new Conv2dGeometry(4, 32, 20, 20, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),
                new Conv2dGeometry(1, 64, 9, 9, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)};
        int tasks = 16;
        float[][] xs = new float[tasks][], ws = new float[4][];
        float[][][] want = new float[tasks][][];
        for (int i = 0; i < 4; i++) ws[i] = Parity.random(100 + i, numel(gs[0].weightShape()));
        for (int t = 0; t < tasks; t++) {
            Conv2dGeometry g = gs[t % 2];
            float[] w = g == gs[0] ? ws[t % 4] : Parity.random(200 + t % 4, numel(g.weightShape()));
            xs[t] = Parity.random(300 + t, numel(g.inputShape()));
            float[] y = forward(xs[t], w, null, g);
            want[t] = new float[][] {y, backwardData(y, w, g)};
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<float[][]>> got = new ArrayList<>();
            for (int t = 0; t < tasks; t++) {
                final int tt = t;
                got.add(pool.submit(() -> {
                    Conv2dGeometry g = gs[tt % 2];
                    float[] w = g == gs[0] ? ws[tt % 4] : Parity.random(200 + tt % 4, numel(g.weightShape()));
                    float[] y = forward(xs[tt], w, null, g);
                    return new float[][] {y, backwardData(y, w, g)};
                }));
            }
            for (int t = 0; t < tasks; t++) {
                float[][] r = got.get(t).get();
                assertArrayEquals(want[t][0], r[0], "forward, task " + t);
                assertArrayEquals(want[t][1], r[1], "backward, task " + t);
            }
        } finally {
            pool.shutdown();
        }
    }

    /**
     * Winograd's work items take several whole images when the planes are small (four 7x7 images of
     * 64 channels to an item here: 9 images on two threads make items of 4, 4 and 1) or cut an image
     * into blocks of tile rows (one 40x40 image), and an image of one panel of tiles alone runs on one
     * thread: every image's output and data gradient are the bits it gets alone, whatever the item
     * around it.
     */
    @Test
    void winogradItemsGiveEachImageItsBitsAlone() {
        Conv2dGeometry[] gs = {new Conv2dGeometry(9, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),
                new Conv2dGeometry(5, 48, 12, 12, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),
                new Conv2dGeometry(3, 32, 40, 40, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),
                // U under 1 MiB: items of at most 128 tiles, so each image is cut into 3 blocks of tile rows
                new Conv2dGeometry(2, 64, 36, 36, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),
                // DenseNet's 128 -> 32 at 7x7: an image alone is one panel of 16 tiles, too few output
                // channels to split, and runs on one thread; three in a batch are items of images
                new Conv2dGeometry(3, 128, 7, 7, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)};
        for (Conv2dGeometry g : gs) {
            float[] x = Parity.random(41, numel(g.inputShape()));
            float[] w = Parity.random(42, numel(g.weightShape()));
            float[] b = Parity.random(43, g.k());
            float[] y = forward(x, w, b, g), dx = backwardData(y, w, g);
            Conv2dGeometry one = new Conv2dGeometry(1, g.c(), g.h(), g.w(), g.k(), 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
            int in = numel(one.inputShape()), out = numel(one.outputShape());
            for (int i = 0; i < g.n(); i++) {
                float[] xi = java.util.Arrays.copyOfRange(x, i * in, (i + 1) * in);
                float[] yi = forward(xi, w, b, one);
                assertArrayEquals(yi, java.util.Arrays.copyOfRange(y, i * out, (i + 1) * out), g + ": forward, image " + i);
                float[] dxi = backwardData(java.util.Arrays.copyOfRange(y, i * out, (i + 1) * out), w, one);
                assertArrayEquals(dxi, java.util.Arrays.copyOfRange(dx, i * in, (i + 1) * in), g + ": data gradient, image " + i);
            }
        }
    }

    /**
     * A pointwise conv onto few channels whose input is small enough to be in the caches reads it where
     * it lies on AVX-512 (GemmEpilogue::b_cached) instead of packing it; past 16 MiB of input it packs.
     * 29 output channels (four blocks of 6 rows and one of 5), 300 input channels (two k blocks: the
     * partial sums reloaded), 20x19 planes (more than the lanes kernel takes; 23 whole panels of 16
     * columns and one of 12): with its bias, residual and Relu it matches the double reference, and each
     * image of a batch of 2 (read in place) has the bits it has in a batch of 40 (17.4 MiB of input,
     * packed), on every instruction set.
     */
    @Test
    void smallPointwiseConvsReadCachedInputsInPlace() {
        Conv2dGeometry small = new Conv2dGeometry(2, 300, 20, 19, 29, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        Conv2dGeometry large = new Conv2dGeometry(40, 300, 20, 19, 29, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        float[] x = Parity.random(51, numel(large.inputShape()));
        float[] w = Parity.random(52, numel(large.weightShape()));
        float[] b = Parity.random(53, large.k());
        float[] z = Parity.random(54, numel(large.outputShape()));
        int in = numel(small.inputShape()), out = numel(small.outputShape());
        float[] xs = java.util.Arrays.copyOf(x, in), zs = java.util.Arrays.copyOf(z, out);
        java.util.function.BiFunction<Conv2dGeometry, float[][], float[]> run = (g, xz) -> {
            try (Tensor tx = B.upload(xz[0], g.inputShape()); Tensor tw = B.upload(w, g.weightShape());
                    Tensor tb = B.upload(b, g.k()); Tensor tz = B.upload(xz[1], g.outputShape());
                    Tensor ty = B.allocate(g.outputShape())) {
                B.fill(ty, Float.NaN); // must be overwritten
                B.conv2dForwardSum(tx, tw, tb, tz, ty, g, Activation.RELU, 0f, 0f);
                return ty.toArray();
            }
        };
        double[] want = reference(xs, w, b, small);
        for (int i = 0; i < want.length; i++) want[i] = Math.max(0, want[i] + zs[i]);
        float[][] got = new float[1][];
        atEachIsa(() -> {
            float[] ys = run.apply(small, new float[][] {xs, zs});
            Parity.assertClose("small pointwise conv, isa " + CpuNative.salient_get_isa(), ys, want, 1e-5, 1e-4,
                    small.outputShape());
            float[] yl = run.apply(large, new float[][] {x, z});
            assertArrayEquals(java.util.Arrays.copyOf(yl, out), ys, "images 0-1 alone and in a batch of 40");
            if (got[0] != null) assertArrayEquals(got[0], ys, "the same bits on every instruction set");
            got[0] = ys;
        });
    }

    /**
     * A pointwise conv onto few channels (24) with nothing to apply to its outputs (no bias, residual or
     * activation) reads its input in place on AVX-512 even from out of the caches (a batch of 28 is 17.2
     * MiB), as it does with a bias: it matches the double reference, has the bits of the same conv with a
     * zero bias, and each image has in the batch of 28 the bits it has in a batch of 2 (1.2 MiB), on every
     * instruction set.
     */
    @Test
    void pointwiseConvsWithNothingToApplyReadTheirInputInPlace() {
        Conv2dGeometry small = new Conv2dGeometry(2, 96, 40, 40, 24, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        Conv2dGeometry large = new Conv2dGeometry(28, 96, 40, 40, 24, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        float[] x = Parity.random(61, numel(large.inputShape()));
        float[] w = Parity.random(62, numel(large.weightShape()));
        float[] xs = java.util.Arrays.copyOf(x, numel(small.inputShape()));
        double[] want = reference(xs, w, null, small);
        float[][] got = new float[1][];
        atEachIsa(() -> {
            float[] ys = forward(xs, w, null, small);
            Parity.assertClose("pointwise conv without bias, isa " + CpuNative.salient_get_isa(), ys, want, 1e-5, 1e-4,
                    small.outputShape());
            assertArrayEquals(forward(xs, w, new float[small.k()], small), ys, "the bits of a zero bias");
            float[] yl = forward(x, w, null, large);
            assertArrayEquals(java.util.Arrays.copyOf(yl, ys.length), ys, "images 0-1 alone and in a batch of 28");
            if (got[0] != null) assertArrayEquals(got[0], ys, "the same bits on every instruction set");
            got[0] = ys;
        });
    }

    /**
     * A pointwise conv onto 128 filters or more takes one product over the positions of the whole batch
     * on AVX-512 (batch_forward): on 7x7 planes from 16 images on, on planes of 17x17 to 32x32 at any
     * batch, and on 14x14 and 7x7 from 4 images on where it has at most 256 input channels (5 images of
     * 96 at 14x14; 4 of 256 at 7x7; 5 of 300, past that, on the lanes path). Its 16-lane panels run across
     * image boundaries (49 positions an image), its rows end in a
     * block of 4 (130 filters), its 300 input channels are two k blocks (the partial sums reloaded). With
     * bias, residual and Relu or Clip, each output matches the double reference; each image of the
     * batch of 20 has the bits it has alone (another path); and every instruction set gives the same
     * bits (AVX2 takes the other paths).
     */
    @Test
    void pointwiseConvsOverTheWholeBatch() {
        for (int[] shape : new int[][] {{20, 7, 7, 300}, {3, 17, 18, 300}, {5, 14, 14, 96}, {4, 7, 7, 256}, {5, 7, 7, 300}}) {
            int n = shape[0], c = shape[3];
            Conv2dGeometry g = new Conv2dGeometry(n, c, shape[1], shape[2], 130, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
            Conv2dGeometry one = new Conv2dGeometry(1, c, shape[1], shape[2], 130, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
            float[] x = Parity.random(61, numel(g.inputShape()));
            float[] w = Parity.random(62, numel(g.weightShape()));
            float[] b = Parity.random(63, g.k());
            float[] z = Parity.random(64, numel(g.outputShape()));
            int in = numel(one.inputShape()), out = numel(one.outputShape());
            double[] conv = reference(x, w, b, g);
            for (Activation act : new Activation[] {Activation.RELU, Activation.CLIP}) {
                float lo = act == Activation.CLIP ? -0.25f : 0f, hi = act == Activation.CLIP ? 0.5f : 0f;
                java.util.function.BiFunction<Conv2dGeometry, float[][], float[]> run = (geom, xz) -> {
                    try (Tensor tx = B.upload(xz[0], geom.inputShape()); Tensor tw = B.upload(w, geom.weightShape());
                            Tensor tb = B.upload(b, geom.k()); Tensor tz = B.upload(xz[1], geom.outputShape());
                            Tensor ty = B.allocate(geom.outputShape())) {
                        B.fill(ty, Float.NaN); // must be overwritten
                        B.conv2dForwardSum(tx, tw, tb, tz, ty, geom, act, lo, hi);
                        return ty.toArray();
                    }
                };
                double[] want = new double[conv.length];
                for (int i = 0; i < want.length; i++)
                    want[i] = act == Activation.RELU ? Math.max(0, conv[i] + z[i]) : Math.min(hi, Math.max(lo, conv[i] + z[i]));
                float[][] got = new float[1][];
                atEachIsa(() -> {
                    String what = g + " " + act + ", isa " + CpuNative.salient_get_isa();
                    float[] y = run.apply(g, new float[][] {x, z});
                    Parity.assertClose(what, y, want, 1e-5, 1e-4, g.outputShape());
                    for (int i = 0; i < n; i++) {
                        float[] yi = run.apply(one, new float[][] {java.util.Arrays.copyOfRange(x, i * in, (i + 1) * in),
                                java.util.Arrays.copyOfRange(z, i * out, (i + 1) * out)});
                        assertArrayEquals(yi, java.util.Arrays.copyOfRange(y, i * out, (i + 1) * out), what + ": image " + i + " alone");
                    }
                    if (got[0] != null) assertArrayEquals(got[0], y, what + ": the same bits on every instruction set");
                    got[0] = y;
                });
            }
        }
    }

    /** y[n,k,p,q] = bias[k] + sum w[k,c,r,s] x[n, g*cg + c, p*sh - pt + r*dh, q*sw - pl + s*dw], in double. */
    static double[] reference(float[] x, float[] w, float[] bias, Conv2dGeometry g) {
        int oh = g.outH(), ow = g.outW(), cg = g.c() / g.groups(), kg = g.k() / g.groups();
        double[] y = new double[g.n() * g.k() * oh * ow];
        for (int n = 0; n < g.n(); n++)
            for (int k = 0; k < g.k(); k++) {
                int grp = k / kg;
                for (int p = 0; p < oh; p++)
                    for (int q = 0; q < ow; q++) {
                        double acc = bias == null ? 0 : bias[k];
                        for (int c = 0; c < cg; c++)
                            for (int r = 0; r < g.r(); r++)
                                for (int s = 0; s < g.s(); s++) {
                                    int ih = p * g.strideH() - g.padTop() + r * g.dilationH();
                                    int iw = q * g.strideW() - g.padLeft() + s * g.dilationW();
                                    if (ih < 0 || ih >= g.h() || iw < 0 || iw >= g.w()) continue;
                                    int ci = grp * cg + c;
                                    acc += (double) w[((k * cg + c) * g.r() + r) * g.s() + s]
                                            * x[((n * g.c() + ci) * g.h() + ih) * g.w() + iw];
                                }
                        y[((n * g.k() + k) * oh + p) * ow + q] = acc;
                    }
            }
        return y;
    }

    static float[] forward(float[] x, float[] w, float[] bias, Conv2dGeometry g) {
        try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape());
                Tensor tb = bias == null ? null : B.upload(bias, g.k()); Tensor ty = B.allocate(g.outputShape())) {
            B.conv2dForward(tx, tw, tb, ty, g);
            return ty.toArray();
        }
    }

    static float[] backwardData(float[] dy, float[] w, Conv2dGeometry g) {
        try (Tensor tdy = B.upload(dy, g.outputShape()); Tensor tw = B.upload(w, g.weightShape());
                Tensor tdx = B.allocate(g.inputShape())) {
            B.fill(tdx, Float.NaN); // must be overwritten
            B.conv2dBackwardData(tdy, tw, tdx, g);
            return tdx.toArray();
        }
    }

    static int numel(long[] s) {
        return (int) Shapes.numel(s);
    }

    @ParameterizedTest
    @MethodSource("geometries")
    void forwardMatchesReference(Conv2dGeometry g) {
        float[] x = Parity.random(1, numel(g.inputShape()));
        float[] w = Parity.random(2, numel(g.weightShape()));
        float[] b = Parity.random(3, g.k());
        Parity.assertClose("conv forward " + g, forward(x, w, b, g), reference(x, w, b, g), 1e-5, 1e-4,
                g.outputShape());
        Parity.assertClose("conv forward no bias " + g, forward(x, w, null, g), reference(x, w, null, g), 1e-5, 1e-4,
                g.outputShape());
    }

    @ParameterizedTest
    @MethodSource("geometries")
    void backwardDataIsTheAdjoint(Conv2dGeometry g) {
        float[] x = Parity.random(4, numel(g.inputShape()));
        float[] w = Parity.random(5, numel(g.weightShape()));
        float[] dy = Parity.random(6, numel(g.outputShape()));
        float[] y = forward(x, w, null, g);
        float[] dx = backwardData(dy, w, g);
        // <conv(x), dy> = <x, conv^T(dy)>
        double lhs = Parity.dot(y, dy), rhs = Parity.dot(x, dx);
        Parity.assertClose("adjoint " + g, rhs, lhs, 1e-6 * (Parity.absDot(y, dy) + Parity.absDot(x, dx)), 0);

        // finite differences of L(x) = <conv(x), dy> at a few inputs (L is linear: central differences are exact
        // up to rounding)
        float eps = 1e-2f;
        java.util.Random rnd = new java.util.Random(7);
        for (int t = 0; t < 5; t++) {
            int i = rnd.nextInt(x.length);
            float[] xp = x.clone(), xm = x.clone();
            xp[i] += eps;
            xm[i] -= eps;
            double fd = (Parity.dot(forward(xp, w, null, g), dy) - Parity.dot(forward(xm, w, null, g), dy)) / (2 * eps);
            Parity.assertClose("fd dx[" + i + "] " + g, dx[i], fd, 2e-3, 1e-2);
        }
    }

    @ParameterizedTest
    @MethodSource("geometries")
    void backwardDataMatchesReferenceTranspose(Conv2dGeometry g) {
        float[] w = Parity.random(8, numel(g.weightShape()));
        float[] dy = Parity.random(9, numel(g.outputShape()));
        // dx[n,ci,ih,iw] = sum over the outputs that read (ci,ih,iw)
        int oh = g.outH(), ow = g.outW(), cg = g.c() / g.groups(), kg = g.k() / g.groups();
        double[] ref = new double[numel(g.inputShape())];
        for (int n = 0; n < g.n(); n++)
            for (int k = 0; k < g.k(); k++)
                for (int p = 0; p < oh; p++)
                    for (int q = 0; q < ow; q++)
                        for (int c = 0; c < cg; c++)
                            for (int r = 0; r < g.r(); r++)
                                for (int s = 0; s < g.s(); s++) {
                                    int ih = p * g.strideH() - g.padTop() + r * g.dilationH();
                                    int iw = q * g.strideW() - g.padLeft() + s * g.dilationW();
                                    if (ih < 0 || ih >= g.h() || iw < 0 || iw >= g.w()) continue;
                                    int ci = (k / kg) * cg + c;
                                    ref[((n * g.c() + ci) * g.h() + ih) * g.w() + iw] +=
                                            (double) w[((k * cg + c) * g.r() + r) * g.s() + s]
                                                    * dy[((n * g.k() + k) * oh + p) * ow + q];
                                }
        Parity.assertClose("conv backward data " + g, backwardData(dy, w, g), ref, 1e-5, 1e-4, g.inputShape());
    }

    /**
     * Images whose dy is zero but in at most k/64 channels (a gradient seeded at one channel) take a
     * scatter of the nonzero values instead of the product: against the float64 transpose, each image
     * the same bits alone as in a batch that mixes them with dense and all-zero images, and through a
     * Relu with a sum the bits of the composed calls.
     */
    @ParameterizedTest
    @CsvSource({"24,9,128,3,1,1,1", "16,11,64,3,2,1,1", "32,7,128,1,1,0,1", "8,12,64,3,1,2,2"})
    void channelSparseGradientsTakeTheScatter(int c, int h, int k, int r, int stride, int pad, int dil) {
        int n = 5;
        Conv2dGeometry g = new Conv2dGeometry(n, c, h, h, k, r, r, stride, stride, pad, pad, pad, pad, dil, dil, 1);
        int oh = g.outH(), ohw = oh * g.outW(), inImg = c * h * h;
        float[] w = Parity.random(11, numel(g.weightShape()));
        float[] dense = Parity.random(12, numel(g.outputShape()));
        float[] dy = new float[dense.length];
        // image 0: channel 5; image 1: dense; image 2: channels 0 and k-1 (k/64 >= 1 of them); image 3: zeros;
        // image 4: channel 7 with a NaN
        for (int i = 0; i < ohw; i++) {
            dy[(0 * k + 5) * ohw + i] = dense[i];
            dy[(2 * k) * ohw + i] = dense[ohw + i];
            dy[(4 * k + 7) * ohw + i] = dense[2 * ohw + i];
        }
        if (k >= 128) for (int i = 0; i < ohw; i++) dy[(2 * k + k - 1) * ohw + i] = dense[3 * ohw + i];
        System.arraycopy(dense, k * ohw, dy, k * ohw, k * ohw);
        dy[(4 * k + 7) * ohw + ohw / 2] = Float.NaN;
        float[] dx = backwardData(dy, w, g);
        double[] ref = new double[dx.length];
        for (int nn = 0; nn < n; nn++)
            for (int kk = 0; kk < k; kk++)
                for (int p = 0; p < oh; p++)
                    for (int q = 0; q < g.outW(); q++)
                        for (int cc = 0; cc < c; cc++)
                            for (int rr = 0; rr < r; rr++)
                                for (int ss = 0; ss < r; ss++) {
                                    int ih = p * stride - pad + rr * dil, iw = q * stride - pad + ss * dil;
                                    if (ih < 0 || ih >= h || iw < 0 || iw >= h) continue;
                                    ref[((nn * c + cc) * h + ih) * h + iw] += (double) w[((kk * c + cc) * r + rr) * r + ss]
                                            * dy[((nn * k + kk) * oh + p) * g.outW() + q];
                                }
        // NaN where the NaN's taps reach, in image 4 only
        for (int i = 4 * inImg; i < 5 * inImg; i++) if (Double.isNaN(ref[i])) assertTrue(Float.isNaN(dx[i]), "NaN at " + i);
        double[] finite = ref.clone();
        float[] got = dx.clone();
        for (int i = 0; i < finite.length; i++) if (Double.isNaN(finite[i])) { finite[i] = 0; got[i] = 0; }
        Parity.assertClose("sparse conv backward data " + g, got, finite, 1e-5, 1e-4, g.inputShape());
        for (int nn = 0; nn < n; nn++) {
            Conv2dGeometry one = g.withBatch(1);
            float[] alone = backwardData(java.util.Arrays.copyOfRange(dy, nn * k * ohw, (nn + 1) * k * ohw), w, one);
            BatchInvarianceTest.assertSameBits("image " + nn + " alone", alone, java.util.Arrays.copyOfRange(dx, nn * inImg,
                    (nn + 1) * inImg), 0);
        }
        float[] mask = Parity.random(13, dx.length), sum = Parity.random(14, dx.length);
        for (int i = 0; i < mask.length; i++) mask[i] = Math.max(0f, mask[i]);
        try (Tensor tdy = B.upload(dy, g.outputShape()); Tensor tw = B.upload(w, g.weightShape());
                Tensor tm = B.upload(mask, g.inputShape()); Tensor ts = B.upload(sum, g.inputShape());
                Tensor fused = B.allocate(g.inputShape()); Tensor composed = B.allocate(g.inputShape())) {
            B.conv2dBackwardDataRelu(tdy, tw, fused, g, tm, ts);
            B.conv2dBackwardData(tdy, tw, composed, g);
            B.axpby(1f, composed, 1f, ts);
            B.activationBackward(Activation.RELU, tm, ts, composed, 0f, 0f);
            BatchInvarianceTest.assertSameBits("sparse data gradient plus a sum through a Relu", composed.toArray(),
                    fused.toArray(), 0);
        }
    }

    /**
     * col2im's sums, bit for bit: with one output channel the GEMM's products are exact (one product
     * per value), so the data gradient is each input element's products added in (r, s) order from 0.
     * Stride 2 takes taps s and s + 1 together (even and odd columns); the order is still (r, s).
     */
    @ParameterizedTest
    @CsvSource({"7,2,3,20,23", "3,2,1,11,12", "3,1,1,9,10", "5,3,2,14,17", "4,2,1,10,13"})
    void col2imAddsEachElementsTapsInOrder(int r, int stride, int pad, int h, int w) {
        Conv2dGeometry g = new Conv2dGeometry(2, 3, h, w, 1, r, r, stride, stride, pad, pad, pad, pad, 1, 1, 1);
        int oh = g.outH(), ow = g.outW();
        float[] wt = Parity.random(21, numel(g.weightShape())), dy = Parity.random(22, numel(g.outputShape()));
        float[] want = new float[numel(g.inputShape())];
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 3; c++)
                for (int rr = 0; rr < r; rr++)
                    for (int ss = 0; ss < r; ss++)
                        for (int p = 0; p < oh; p++)
                            for (int q = 0; q < ow; q++) {
                                int ih = p * stride - pad + rr, iw = q * stride - pad + ss;
                                if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                                want[((n * 3 + c) * h + ih) * w + iw] += wt[(c * r + rr) * r + ss] * dy[(n * oh + p) * ow + q];
                            }
        BatchInvarianceTest.assertSameBits("col2im " + g, want, backwardData(dy, wt, g), 0);
    }
}
