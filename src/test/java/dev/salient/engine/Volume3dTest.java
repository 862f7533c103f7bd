package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * conv3d and 3-D max/average pooling on the CPU: forward and data gradient against direct
 * double-precision references, the data gradients also against central finite differences of
 * {@code <dy, op(x)>}, a depth-1 conv3d against conv2d, and the fused activation against the
 * composed one.
 */
class Volume3dTest {
    static final Backend B = Engine.cpu();

    static int[] v(int d, int h, int w) {
        return new int[] {d, h, w};
    }

    // n, c, k, groups, in, kernel, stride, padBegin, padEnd, dilation
    static Stream<Conv3dGeometry> convs() {
        return Stream.of(
                new Conv3dGeometry(2, 3, 4, 1, v(5, 6, 7), v(3, 3, 3), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)),
                new Conv3dGeometry(1, 2, 3, 1, v(7, 8, 9), v(3, 5, 3), v(2, 2, 1), v(0, 2, 1), v(1, 1, 2), v(1, 1, 2)),
                new Conv3dGeometry(2, 4, 6, 2, v(6, 5, 6), v(3, 3, 3), v(1, 2, 2), v(1, 1, 1), v(1, 0, 1), v(2, 1, 1)),
                new Conv3dGeometry(1, 4, 4, 4, v(5, 6, 6), v(3, 3, 3), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)),
                new Conv3dGeometry(2, 6, 5, 1, v(4, 5, 5), v(1, 1, 1), v(1, 1, 1), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1)),
                new Conv3dGeometry(2, 6, 4, 1, v(5, 6, 7), v(1, 1, 1), v(2, 2, 2), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1)),
                new Conv3dGeometry(1, 3, 4, 1, v(8, 16, 15), v(3, 7, 7), v(1, 2, 2), v(1, 3, 3), v(1, 3, 3), v(1, 1, 1)),
                new Conv3dGeometry(1, 1, 1, 1, v(3, 3, 4), v(3, 3, 4), v(1, 1, 1), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1)),
                new Conv3dGeometry(1, 2, 3, 1, v(4, 4, 4), v(2, 3, 3), v(1, 1, 1), v(3, 0, 2), v(2, 1, 0), v(1, 1, 1)),
                // > 2 MFLOP: the threaded paths (depth blocks per thread; one image: shared col2vol)
                new Conv3dGeometry(1, 16, 16, 1, v(8, 14, 14), v(3, 3, 3), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)),
                new Conv3dGeometry(3, 8, 12, 2, v(6, 12, 12), v(3, 3, 3), v(2, 2, 2), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)),
                // the fast paths (native/cpu/conv3d_winograd.cpp, conv3d_implicit.cpp) at their edges:
                // Winograd with a depth stride and dilation (its data gradient on vol2col), uneven pads
                new Conv3dGeometry(1, 8, 8, 1, v(7, 6, 9), v(3, 3, 3), v(2, 1, 1), v(1, 1, 0), v(0, 2, 1), v(2, 1, 1)),
                // Winograd with 5 depth taps, depth pads past the kernel's reach, 10 outputs, 9 inputs
                new Conv3dGeometry(2, 9, 10, 1, v(4, 10, 11), v(5, 3, 3), v(1, 1, 1), v(3, 0, 2), v(2, 2, 0), v(1, 1, 1)),
                // Winograd F(4x4, 3x3) both ways (planes of 32 of its tiles or more): uneven pads, rows
                // that end inside a tile, 2 images; then with a depth stride (its data gradient on vol2col)
                new Conv3dGeometry(2, 9, 12, 1, v(4, 21, 27), v(3, 3, 3), v(1, 1, 1), v(1, 0, 2), v(0, 2, 1), v(1, 1, 1)),
                new Conv3dGeometry(1, 8, 10, 1, v(5, 23, 30), v(3, 3, 3), v(2, 1, 1), v(1, 2, 0), v(1, 1, 2), v(1, 1, 1)),
                // implicit GEMM: in-plane stride 2, dilations, groups, rows longer than one 16-wide tile
                new Conv3dGeometry(2, 4, 6, 2, v(5, 7, 30), v(2, 3, 3), v(2, 1, 2), v(1, 0, 1), v(0, 1, 2), v(1, 2, 2)),
                new Conv3dGeometry(1, 3, 5, 1, v(4, 9, 40), v(3, 5, 3), v(1, 2, 3), v(1, 2, 1), v(1, 2, 1), v(1, 1, 1)),
                // with AVX-512, the direct kernel (output channels in the lanes) in each of its tiles:
                // 32 channels x 14 outputs, stride 2, rows of 15 (a last block of one output)
                new Conv3dGeometry(2, 5, 32, 1, v(4, 10, 30), v(3, 3, 3), v(1, 2, 2), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)),
                // 64 x 7 with 60 filters (4 lanes empty), stride 2 and dilation 2 in-plane, rows of 5
                new Conv3dGeometry(1, 3, 60, 1, v(3, 6, 12), v(3, 3, 3), v(1, 1, 2), v(1, 1, 1), v(1, 1, 1), v(1, 2, 2)),
                // 16 x 28, grouped (16 filters a group), stride 1 with a 3x5 plane kernel, uneven pads
                new Conv3dGeometry(2, 4, 32, 2, v(3, 8, 40), v(2, 3, 5), v(1, 1, 1), v(1, 1, 2), v(0, 1, 2), v(1, 1, 1)),
                // a strided pointwise conv read in place (the last image's last block from a copy: its
                // dropped lanes would read past the input), and one with pads (from the copy)
                new Conv3dGeometry(2, 6, 32, 1, v(5, 9, 30), v(1, 1, 1), v(2, 2, 2), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1)),
                new Conv3dGeometry(1, 4, 48, 1, v(4, 6, 8), v(1, 1, 1), v(1, 2, 2), v(0, 1, 1), v(0, 1, 1), v(1, 1, 1)));
    }

    // n, c, in, kernel, stride, padBegin, padEnd, dilation, out (floor or ceil), countIncludePad
    static Stream<Pool3dGeometry> pools() {
        return Stream.of(
                new Pool3dGeometry(2, 3, v(5, 6, 7), v(2, 2, 2), v(2, 2, 2), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1), v(2, 3, 3), false),
                new Pool3dGeometry(1, 2, v(6, 7, 8), v(3, 3, 3), v(2, 2, 2), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1), v(3, 4, 4), false),
                new Pool3dGeometry(1, 2, v(6, 7, 8), v(3, 3, 3), v(2, 2, 2), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1), v(3, 4, 4), true),
                // ceil mode: the last window overhangs the padded input
                new Pool3dGeometry(2, 2, v(5, 5, 6), v(2, 3, 2), v(2, 2, 2), v(0, 1, 0), v(0, 1, 0), v(1, 1, 1), v(3, 3, 3), true),
                new Pool3dGeometry(1, 3, v(7, 6, 6), v(3, 2, 2), v(1, 2, 1), v(1, 0, 1), v(1, 0, 0), v(2, 1, 2), v(5, 3, 5), false),
                new Pool3dGeometry(2, 4, v(4, 5, 6), v(4, 5, 6), v(1, 1, 1), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1), v(1, 1, 1), false));
    }

    static int numel(long[] s) {
        long n = 1;
        for (long d : s) n *= d;
        return (int) n;
    }

    // ---- references (double precision)

    static double[] convRef(float[] x, float[] w, float[] bias, Conv3dGeometry g) {
        long[] os = g.outputShape();
        int od = (int) os[2], oh = (int) os[3], ow = (int) os[4];
        int cg = g.c() / g.groups(), kg = g.k() / g.groups();
        int[] in = g.in(), ks = g.kernel(), st = g.stride(), pb = g.padBegin(), dl = g.dilation();
        double[] y = new double[numel(os)];
        int i = 0;
        for (int n = 0; n < g.n(); n++)
            for (int k = 0; k < g.k(); k++)
                for (int z = 0; z < od; z++)
                    for (int p = 0; p < oh; p++)
                        for (int q = 0; q < ow; q++, i++) {
                            double acc = bias == null ? 0 : bias[k];
                            for (int c = 0; c < cg; c++)
                                for (int t = 0; t < ks[0]; t++)
                                    for (int r = 0; r < ks[1]; r++)
                                        for (int s = 0; s < ks[2]; s++) {
                                            int iz = z * st[0] - pb[0] + t * dl[0], ih = p * st[1] - pb[1] + r * dl[1],
                                                    iw = q * st[2] - pb[2] + s * dl[2];
                                            if (iz < 0 || iz >= in[0] || ih < 0 || ih >= in[1] || iw < 0 || iw >= in[2])
                                                continue;
                                            int ci = (k / kg) * cg + c;
                                            acc += (double) w[(((k * cg + c) * ks[0] + t) * ks[1] + r) * ks[2] + s]
                                                    * x[(((n * g.c() + ci) * in[0] + iz) * in[1] + ih) * in[2] + iw];
                                        }
                            y[i] = acc;
                        }
        return y;
    }

    /** The transpose of convRef, by scattering each output's gradient into its window. */
    static double[] convTRef(float[] dy, float[] w, Conv3dGeometry g) {
        long[] os = g.outputShape();
        int od = (int) os[2], oh = (int) os[3], ow = (int) os[4];
        int cg = g.c() / g.groups(), kg = g.k() / g.groups();
        int[] in = g.in(), ks = g.kernel(), st = g.stride(), pb = g.padBegin(), dl = g.dilation();
        double[] dx = new double[numel(g.inputShape())];
        int i = 0;
        for (int n = 0; n < g.n(); n++)
            for (int k = 0; k < g.k(); k++)
                for (int z = 0; z < od; z++)
                    for (int p = 0; p < oh; p++)
                        for (int q = 0; q < ow; q++, i++)
                            for (int c = 0; c < cg; c++)
                                for (int t = 0; t < ks[0]; t++)
                                    for (int r = 0; r < ks[1]; r++)
                                        for (int s = 0; s < ks[2]; s++) {
                                            int iz = z * st[0] - pb[0] + t * dl[0], ih = p * st[1] - pb[1] + r * dl[1],
                                                    iw = q * st[2] - pb[2] + s * dl[2];
                                            if (iz < 0 || iz >= in[0] || ih < 0 || ih >= in[1] || iw < 0 || iw >= in[2])
                                                continue;
                                            int ci = (k / kg) * cg + c;
                                            dx[(((n * g.c() + ci) * in[0] + iz) * in[1] + ih) * in[2] + iw] +=
                                                    (double) w[(((k * cg + c) * ks[0] + t) * ks[1] + r) * ks[2] + s] * dy[i];
                                        }
        return dx;
    }

    /** Pool reference: forward values and, given dy, the routed or spread gradient. */
    static double[][] poolRef(float[] x, float[] dy, Pool3dGeometry g, boolean max) {
        int[] in = g.in(), ks = g.kernel(), st = g.stride(), pb = g.padBegin(), pe = g.padEnd(), dl = g.dilation(), o = g.out();
        double[] y = new double[numel(g.outputShape())], dx = new double[x.length];
        int i = 0;
        int vol = in[0] * in[1] * in[2];
        for (int pl = 0; pl < g.n() * g.c(); pl++)
            for (int z = 0; z < o[0]; z++)
                for (int p = 0; p < o[1]; p++)
                    for (int q = 0; q < o[2]; q++, i++) {
                        double best = Double.NEGATIVE_INFINITY, sum = 0;
                        int at = -1, inside = 0, padded = 0;
                        java.util.List<Integer> taps = new java.util.ArrayList<>();
                        for (int t = 0; t < ks[0]; t++)
                            for (int r = 0; r < ks[1]; r++)
                                for (int s = 0; s < ks[2]; s++) {
                                    int iz = z * st[0] - pb[0] + t * dl[0], ih = p * st[1] - pb[1] + r * dl[1],
                                            iw = q * st[2] - pb[2] + s * dl[2];
                                    if (iz >= -pb[0] && iz < in[0] + pe[0] && ih >= -pb[1] && ih < in[1] + pe[1]
                                            && iw >= -pb[2] && iw < in[2] + pe[2])
                                        padded++;
                                    if (iz < 0 || iz >= in[0] || ih < 0 || ih >= in[1] || iw < 0 || iw >= in[2]) continue;
                                    int idx = pl * vol + (iz * in[1] + ih) * in[2] + iw;
                                    inside++;
                                    sum += x[idx];
                                    taps.add(idx);
                                    if (at < 0 || x[idx] > best) {
                                        best = x[idx];
                                        at = idx;
                                    }
                                }
                        if (max) {
                            y[i] = best;
                            if (at >= 0 && dy != null) dx[at] += dy[i];
                        } else {
                            int cnt = g.countIncludePad() ? padded : inside;
                            y[i] = cnt > 0 ? sum / cnt : 0;
                            if (cnt > 0 && dy != null) for (int idx : taps) dx[idx] += (double) dy[i] / cnt;
                        }
                    }
        return new double[][] {y, dx};
    }

    // ---- conv3d

    @ParameterizedTest
    @MethodSource("convs")
    void convForwardAndDataGradientMatchReference(Conv3dGeometry g) {
        float[] x = Parity.random(1, numel(g.inputShape())), w = Parity.random(2, numel(g.weightShape()));
        float[] bias = Parity.random(3, g.k()), dy = Parity.random(4, numel(g.outputShape()));
        try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape());
                Tensor tb = B.upload(bias, g.k()); Tensor ty = B.allocate(g.outputShape());
                Tensor tdy = B.upload(dy, g.outputShape()); Tensor tdx = B.allocate(g.inputShape())) {
            B.conv3dForward(tx, tw, tb, ty, g);
            Parity.assertClose("conv3d forward " + g, ty.toArray(), convRef(x, w, bias, g), 1e-4, 1e-4);
            B.fill(tdx, Float.NaN); // must be overwritten
            B.conv3dBackwardData(tdy, tw, tdx, g);
            Parity.assertClose("conv3d backward data " + g, tdx.toArray(), convTRef(dy, w, g), 1e-4, 1e-4);
        }
    }

    /** d/dx_i <dy, conv3d(x)> by central differences at a few positions, against conv3dBackwardData. */
    @ParameterizedTest
    @MethodSource("convs")
    void convDataGradientMatchesFiniteDifferences(Conv3dGeometry g) {
        float[] x = Parity.random(5, numel(g.inputShape())), w = Parity.random(6, numel(g.weightShape()));
        float[] dy = Parity.random(7, numel(g.outputShape()));
        try (Tensor tw = B.upload(w, g.weightShape()); Tensor tdy = B.upload(dy, g.outputShape());
                Tensor tdx = B.allocate(g.inputShape()); Tensor ty = B.allocate(g.outputShape())) {
            B.conv3dBackwardData(tdy, tw, tdx, g);
            float[] dx = tdx.toArray();
            java.util.function.Function<float[], Double> f = xs -> {
                try (Tensor tx = B.upload(xs, g.inputShape())) {
                    B.conv3dForward(tx, tw, null, ty, g);
                    return Parity.dot(ty.toArray(), dy);
                }
            };
            checkFiniteDifferences("conv3d " + g, x, dx, f, 0.05f);
        }
    }

    static void checkFiniteDifferences(String what, float[] x, float[] grad, java.util.function.Function<float[], Double> f,
            float h) {
        java.util.Random rnd = new java.util.Random(9);
        for (int trial = 0; trial < 6; trial++) {
            int i = rnd.nextInt(x.length);
            float[] xp = x.clone(), xm = x.clone();
            xp[i] += h;
            xm[i] -= h;
            double fd = (f.apply(xp) - f.apply(xm)) / (xp[i] - xm[i]);
            Parity.assertClose(what + " d/dx[" + i + "]", grad[i], fd, 2e-3, 2e-3);
        }
    }

    @Test
    void depthOneConvEqualsConv2d() {
        Conv2dGeometry g2 = new Conv2dGeometry(2, 4, 9, 8, 6, 3, 3, 2, 1, 1, 0, 1, 2, 1, 2, 2);
        Conv3dGeometry g3 = new Conv3dGeometry(2, 4, 6, 2, v(1, 9, 8), v(1, 3, 3), v(1, 2, 1), v(0, 1, 0), v(0, 1, 2),
                v(1, 1, 2));
        float[] x = Parity.random(8, numel(g2.inputShape())), w = Parity.random(9, numel(g2.weightShape()));
        float[] dy = Parity.random(10, numel(g2.outputShape()));
        try (Tensor x2 = B.upload(x, g2.inputShape()); Tensor w2 = B.upload(w, g2.weightShape());
                Tensor y2 = B.allocate(g2.outputShape()); Tensor x3 = B.upload(x, g3.inputShape());
                Tensor w3 = B.upload(w, g3.weightShape()); Tensor y3 = B.allocate(g3.outputShape());
                Tensor dy2 = B.upload(dy, g2.outputShape()); Tensor dy3 = B.upload(dy, g3.outputShape());
                Tensor dx2 = B.allocate(g2.inputShape()); Tensor dx3 = B.allocate(g3.inputShape())) {
            B.conv2dForward(x2, w2, null, y2, g2);
            B.conv3dForward(x3, w3, null, y3, g3);
            Parity.assertClose("depth-1 conv3d forward", y3.toArray(), y2.toArray(), 1e-5, 1e-5);
            B.conv2dBackwardData(dy2, w2, dx2, g2);
            B.conv3dBackwardData(dy3, w3, dx3, g3);
            Parity.assertClose("depth-1 conv3d backward", dx3.toArray(), dx2.toArray(), 1e-5, 1e-5);
        }
    }

    @ParameterizedTest
    @MethodSource("convs")
    void fusedActivationMatchesConvThenActivation(Conv3dGeometry g) {
        float[] x = Parity.random(11, numel(g.inputShape())), w = Parity.random(12, numel(g.weightShape()));
        x[x.length / 3] = Float.NaN;
        float[] b = Parity.random(13, g.k());
        try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape());
                Tensor tb = B.upload(b, g.k()); Tensor want = B.allocate(g.outputShape());
                Tensor got = B.allocate(g.outputShape())) {
            for (Activation kind : new Activation[] {Activation.RELU, Activation.CLIP}) {
                B.conv3dForward(tx, tw, tb, want, g);
                B.activationForward(kind, want, want, -0.2f, 0.1f);
                B.fill(got, Float.NaN);
                B.conv3dForwardActivation(tx, tw, tb, got, g, kind, -0.2f, 0.1f);
                assertArrayEquals(want.toArray(), got.toArray(), "fused " + kind + " " + g);
            }
        }
    }

    /** conv3dForwardSum is bit for bit conv3dForward, binary Add and the activation (none, Relu, Clip). */
    @ParameterizedTest
    @MethodSource("convs")
    void fusedSumMatchesConvThenAddThenActivation(Conv3dGeometry g) {
        float[] x = Parity.random(31, numel(g.inputShape())), w = Parity.random(32, numel(g.weightShape()));
        float[] b = Parity.random(33, g.k()), z = Parity.random(34, numel(g.outputShape()));
        z[z.length / 2] = Float.NaN;
        try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape());
                Tensor tb = B.upload(b, g.k()); Tensor tz = B.upload(z, g.outputShape());
                Tensor want = B.allocate(g.outputShape()); Tensor got = B.allocate(g.outputShape())) {
            for (Activation kind : new Activation[] {null, Activation.RELU, Activation.CLIP}) {
                B.conv3dForward(tx, tw, tb, want, g);
                B.binary(BinaryOp.ADD, want, tz, want);
                if (kind != null) B.activationForward(kind, want, want, -0.2f, 0.1f);
                B.fill(got, Float.NaN);
                B.conv3dForwardSum(tx, tw, tb, tz, got, g, kind, -0.2f, 0.1f);
                assertArrayEquals(want.toArray(), got.toArray(), "fused sum " + kind + " " + g);
            }
            assertThrows(SalientException.class, () -> B.conv3dForwardSum(tx, tw, tb, tz, tz, g, null, 0f, 0f));
        }
    }

    // ---- pooling

    @ParameterizedTest
    @MethodSource("pools")
    void poolsMatchReference(Pool3dGeometry g) {
        float[] x = Parity.random(21, numel(g.inputShape())), dy = Parity.random(22, numel(g.outputShape()));
        x[3] = x[4]; // a tie: the first maximum takes the gradient
        for (boolean max : new boolean[] {true, false}) {
            double[][] ref = poolRef(x, dy, g, max);
            try (Tensor tx = B.upload(x, g.inputShape()); Tensor ty = B.allocate(g.outputShape());
                    Tensor tdy = B.upload(dy, g.outputShape()); Tensor tdx = B.allocate(g.inputShape())) {
                B.fill(tdx, Float.NaN);
                if (max) {
                    B.maxPool3dForward(tx, ty, g);
                    B.maxPool3dBackward(tx, tdy, tdx, g);
                } else {
                    B.avgPool3dForward(tx, ty, g);
                    B.avgPool3dBackward(tdy, tdx, g);
                }
                String what = (max ? "maxpool3d " : "avgpool3d ") + g;
                Parity.assertClose(what + " forward", ty.toArray(), ref[0], 1e-6, 1e-5);
                Parity.assertClose(what + " backward", tdx.toArray(), ref[1], 1e-6, 1e-5);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("pools")
    void poolGradientsMatchFiniteDifferences(Pool3dGeometry g) {
        // distinct values far apart relative to h, so no window's maximum changes under the step
        int n = numel(g.inputShape());
        float[] x = new float[n];
        java.util.List<Integer> order = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) order.add(i);
        java.util.Collections.shuffle(order, new java.util.Random(23));
        for (int i = 0; i < n; i++) x[order.get(i)] = i * 0.1f;
        float[] dy = Parity.random(24, numel(g.outputShape()));
        for (boolean max : new boolean[] {true, false}) {
            try (Tensor tdy = B.upload(dy, g.outputShape()); Tensor tdx = B.allocate(g.inputShape());
                    Tensor ty = B.allocate(g.outputShape()); Tensor tx0 = B.upload(x, g.inputShape())) {
                if (max) B.maxPool3dBackward(tx0, tdy, tdx, g);
                else B.avgPool3dBackward(tdy, tdx, g);
                java.util.function.Function<float[], Double> f = xs -> {
                    try (Tensor tx = B.upload(xs, g.inputShape())) {
                        if (max) B.maxPool3dForward(tx, ty, g);
                        else B.avgPool3dForward(tx, ty, g);
                        return Parity.dot(ty.toArray(), dy);
                    }
                };
                checkFiniteDifferences((max ? "maxpool3d " : "avgpool3d ") + g, x, tdx.toArray(), f, 0.01f);
            }
        }
    }

    @Test
    void badGeometriesAreRefusedInOneLine() {
        SalientException e = assertThrows(SalientException.class,
                () -> new Conv3dGeometry(1, 3, 4, 2, v(4, 4, 4), v(3, 3, 3), v(1, 1, 1), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1)));
        assertTrue(e.getMessage().contains("groups=2"), e.getMessage());
        assertThrows(SalientException.class,
                () -> new Conv3dGeometry(1, 3, 4, 1, v(2, 4, 4), v(3, 3, 3), v(1, 1, 1), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1)));
        assertThrows(SalientException.class,
                () -> new Pool3dGeometry(1, 1, v(4, 4, 4), v(2, 2, 2), v(0, 1, 1), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1), v(2, 2, 2), false));
        assertThrows(SalientException.class,
                () -> new Conv3dGeometry(1, 3, 4, 1, new int[] {4, 4}, v(3, 3, 3), v(1, 1, 1), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1)));
        Conv3dGeometry g = new Conv3dGeometry(1, 2, 2, 1, v(3, 3, 3), v(3, 3, 3), v(1, 1, 1), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1));
        try (Tensor x = B.allocate(1, 2, 3, 3, 4); Tensor w = B.allocate(g.weightShape()); Tensor y = B.allocate(g.outputShape())) {
            SalientException s = assertThrows(SalientException.class, () -> B.conv3dForward(x, w, null, y, g));
            assertTrue(s.getMessage().startsWith("conv3dForward x: expected shape"), s.getMessage());
        }
    }
}
