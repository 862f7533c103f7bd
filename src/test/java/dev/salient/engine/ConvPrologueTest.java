package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.model.ops.TensorViews;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Proxy;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * conv2dForwardPrologue (a per-channel affine map, then no activation, Relu or Clip, applied by a
 * pointwise conv as it packs or copies its input; DenseNet's BatchNorm and Relu before each 1x1
 * conv) is bit for bit channelAffine (or channelAffineActivation), then conv2dForward (or
 * conv2dForwardActivation), on every path a pointwise conv takes: images side by side on small
 * planes, output channels split over the threads for one image, rows of one image, and the
 * unfused products it is compared with (rows read in place for few output channels, few rows
 * streamed), at 1, 2 and 3 threads and each instruction-set level. NaN and -0 in the input, a
 * zero and a negative scale included.
 */
class ConvPrologueTest {
    static final Backend B = Engine.cpu();

    // n, c, h, w, k (1x1, stride 1, no padding, one group)
    static Stream<Conv2dGeometry> geometries() {
        return Stream.of(
                pointwise(5, 40, 7, 7, 24),      // small planes: images side by side (batched GEMM)
                pointwise(1, 256, 14, 14, 64),   // one image, small plane: output channels split over threads
                pointwise(2, 24, 30, 33, 20),    // rows of an image
                pointwise(1, 96, 40, 40, 48),    // rows; unfused, a B read in place (few output channels)
                pointwise(3, 17, 5, 5, 7),       // tiny
                pointwise(2, 33, 9, 13, 3));     // three output channels: unfused, rows streamed
    }

    static Conv2dGeometry pointwise(int n, int c, int h, int w, int k) {
        return new Conv2dGeometry(n, c, h, w, k, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
    }

    @ParameterizedTest
    @MethodSource("geometries")
    void fusedPrologueMatchesAffineThenConv(Conv2dGeometry g) {
        float[] x = Parity.random(31, (int) Shapes.numel(g.inputShape()));
        x[x.length / 3] = Float.NaN;
        x[x.length / 2] = -0f;
        float[] w = Parity.random(32, (int) Shapes.numel(g.weightShape()));
        float[] b = Parity.random(33, g.k());
        float[] scale = Parity.random(34, g.c()), shift = Parity.random(35, g.c());
        scale[0] = 0f;
        scale[g.c() - 1] = -1.5f;
        Object[][] pres = {{null, 0f, 0f}, {Activation.RELU, 0f, 0f}, {Activation.CLIP, 0f, 6f}, {Activation.CLIP, -0.2f, 0.1f}};
        Object[][] acts = {{null, 0f, 0f}, {Activation.RELU, 0f, 0f}, {Activation.CLIP, 0f, 6f}};
        int threads = CpuNative.salient_get_num_threads();
        try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape()); Tensor tb = B.upload(b, g.k());
                Tensor ts = B.upload(scale, g.c()); Tensor tsh = B.upload(shift, g.c()); Tensor t = B.allocate(g.inputShape());
                Tensor want = B.allocate(g.outputShape()); Tensor got = B.allocate(g.outputShape())) {
            for (int nt = 1; nt <= 3; nt++) {
                CpuNative.salient_set_num_threads(nt);
                final int threadCount = nt;
                Conv2dTest.atEachIsa(() -> {
                    for (Object[] p : pres)
                        for (Object[] a : acts)
                            for (Tensor sh : new Tensor[] {tsh, null})
                                for (Tensor bias : new Tensor[] {tb, null}) {
                                    Activation pk = (Activation) p[0], ak = (Activation) a[0];
                                    float plo = (Float) p[1], phi = (Float) p[2], lo = (Float) a[1], hi = (Float) a[2];
                                    if (pk == null) B.channelAffine(tx, ts, sh, t);
                                    else B.channelAffineActivation(tx, ts, sh, t, pk, plo, phi);
                                    if (ak == null) B.conv2dForward(t, tw, bias, want, g);
                                    else B.conv2dForwardActivation(t, tw, bias, want, g, ak, lo, hi);
                                    B.fill(got, Float.NaN);  // must be overwritten
                                    B.conv2dForwardPrologue(tx, ts, sh, pk, plo, phi, tw, bias, got, g, ak, lo, hi);
                                    assertArrayEquals(want.toArray(), got.toArray(), "prologue " + pk + "(" + plo + ", " + phi
                                            + ")" + (sh == null ? " no shift" : "") + ", " + ak + "(" + lo + ", " + hi + ")"
                                            + (bias == null ? " no bias" : "") + ", " + threadCount + " threads, " + g);
                                }
                });
            }
        } finally {
            CpuNative.salient_set_num_threads(threads);
        }
    }

    /** The composed default (what a backend that does not fuse runs) gives the fused bits too. */
    @Test
    void composedDefaultMatchesTheFusedStep() {
        Conv2dGeometry g = pointwise(3, 20, 6, 7, 9);
        // the CPU backend, but for the prologue's two default methods
        Backend composed = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, m, args) -> m.getName().matches("fusesConvPrologue|conv2dForwardPrologue")
                        ? InvocationHandler.invokeDefault(proxy, m, args) : m.invoke(B, args));
        assertFalse(composed.fusesConvPrologue());
        float[] x = Parity.random(41, (int) Shapes.numel(g.inputShape()));
        try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(Parity.random(42, 180), g.weightShape());
                Tensor ts = B.upload(Parity.random(43, 20), 20); Tensor tsh = B.upload(Parity.random(44, 20), 20);
                Tensor want = B.allocate(g.outputShape()); Tensor got = B.allocate(g.outputShape())) {
            B.conv2dForwardPrologue(tx, ts, tsh, Activation.RELU, 0f, 0f, tw, null, want, g, Activation.CLIP, 0f, 6f);
            composed.conv2dForwardPrologue(tx, ts, tsh, Activation.RELU, 0f, 0f, tw, null, got, g, Activation.CLIP, 0f, 6f);
            assertArrayEquals(want.toArray(), got.toArray());
        }
    }

    @Test
    void badInputGetsOneLine() {
        Conv2dGeometry g = pointwise(2, 8, 5, 6, 4);
        Conv2dGeometry wide = new Conv2dGeometry(2, 8, 5, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
        try (Tensor tx = B.zeros(g.inputShape()); Tensor tw = B.zeros(g.weightShape()); Tensor ww = B.zeros(wide.weightShape());
                Tensor ts = B.zeros(8); Tensor short_ = B.zeros(7); Tensor y = B.zeros(g.outputShape());
                Tensor big = B.zeros(2 * 8 * 5 * 6)) {
            SalientException e = assertThrows(SalientException.class, () -> B.conv2dForwardPrologue(tx, ts, null, null, 0f, 0f,
                    ww, null, y, wide, null, 0f, 0f));
            assertTrue(e.getMessage().contains("not a pointwise conv"), e.getMessage());
            e = assertThrows(SalientException.class, () -> B.conv2dForwardPrologue(tx, short_, null, null, 0f, 0f, tw, null, y,
                    g, null, 0f, 0f));
            assertTrue(e.getMessage().contains("scale has 7 values for 8 channels"), e.getMessage());
            e = assertThrows(SalientException.class, () -> B.conv2dForwardPrologue(tx, ts, short_, null, 0f, 0f, tw, null, y,
                    g, null, 0f, 0f));
            assertTrue(e.getMessage().contains("shift has 7 values for 8 channels"), e.getMessage());
            e = assertThrows(SalientException.class, () -> B.conv2dForwardPrologue(tx, ts, null, Activation.SIGMOID, 0f, 0f,
                    tw, null, y, g, null, 0f, 0f));
            assertTrue(e.getMessage().contains("is not fused"), e.getMessage());
            Tensor in = TensorViews.viewAt(big, 0, g.inputShape()), out = TensorViews.viewAt(big, 0, new long[] {2, 4, 5, 6});
            e = assertThrows(SalientException.class, () -> B.conv2dForwardPrologue(in, ts, null, null, 0f, 0f, tw, null, out,
                    g, null, 0f, 0f));
            assertTrue(e.getMessage().contains("overlaps the input"), e.getMessage());
        }
    }
}
