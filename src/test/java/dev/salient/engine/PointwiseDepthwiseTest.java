package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.model.ops.TensorViews;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Proxy;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * conv2dPointwiseDepthwise (a 1x1 expansion and the depthwise 3x3 conv that alone reads it, each with
 * no activation, Relu or Clip: MobileNetV2's inverted residuals) is bit for bit conv2dForward (or
 * conv2dForwardActivation) of each in turn: in bands of output rows where the CPU runs it so (AVX-512,
 * planes of 56x56 and more, an expanded tensor over 6 MiB; rows whose width is no multiple of 16, bands
 * that end in a short one, one image split over the threads, several images a thread), and through the
 * expanded tensor elsewhere,
 * at 1, 2 and 3 threads and each instruction-set level. NaN and -0 in the input, a zero and a negative
 * filter tap included. The same for conv2dDepthwisePointwise (a depthwise 3x3 conv and the 1x1 conv
 * that alone reads it: MobileNetV2's first block).
 */
class PointwiseDepthwiseTest {
    static final Backend B = Engine.cpu();

    // n, c, h, w, k, stride
    static Stream<Arguments> pairs() {
        return Stream.of(
                Arguments.of(2, 16, 56, 56, 256, 2),   // MobileNetV2's planes (the expanded tensor 6.1 MiB)
                Arguments.of(1, 24, 56, 56, 512, 1),   // one image: its rows split over the threads
                Arguments.of(3, 8, 60, 57, 160, 1),    // rows of 57 (bands of 16 rows), a short last band
                Arguments.of(2, 8, 57, 61, 240, 2),    // odd sizes at stride 2
                Arguments.of(2, 8, 112, 112, 96, 2),   // 112x112, several bands a thread
                Arguments.of(2, 8, 56, 56, 48, 1),     // an expanded tensor the L2 caches hold: the two convs
                Arguments.of(4, 8, 20, 20, 16, 1),     // small planes: the two convs
                Arguments.of(2, 5, 9, 7, 6, 2));       // tiny
    }

    @ParameterizedTest
    @MethodSource("pairs")
    void pairMatchesTheTwoConvs(int n, int c, int h, int w, int k, int stride) {
        Conv2dGeometry pw = new Conv2dGeometry(n, c, h, w, k, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        Conv2dGeometry dw = new Conv2dGeometry(n, k, h, w, k, 3, 3, stride, stride, 1, 1, 1, 1, 1, 1, k);
        float[] x = Parity.random(51, (int) Shapes.numel(pw.inputShape()));
        x[x.length / 3] = Float.NaN;
        x[x.length / 2] = -0f;
        float[] w1 = Parity.random(52, (int) Shapes.numel(pw.weightShape())), b1 = Parity.random(53, k);
        float[] w2 = Parity.random(54, (int) Shapes.numel(dw.weightShape())), b2 = Parity.random(55, k);
        w2[4] = 0f;
        w2[9] = -1.5f;
        Object[][] acts = {{null, 0f, 0f}, {Activation.RELU, 0f, 0f}, {Activation.CLIP, 0f, 6f}, {Activation.CLIP, -0.2f, 0.1f}};
        int threads = CpuNative.salient_get_num_threads();
        try (Tensor tx = B.upload(x, pw.inputShape()); Tensor tw1 = B.upload(w1, pw.weightShape()); Tensor tb1 = B.upload(b1, k);
                Tensor tw2 = B.upload(w2, dw.weightShape()); Tensor tb2 = B.upload(b2, k); Tensor mid = B.allocate(pw.outputShape());
                Tensor want = B.allocate(dw.outputShape()); Tensor got = B.allocate(dw.outputShape())) {
            for (int nt = 1; nt <= 3; nt++) {
                CpuNative.salient_set_num_threads(nt);
                final int threadCount = nt;
                Conv2dTest.atEachIsa(() -> {
                    for (int i = 0; i < acts.length; i++) {
                        // each first activation with a second one, and both biases present and absent
                        Object[] a1 = acts[i], a2 = acts[(i + 2) % acts.length];
                        for (boolean biases : new boolean[] {true, false}) {
                            Activation k1 = (Activation) a1[0], k2 = (Activation) a2[0];
                            float lo1 = (Float) a1[1], hi1 = (Float) a1[2], lo2 = (Float) a2[1], hi2 = (Float) a2[2];
                            Tensor bias1 = biases ? tb1 : null, bias2 = biases ? tb2 : null;
                            if (k1 == null) B.conv2dForward(tx, tw1, bias1, mid, pw);
                            else B.conv2dForwardActivation(tx, tw1, bias1, mid, pw, k1, lo1, hi1);
                            if (k2 == null) B.conv2dForward(mid, tw2, bias2, want, dw);
                            else B.conv2dForwardActivation(mid, tw2, bias2, want, dw, k2, lo2, hi2);
                            B.fill(got, Float.NaN);  // must be overwritten
                            B.conv2dPointwiseDepthwise(tx, tw1, bias1, k1, lo1, hi1, tw2, bias2, got, pw, dw, k2, lo2, hi2);
                            assertArrayEquals(want.toArray(), got.toArray(), k1 + "(" + lo1 + ", " + hi1 + "), " + k2 + "(" + lo2
                                    + ", " + hi2 + ")" + (biases ? "" : " no biases") + ", " + threadCount + " threads, isa "
                                    + CpuNative.salient_get_isa() + ", " + dw);
                        }
                    }
                });
            }
        } finally {
            CpuNative.salient_set_num_threads(threads);
        }
    }

    // n, c, h, w, stride, k: the depthwise conv first, then the 1x1 conv onto k channels
    static Stream<Arguments> reversed() {
        return Stream.of(
                Arguments.of(1, 128, 112, 112, 1, 16),  // MobileNetV2's first block, more channels (6.1 MiB)
                Arguments.of(2, 248, 56, 58, 1, 24),    // rows of 58 (bands of 8 rows)
                Arguments.of(3, 168, 114, 113, 2, 7),   // stride 2 onto 57x57, few output channels
                Arguments.of(2, 8, 56, 56, 1, 16),      // a depthwise output the caches hold: the two convs
                Arguments.of(2, 5, 9, 7, 2, 6));        // tiny
    }

    @ParameterizedTest
    @MethodSource("reversed")
    void depthwiseThenPointwiseMatchesTheTwoConvs(int n, int c, int h, int w, int stride, int k) {
        Conv2dGeometry dw = new Conv2dGeometry(n, c, h, w, c, 3, 3, stride, stride, 1, 1, 1, 1, 1, 1, c);
        Conv2dGeometry pw = new Conv2dGeometry(n, c, dw.outH(), dw.outW(), k, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        float[] x = Parity.random(71, (int) Shapes.numel(dw.inputShape()));
        x[x.length / 3] = Float.NaN;
        x[x.length / 2] = -0f;
        float[] w1 = Parity.random(72, (int) Shapes.numel(dw.weightShape())), b1 = Parity.random(73, c);
        float[] w2 = Parity.random(74, (int) Shapes.numel(pw.weightShape())), b2 = Parity.random(75, k);
        w1[4] = 0f;
        w2[1] = -1.5f;
        Object[][] acts = {{null, 0f, 0f}, {Activation.RELU, 0f, 0f}, {Activation.CLIP, 0f, 6f}, {Activation.CLIP, -0.2f, 0.1f}};
        int threads = CpuNative.salient_get_num_threads();
        try (Tensor tx = B.upload(x, dw.inputShape()); Tensor tw1 = B.upload(w1, dw.weightShape()); Tensor tb1 = B.upload(b1, c);
                Tensor tw2 = B.upload(w2, pw.weightShape()); Tensor tb2 = B.upload(b2, k); Tensor mid = B.allocate(dw.outputShape());
                Tensor want = B.allocate(pw.outputShape()); Tensor got = B.allocate(pw.outputShape())) {
            for (int nt = 1; nt <= 3; nt += 2) {
                CpuNative.salient_set_num_threads(nt);
                final int threadCount = nt;
                Conv2dTest.atEachIsa(() -> {
                    for (int i = 0; i < acts.length; i++) {
                        Object[] a1 = acts[i], a2 = acts[(i + 1) % acts.length];
                        for (boolean biases : new boolean[] {true, false}) {
                            Activation k1 = (Activation) a1[0], k2 = (Activation) a2[0];
                            float lo1 = (Float) a1[1], hi1 = (Float) a1[2], lo2 = (Float) a2[1], hi2 = (Float) a2[2];
                            Tensor bias1 = biases ? tb1 : null, bias2 = biases ? tb2 : null;
                            if (k1 == null) B.conv2dForward(tx, tw1, bias1, mid, dw);
                            else B.conv2dForwardActivation(tx, tw1, bias1, mid, dw, k1, lo1, hi1);
                            if (k2 == null) B.conv2dForward(mid, tw2, bias2, want, pw);
                            else B.conv2dForwardActivation(mid, tw2, bias2, want, pw, k2, lo2, hi2);
                            B.fill(got, Float.NaN);
                            B.conv2dDepthwisePointwise(tx, tw1, bias1, k1, lo1, hi1, tw2, bias2, got, dw, pw, k2, lo2, hi2);
                            assertArrayEquals(want.toArray(), got.toArray(), k1 + "(" + lo1 + ", " + hi1 + "), " + k2 + "(" + lo2
                                    + ", " + hi2 + ")" + (biases ? "" : " no biases") + ", " + threadCount + " threads, isa "
                                    + CpuNative.salient_get_isa() + ", " + dw + " then " + k);
                        }
                    }
                });
            }
        } finally {
            CpuNative.salient_set_num_threads(threads);
        }
    }

    /**
     * Whether the CPU runs the pair in bands: on AVX-512, planes of 56x56 and more, 3x3 windows the band
     * kernels take, an expanded tensor the L2 caches would not hold.
     */
    @Test
    void bandsWhereTheKernelsTakeThem() {
        Conv2dGeometry big = new Conv2dGeometry(16, 16, 56, 56, 48, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        Conv2dGeometry bigDw = new Conv2dGeometry(16, 48, 56, 56, 48, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 48);
        Conv2dGeometry small = new Conv2dGeometry(8, 16, 28, 28, 48, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        Conv2dGeometry smallDw = new Conv2dGeometry(8, 48, 28, 28, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 48);
        Conv2dGeometry one = new Conv2dGeometry(1, 16, 56, 56, 48, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        Conv2dGeometry oneDw = new Conv2dGeometry(1, 48, 56, 56, 48, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 48);
        int isa = CpuNative.salient_get_isa();
        try {
            assertEquals(0, CpuNative.salient_set_isa(CpuNative.ISA_AVX2));
            assertFalse(B.fusesPointwiseDepthwise(big, bigDw), "AVX2 has no band kernels");
            if (CpuNative.salient_max_isa() > CpuNative.ISA_AVX2) {
                assertEquals(0, CpuNative.salient_set_isa(CpuNative.salient_max_isa()));
                assertTrue(B.fusesPointwiseDepthwise(big, bigDw));
                assertFalse(B.fusesPointwiseDepthwise(small, smallDw), "28x28 keeps the two convs");
                assertFalse(B.fusesPointwiseDepthwise(one, oneDw), "an expanded tensor of 0.6 MiB keeps the two convs");
                Conv2dGeometry first = new Conv2dGeometry(4, 32, 112, 112, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 32);
                Conv2dGeometry project = new Conv2dGeometry(4, 32, 112, 112, 16, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
                assertTrue(B.fusesDepthwisePointwise(first, project), "MobileNetV2's first block at batch 4");
                Conv2dGeometry firstOne = new Conv2dGeometry(1, 32, 112, 112, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 32);
                Conv2dGeometry projectOne = new Conv2dGeometry(1, 32, 112, 112, 16, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
                assertFalse(B.fusesDepthwisePointwise(firstOne, projectOne), "and at batch 1 (1.5 MiB)");
                String was = System.getProperty("salient.cpu.pointwiseDepthwise");
                System.setProperty("salient.cpu.pointwiseDepthwise", "false");
                try {
                    assertFalse(B.fusesPointwiseDepthwise(big, bigDw), "turned off by its property");
                } finally {
                    if (was == null) System.clearProperty("salient.cpu.pointwiseDepthwise");
                    else System.setProperty("salient.cpu.pointwiseDepthwise", was);
                }
            }
        } finally {
            CpuNative.salient_set_isa(isa);
        }
    }

    /** The composed default (what a backend that does not fuse runs) gives the fused bits too. */
    @Test
    void composedDefaultMatchesTheFusedStep() {
        Conv2dGeometry pw = new Conv2dGeometry(2, 8, 56, 58, 256, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        Conv2dGeometry dw = new Conv2dGeometry(2, 256, 56, 58, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 256);
        Backend composed = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, m, args) -> m.getName().matches("fusesPointwiseDepthwise|conv2dPointwiseDepthwise")
                        ? InvocationHandler.invokeDefault(proxy, m, args) : m.invoke(B, args));
        assertFalse(composed.fusesPointwiseDepthwise(pw, dw));
        try (Tensor tx = B.upload(Parity.random(61, (int) Shapes.numel(pw.inputShape())), pw.inputShape());
                Tensor tw1 = B.upload(Parity.random(62, 256 * 8), pw.weightShape());
                Tensor tw2 = B.upload(Parity.random(63, 256 * 9), dw.weightShape()); Tensor tb2 = B.upload(Parity.random(64, 256), 256);
                Tensor want = B.allocate(dw.outputShape()); Tensor got = B.allocate(dw.outputShape())) {
            B.conv2dPointwiseDepthwise(tx, tw1, null, Activation.CLIP, 0f, 6f, tw2, tb2, want, pw, dw, Activation.RELU, 0f, 0f);
            composed.conv2dPointwiseDepthwise(tx, tw1, null, Activation.CLIP, 0f, 6f, tw2, tb2, got, pw, dw, Activation.RELU, 0f, 0f);
            assertArrayEquals(want.toArray(), got.toArray());
        }
    }

    @Test
    void badInputGetsOneLine() {
        Conv2dGeometry pw = new Conv2dGeometry(2, 4, 6, 6, 8, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        Conv2dGeometry dw = new Conv2dGeometry(2, 8, 6, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8);
        Conv2dGeometry wide = new Conv2dGeometry(2, 4, 6, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
        Conv2dGeometry dense = new Conv2dGeometry(2, 8, 6, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
        Conv2dGeometry five = new Conv2dGeometry(2, 8, 6, 6, 8, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 8);
        Conv2dGeometry other = new Conv2dGeometry(2, 8, 7, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8);
        try (Tensor x = B.zeros(pw.inputShape()); Tensor w1 = B.zeros(pw.weightShape()); Tensor ww = B.zeros(wide.weightShape());
                Tensor w2 = B.zeros(dw.weightShape()); Tensor wd = B.zeros(dense.weightShape()); Tensor w5 = B.zeros(five.weightShape());
                Tensor y = B.zeros(dw.outputShape()); Tensor b7 = B.zeros(7); Tensor big = B.zeros(2 * 8 * 6 * 6)) {
            String msg = message(() -> B.conv2dPointwiseDepthwise(x, ww, null, null, 0f, 0f, w2, null, y, wide, dw, null, 0f, 0f));
            assertTrue(msg.contains("the first conv is not pointwise"), msg);
            msg = message(() -> B.conv2dPointwiseDepthwise(x, w1, null, null, 0f, 0f, wd, null, y, pw, dense, null, 0f, 0f));
            assertTrue(msg.contains("not a depthwise 3x3 conv"), msg);
            msg = message(() -> B.conv2dPointwiseDepthwise(x, w1, null, null, 0f, 0f, w5, null, y, pw, five, null, 0f, 0f));
            assertTrue(msg.contains("not a depthwise 3x3 conv") && msg.contains("kernel 5x5"), msg);
            msg = message(() -> B.conv2dPointwiseDepthwise(x, w1, null, null, 0f, 0f, w2, null, y, pw, other, null, 0f, 0f));
            assertTrue(msg.contains("the depthwise conv reads [2, 8, 7, 6], the pointwise conv makes [2, 8, 6, 6]"), msg);
            msg = message(() -> B.conv2dPointwiseDepthwise(x, w1, b7, null, 0f, 0f, w2, null, y, pw, dw, null, 0f, 0f));
            assertTrue(msg.contains("b1"), msg);
            msg = message(() -> B.conv2dPointwiseDepthwise(x, w1, null, Activation.SIGMOID, 0f, 0f, w2, null, y, pw, dw, null, 0f, 0f));
            assertTrue(msg.contains("is not fused"), msg);
            msg = message(() -> B.conv2dDepthwisePointwise(y, w2, null, null, 0f, 0f, ww, null, x, dw, wide, null, 0f, 0f));
            assertTrue(msg.contains("conv2dDepthwisePointwise: the second conv is not pointwise"), msg);
            Conv2dGeometry back = new Conv2dGeometry(2, 8, 6, 6, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
            try (Tensor wb = B.zeros(back.weightShape()); Tensor yb = B.zeros(back.outputShape())) {
                msg = message(() -> B.conv2dDepthwisePointwise(y, wd, null, null, 0f, 0f, wb, null, yb, dense, back, null, 0f, 0f));
                assertTrue(msg.contains("the first conv is not a depthwise 3x3 conv"), msg);
                msg = message(() -> B.conv2dDepthwisePointwise(y, w2, null, null, 0f, 0f, wb, null, yb, other, back, null, 0f, 0f));
                assertTrue(msg.contains("the pointwise conv reads [2, 8, 6, 6], the depthwise conv makes [2, 8, 7, 6]"), msg);
                B.conv2dDepthwisePointwise(y, w2, null, null, 0f, 0f, wb, null, yb, dw, back, Activation.RELU, 0f, 0f);
            }
            Tensor in = TensorViews.viewAt(big, 0, pw.inputShape()), out = TensorViews.viewAt(big, 0, dw.outputShape());
            msg = message(() -> B.conv2dPointwiseDepthwise(in, w1, null, null, 0f, 0f, w2, null, out, pw, dw, null, 0f, 0f));
            assertTrue(msg.contains("overlaps the input"), msg);
        }
    }

    static String message(Runnable r) {
        SalientException e = assertThrows(SalientException.class, r::run);
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }
}
