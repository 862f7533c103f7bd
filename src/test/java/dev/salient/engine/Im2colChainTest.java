package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The im2col convs' contract (native/cpu/conv2d.cpp, README "Determinism"): every output is one
 * chain {@code acc = fma(w[k,c,r,s], x[n,c,ih,iw], acc)} over the taps of its group in (c, r, s)
 * order from 0 (x is 0 in the padding), then the bias is added, then the activation. The column
 * matrix of a work item of output rows is built straight into the GEMM's packed panels
 * (im2col_pack), so this holds each conv that takes that path (kernels wider than 1x1 that are not
 * depthwise and not Winograd: stems, strided and dilated convs) to the chain written out in Java,
 * bit for bit: on one and two threads (whole images, or one image's rows split over the threads),
 * at each instruction set the processor has. A tap read from the wrong place, a pad taken as a
 * value or a panel lane left stale changes the bits.
 */
class Im2colChainTest {
    static final Backend B = Engine.cpu();

    static Stream<Conv2dGeometry> geometries() {
        return Stream.of(
                // (n, c, h, w, k, r, s, sh, sw, pt, pl, pb, pr, dh, dw, groups)
                new Conv2dGeometry(1, 3, 40, 38, 16, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1),   // ResNet's stem, one image
                new Conv2dGeometry(3, 3, 37, 35, 8, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1),    // ... a batch, odd sides
                new Conv2dGeometry(2, 3, 33, 31, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1),   // MobileNetV2's stem
                new Conv2dGeometry(1, 16, 30, 29, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1),  // 3x3 stride 2, rows split
                new Conv2dGeometry(2, 12, 21, 23, 10, 3, 3, 2, 2, 0, 1, 2, 0, 1, 1, 2),  // groups, uneven pads
                new Conv2dGeometry(1, 4, 19, 40, 6, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1),    // dilation 2, stride 1
                new Conv2dGeometry(2, 5, 11, 9, 7, 5, 5, 1, 1, 3, 1, 0, 4, 1, 1, 1),     // pads beyond the kernel
                new Conv2dGeometry(1, 2, 9, 70, 3, 3, 5, 3, 2, 1, 2, 1, 2, 1, 1, 1),     // stride 3x2, long rows
                new Conv2dGeometry(1, 40, 12, 12, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1)); // k > 256 taps: two k blocks
    }

    /** The chain of every output of g, then + bias, then Relu when relu. */
    static float[] chain(Conv2dGeometry g, float[] x, float[] w, float[] bias, boolean relu) {
        int cg = g.c() / g.groups(), kg = g.k() / g.groups(), oh = g.outH(), ow = g.outW();
        float[] y = new float[g.n() * g.k() * oh * ow];
        for (int n = 0; n < g.n(); n++)
            for (int k = 0; k < g.k(); k++) {
                int c0 = k / kg * cg;
                for (int p = 0; p < oh; p++)
                    for (int q = 0; q < ow; q++) {
                        float acc = 0f;
                        for (int c = 0; c < cg; c++)
                            for (int r = 0; r < g.r(); r++)
                                for (int s = 0; s < g.s(); s++) {
                                    int ih = p * g.strideH() - g.padTop() + r * g.dilationH();
                                    int iw = q * g.strideW() - g.padLeft() + s * g.dilationW();
                                    float xv = ih < 0 || ih >= g.h() || iw < 0 || iw >= g.w() ? 0f
                                            : x[((n * g.c() + c0 + c) * g.h() + ih) * g.w() + iw];
                                    acc = Math.fma(w[((k * cg + c) * g.r() + r) * g.s() + s], xv, acc);
                                }
                        float v = bias == null ? acc : acc + bias[k];
                        if (relu) v = v < 0f ? 0f : v;
                        y[((n * g.k() + k) * oh + p) * ow + q] = v;
                    }
            }
        return y;
    }

    @ParameterizedTest
    @MethodSource("geometries")
    void everyOutputIsItsTapChainThenBiasThenActivation(Conv2dGeometry g) {
        float[] x = Parity.random(21, (int) Shapes.numel(g.inputShape()));
        float[] w = Parity.random(22, (int) Shapes.numel(g.weightShape()));
        float[] b = Parity.random(23, g.k());
        CanonicalGemmTest.onOneAndTwoThreads(() -> {
            for (float[] bias : new float[][] {b, null})
                for (boolean relu : new boolean[] {false, true})
                    try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape());
                            Tensor tb = bias == null ? null : B.upload(bias, g.k()); Tensor ty = B.allocate(g.outputShape())) {
                        B.fill(ty, Float.NaN);
                        if (relu) B.conv2dForwardActivation(tx, tw, tb, ty, g, Activation.RELU, 0f, 0f);
                        else B.conv2dForward(tx, tw, tb, ty, g);
                        float[] want = chain(g, x, w, bias, relu), got = ty.toArray();
                        for (int i = 0; i < want.length; i++)
                            if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i]))
                                fail(g + (bias == null ? " no bias" : "") + (relu ? " relu" : "") + ", threads "
                                        + CpuNative.salient_get_num_threads() + ", isa " + CpuNative.salient_get_isa()
                                        + ": output " + i + " is " + got[i] + ", its chain gives " + want[i]);
                    }
        });
    }
}
