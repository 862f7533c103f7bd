package dev.salient.engine;

import static dev.salient.engine.DepthwiseFlatTest.assertBits;
import static dev.salient.engine.DepthwiseFlatTest.chain;

import org.junit.jupiter.api.Test;

/**
 * Stride-2 3x3 depthwise convs give, on every path and instruction set, the chain of
 * DepthwiseFlatTest.chain over the zero-padded window: on AVX-512 the rows path (inputs of up to 16
 * MiB onto rows of at least 12 outputs: each input row's taps split by permutes from loads where it
 * lies, the columns and rows outside the plane read as zeros), the channel lanes (the rest), and the
 * AVX2 phase planes. Planes with odd and even sides, symmetric and one-sided pads, rows of one
 * vector with and without a tail and of several vectors, the fused residual and Clip, and a batch
 * large enough (17.6 MiB) for the channel lanes, whose images must have the bits they have alone.
 */
class DepthwiseStride2Test {
    static final Backend B = Engine.cpu();

    /** {h, w, pad top, pad left, pad bottom, pad right} */
    static final int[][] CASES = {{24, 24, 1, 1, 1, 1}, {25, 23, 1, 1, 1, 1}, {56, 56, 1, 1, 1, 1},
        {57, 70, 0, 0, 1, 1}, {40, 112, 1, 1, 1, 1}, {33, 97, 0, 1, 1, 0}, {14, 14, 1, 1, 1, 1}, {9, 13, 1, 1, 1, 1}};

    /** y = the depthwise 3x3 stride-2 conv of x (n, c, h, w) with w (c, 9) and bias, the window's taps past the plane 0. */
    static float[] reference(float[] x, float[] w, float[] bias, int n, int c, Conv2dGeometry g) {
        int h = g.h(), wd = g.w(), oh = g.outH(), ow = g.outW();
        float[] y = new float[n * c * oh * ow];
        float[] u = new float[9];
        for (int pl = 0; pl < n * c; pl++) {
            int kk = pl % c;
            for (int p = 0; p < oh; p++)
                for (int q = 0; q < ow; q++) {
                    for (int t = 0; t < 9; t++) {
                        int i = 2 * p - g.padTop() + t / 3, j = 2 * q - g.padLeft() + t % 3;
                        u[t] = i < 0 || i >= h || j < 0 || j >= wd ? 0f : x[(pl * h + i) * wd + j];
                    }
                    y[(pl * oh + p) * ow + q] = chain(w, kk * 9, u, bias[kk]);
                }
        }
        return y;
    }

    static Conv2dGeometry geometry(int n, int c, int[] k) {
        return new Conv2dGeometry(n, c, k[0], k[1], c, 3, 3, 2, 2, k[2], k[3], k[4], k[5], 1, 1, c);
    }

    @Test
    void everyPathGivesTheChainOverTheZeroPaddedWindow() {
        int n = 2, c = 18;  // a block of 16 channels and one of 2 for the lanes
        for (int[] k : CASES) {
            Conv2dGeometry g = geometry(n, c, k);
            float[] x = Parity.random(31 + k[0], n * c * k[0] * k[1]);
            float[] w = Parity.random(32 + k[1], c * 9);
            float[] bias = Parity.random(33, c);
            float[] z = Parity.random(34, n * c * g.outH() * g.outW());
            float[] want = reference(x, w, bias, n, c, g);
            float[] clipped = new float[want.length];
            for (int i = 0; i < want.length; i++) clipped[i] = Math.min(6f, Math.max(0f, want[i] + z[i]));
            String at = java.util.Arrays.toString(k);
            Conv2dTest.atEachIsa(() -> {
                String isa = " isa " + CpuNative.salient_get_isa() + " " + at;
                try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape());
                        Tensor tb = B.upload(bias, c); Tensor tz = B.upload(z, g.outputShape());
                        Tensor ty = B.allocate(g.outputShape())) {
                    B.fill(ty, Float.NaN); // must be overwritten
                    B.conv2dForward(tx, tw, tb, ty, g);
                    assertBits(want, ty.toArray(), "forward" + isa);
                    B.fill(ty, Float.NaN);
                    B.conv2dForwardSum(tx, tw, tb, tz, ty, g, Activation.CLIP, 0f, 6f);
                    assertBits(clipped, ty.toArray(), "with residual and Clip" + isa);
                }
            });
        }
    }

    @Test
    void imagesOfALargeBatchHaveTheirBitsAlone() {
        int c = 32;
        int[] k = {56, 60, 1, 1, 1, 1};
        int n = 42;  // 42 x 32 x 56 x 60 floats: 17.2 MiB, past the rows path's 16
        Conv2dGeometry g = geometry(n, c, k), two = geometry(2, c, k);
        float[] x = Parity.random(41, n * c * k[0] * k[1]);
        float[] w = Parity.random(42, c * 9);
        float[] bias = Parity.random(43, c);
        float[] want = reference(java.util.Arrays.copyOf(x, 2 * c * k[0] * k[1]), w, bias, 2, c, two);
        Conv2dTest.atEachIsa(() -> {
            for (Conv2dGeometry gg : new Conv2dGeometry[] {two, g}) {
                float[] xs = gg == g ? x : java.util.Arrays.copyOf(x, 2 * c * k[0] * k[1]);
                try (Tensor tx = B.upload(xs, gg.inputShape()); Tensor tw = B.upload(w, gg.weightShape());
                        Tensor tb = B.upload(bias, c); Tensor ty = B.allocate(gg.outputShape())) {
                    B.fill(ty, Float.NaN);
                    B.conv2dForward(tx, tw, tb, ty, gg);
                    assertBits(want, java.util.Arrays.copyOf(ty.toArray(), want.length),
                            "images 0-1 of a batch of " + gg.n() + ", isa " + CpuNative.salient_get_isa());
                }
            }
        });
    }
}
