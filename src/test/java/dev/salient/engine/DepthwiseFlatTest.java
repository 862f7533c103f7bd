package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * Stride-1 3x3 depthwise convs with padding 1 give, on every instruction set, the phase path's
 * sum bit for bit: (bias + taps 0-2) + ((taps 3-5) + (taps 6-8)), each a fused chain, the taps
 * past the plane reading zero. The flat kernels (AVX-512 up to 112x112, AVX2 up to 8x8), the AVX2
 * two-row kernel (past 8x8) and the phase planes all owe that chain; here it is written out with
 * Math.fma, so the check holds on a machine with one instruction set as on one with both
 * (IsaInvarianceTest compares the two sets where there are two). Planes on both sides of the AVX2
 * bound, with tails of 1-7 lanes, the fused Clip and residual epilogues, and the data gradient (the
 * same conv of dy with the filters flipped). On planes of under 64 positions that are not whole
 * vectors, AVX-512 runs G channels at a time (G planes end to end in whole vectors, the weights per
 * lane): 37 channels there are two groups of 16 and 5 planes alone (7x7, 7x9, 3x5, 1x1), or nine
 * groups of 4 and one alone (6x6).
 */
class DepthwiseFlatTest {
    static final Backend B = Engine.cpu();

    // AVX2: up to 8x8 the flat kernel; past it the two-row kernel, here with one row (70), two (the
    // top and bottom pads in one pair), odd rows, rows of one vector (8) and of a vector and a tail
    static final int[][] PLANES = {{1, 1}, {3, 5}, {7, 7}, {13, 11}, {14, 14}, {28, 28}, {29, 29}, {9, 40},
        {1, 70}, {2, 40}, {5, 17}, {11, 8}, {6, 6}, {7, 9}};

    /** The chain of one output: u[t] the input at tap t (0 past the plane), w the 9 weights. */
    static float chain(float[] w, int wo, float[] u, float b) {
        float a1 = w[wo + 3] * u[3];
        float a2 = w[wo + 6] * u[6];
        float acc = Math.fma(w[wo], u[0], b);
        a1 = Math.fma(w[wo + 4], u[4], a1);
        a2 = Math.fma(w[wo + 7], u[7], a2);
        acc = Math.fma(w[wo + 1], u[1], acc);
        a1 = Math.fma(w[wo + 5], u[5], a1);
        a2 = Math.fma(w[wo + 8], u[8], a2);
        acc = Math.fma(w[wo + 2], u[2], acc);
        return acc + (a1 + a2);
    }

    /** y = the depthwise 3x3 stride-1 pad-1 conv of x (n, c, h, w) with w (c, 9), bias or null. */
    static float[] reference(float[] x, float[] w, float[] bias, int n, int c, int h, int wd) {
        float[] y = new float[x.length];
        float[] u = new float[9];
        for (int pl = 0; pl < n * c; pl++) {
            int kk = pl % c;
            for (int p = 0; p < h; p++)
                for (int q = 0; q < wd; q++) {
                    for (int t = 0; t < 9; t++) {
                        int i = p + t / 3 - 1, j = q + t % 3 - 1;
                        u[t] = i < 0 || i >= h || j < 0 || j >= wd ? 0f : x[(pl * h + i) * wd + j];
                    }
                    y[(pl * h + p) * wd + q] = chain(w, kk * 9, u, bias == null ? 0f : bias[kk]);
                }
        }
        return y;
    }

    static void assertBits(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++)
            assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]),
                    what + " element " + i + ": " + want[i] + " vs " + got[i]);
    }

    @Test
    void forwardEpiloguesAndDataGradientAreThePhaseChainBitForBit() {
        int n = 2;
        for (int c : new int[] {5, 37})
        for (int[] hw : PLANES) {
            int h = hw[0], wd = hw[1];
            if (c > 5 && h * wd >= 64) continue;
            Conv2dGeometry g = new Conv2dGeometry(n, c, h, wd, c, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, c);
            float[] x = Parity.random(21 + h, n * c * h * wd);
            float[] w = Parity.random(22 + wd, c * 9);
            float[] bias = Parity.random(23, c);
            float[] z = Parity.random(24, x.length);
            float[] want = reference(x, w, bias, n, c, h, wd);
            String at = h + "x" + wd + ", " + c + " channels";
            try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape());
                    Tensor tb = B.upload(bias, c); Tensor tz = B.upload(z, g.outputShape());
                    Tensor ty = B.allocate(g.outputShape())) {
                B.conv2dForward(tx, tw, tb, ty, g);
                assertBits(want, ty.toArray(), "forward " + at);

                B.conv2dForwardActivation(tx, tw, tb, ty, g, Activation.CLIP, -0.3f, 0.4f);
                float[] clipped = want.clone();
                for (int i = 0; i < clipped.length; i++) clipped[i] = clipped[i] < -0.3f ? -0.3f : (clipped[i] > 0.4f ? 0.4f : clipped[i]);
                assertBits(clipped, ty.toArray(), "forward + Clip " + at);

                B.conv2dForwardSum(tx, tw, tb, tz, ty, g, Activation.RELU, 0f, 0f);
                float[] summed = want.clone();
                for (int i = 0; i < summed.length; i++) {
                    float v = summed[i] + z[i];
                    summed[i] = v < 0f ? 0f : v;
                }
                assertBits(summed, ty.toArray(), "forward + residual + Relu " + at);

                // the data gradient: the same conv of dy with each filter flipped, from zero
                float[] flipped = new float[w.length];
                for (int kk = 0; kk < c; kk++)
                    for (int t = 0; t < 9; t++) flipped[kk * 9 + t] = w[kk * 9 + 8 - t];
                try (Tensor tdx = B.allocate(g.inputShape())) {
                    B.conv2dBackwardData(tz, tw, tdx, g);
                    assertBits(reference(z, flipped, null, n, c, h, wd), tdx.toArray(), "data gradient " + at);
                }
            }
        }
    }
}
