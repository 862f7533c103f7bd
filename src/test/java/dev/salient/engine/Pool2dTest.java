package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** max/avg pooling forward and backward against direct references and finite differences. */
class Pool2dTest {
    static final Backend B = Engine.cpu();

    /** Output size as PyTorch/ONNX compute it; ceil mode drops a last window that starts in the right pad. */
    static int outSize(int in, int k, int s, int p0, int p1, int d, boolean ceil) {
        int span = in + p0 + p1 - ((k - 1) * d + 1);
        int out = (ceil ? (span + s - 1) / s : span / s) + 1;
        if (ceil && (out - 1) * s >= in + p0) out--;
        return out;
    }

    static Pool2dGeometry geom(int n, int c, int h, int w, int kh, int kw, int sh, int sw, int pt, int pl, int pb,
            int pr, int dh, int dw, boolean ceil, boolean includePad) {
        return new Pool2dGeometry(n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw,
                outSize(h, kh, sh, pt, pb, dh, ceil), outSize(w, kw, sw, pl, pr, dw, ceil), includePad);
    }

    static Stream<Pool2dGeometry> geometries() {
        return Stream.of(
                geom(2, 3, 8, 8, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, false, false),    // 2x2/2
                geom(2, 3, 9, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false, false),    // ResNet 3x3/2 pad 1
                geom(1, 2, 9, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false, true),     // count_include_pad
                geom(1, 2, 8, 9, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, true, false),     // ceil mode
                geom(1, 2, 8, 9, 3, 2, 2, 3, 1, 0, 1, 1, 1, 1, true, true),      // ceil + pads + include_pad
                geom(2, 2, 10, 9, 3, 3, 1, 2, 0, 1, 2, 0, 1, 1, false, true),    // asymmetric pads
                geom(1, 3, 11, 10, 3, 2, 2, 1, 2, 1, 2, 1, 2, 3, true, false),   // dilation + ceil
                geom(1, 3, 11, 10, 3, 2, 2, 1, 2, 1, 2, 1, 2, 3, true, true),    // dilation + ceil + include_pad
                // rows wide enough for the vectorised stride-2 scan (8 output columns at a time, the
                // last 8 overlapping): ResNet's 3x3/2 pad 1 on odd and even widths, 2x2/2, dilation + ceil
                geom(1, 2, 5, 45, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false, false),
                geom(2, 1, 6, 38, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false, false),
                geom(1, 2, 4, 36, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, false, false),
                geom(1, 2, 6, 41, 3, 3, 2, 2, 1, 0, 1, 1, 1, 2, true, false),
                Pool2dGeometry.global(2, 4, 5, 6));                              // global
    }

    // ---- references

    /** PyTorch's rule: running max replaced when v > max || isnan(v); returns flat plane index or -1. */
    static int argmax(float[] x, int plane, Pool2dGeometry g, int p, int q) {
        float best = Float.NEGATIVE_INFINITY;
        int idx = -1;
        for (int r = 0; r < g.kernelH(); r++)
            for (int s = 0; s < g.kernelW(); s++) {
                int ih = p * g.strideH() - g.padTop() + r * g.dilationH();
                int iw = q * g.strideW() - g.padLeft() + s * g.dilationW();
                if (ih < 0 || ih >= g.h() || iw < 0 || iw >= g.w()) continue;
                float v = x[plane * g.h() * g.w() + ih * g.w() + iw];
                if (idx < 0 || v > best || Float.isNaN(v)) {
                    best = v;
                    idx = ih * g.w() + iw;
                }
            }
        return idx;
    }

    static int divisor(Pool2dGeometry g, int p, int q) {
        int ch = 0, cw = 0;
        for (int r = 0; r < g.kernelH(); r++) {
            int ih = p * g.strideH() - g.padTop() + r * g.dilationH();
            if (g.countIncludePad() ? ih >= -g.padTop() && ih < g.h() + g.padBottom() : ih >= 0 && ih < g.h()) ch++;
        }
        for (int s = 0; s < g.kernelW(); s++) {
            int iw = q * g.strideW() - g.padLeft() + s * g.dilationW();
            if (g.countIncludePad() ? iw >= -g.padLeft() && iw < g.w() + g.padRight() : iw >= 0 && iw < g.w()) cw++;
        }
        return ch * cw;
    }

    static double[] maxRef(float[] x, Pool2dGeometry g) {
        int planes = g.n() * g.c(), o = g.outH() * g.outW();
        double[] y = new double[planes * o];
        for (int pl = 0; pl < planes; pl++)
            for (int p = 0; p < g.outH(); p++)
                for (int q = 0; q < g.outW(); q++) {
                    int i = argmax(x, pl, g, p, q);
                    y[pl * o + p * g.outW() + q] = i < 0 ? Double.NEGATIVE_INFINITY : x[pl * g.h() * g.w() + i];
                }
        return y;
    }

    static double[] maxBackRef(float[] x, float[] dy, Pool2dGeometry g) {
        int planes = g.n() * g.c(), o = g.outH() * g.outW(), hw = g.h() * g.w();
        double[] dx = new double[planes * hw];
        for (int pl = 0; pl < planes; pl++)
            for (int p = 0; p < g.outH(); p++)
                for (int q = 0; q < g.outW(); q++) {
                    int i = argmax(x, pl, g, p, q);
                    if (i >= 0) dx[pl * hw + i] += dy[pl * o + p * g.outW() + q];
                }
        return dx;
    }

    static double[] avgRef(float[] x, Pool2dGeometry g) {
        int planes = g.n() * g.c(), o = g.outH() * g.outW();
        double[] y = new double[planes * o];
        for (int pl = 0; pl < planes; pl++)
            for (int p = 0; p < g.outH(); p++)
                for (int q = 0; q < g.outW(); q++) {
                    double sum = 0;
                    for (int r = 0; r < g.kernelH(); r++)
                        for (int s = 0; s < g.kernelW(); s++) {
                            int ih = p * g.strideH() - g.padTop() + r * g.dilationH();
                            int iw = q * g.strideW() - g.padLeft() + s * g.dilationW();
                            if (ih >= 0 && ih < g.h() && iw >= 0 && iw < g.w())
                                sum += x[pl * g.h() * g.w() + ih * g.w() + iw];
                        }
                    int cnt = divisor(g, p, q);
                    y[pl * o + p * g.outW() + q] = cnt == 0 ? 0 : sum / cnt;
                }
        return y;
    }

    // ---- calls

    static float[] maxFwd(float[] x, Pool2dGeometry g) {
        try (Tensor tx = B.upload(x, g.inputShape()); Tensor ty = B.allocate(g.outputShape())) {
            B.maxPool2dForward(tx, ty, g);
            return ty.toArray();
        }
    }

    static float[] maxBwd(float[] x, float[] dy, Pool2dGeometry g) {
        try (Tensor tx = B.upload(x, g.inputShape()); Tensor tdy = B.upload(dy, g.outputShape());
                Tensor tdx = B.allocate(g.inputShape())) {
            B.fill(tdx, Float.NaN);
            B.maxPool2dBackward(tx, tdy, tdx, g);
            return tdx.toArray();
        }
    }

    static float[] avgFwd(float[] x, Pool2dGeometry g) {
        try (Tensor tx = B.upload(x, g.inputShape()); Tensor ty = B.allocate(g.outputShape())) {
            B.avgPool2dForward(tx, ty, g);
            return ty.toArray();
        }
    }

    static float[] avgBwd(float[] dy, Pool2dGeometry g) {
        try (Tensor tdy = B.upload(dy, g.outputShape()); Tensor tdx = B.allocate(g.inputShape())) {
            B.fill(tdx, Float.NaN);
            B.avgPool2dBackward(tdy, tdx, g);
            return tdx.toArray();
        }
    }

    static int numel(long[] s) {
        return (int) Shapes.numel(s);
    }

    /** Values on a coarse grid, so windows hold ties. */
    static float[] quantized(long seed, int n) {
        float[] a = Parity.random(seed, n);
        for (int i = 0; i < n; i++) a[i] = Math.round(a[i] * 2) / 2f;
        return a;
    }

    /**
     * 2x2 windows of stride 2 along the rows (DenseNet's transitions) run on their own vectorised row
     * kernel: each output must be the general loop's float sum, ((((0 + a) + b) + c) + d) / 4 in the
     * taps' row-major order, bit for bit (so -0 sums to +0 and NaN propagates), on rows whose
     * interior ends in a partial block of 8 and beside windows that pads cut.
     */
    @Test
    void avgTwoByTwoStrideTwoSumsInTheGeneralOrder() {
        Pool2dGeometry[] gs = {geom(2, 3, 6, 37, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, false, false),
                geom(1, 2, 7, 44, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, false, false),
                geom(1, 2, 7, 44, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, false, true),
                geom(1, 2, 9, 40, 2, 2, 1, 2, 0, 1, 0, 0, 1, 1, true, false)};
        for (Pool2dGeometry g : gs) {
            // magnitudes spread over many binades, so that sums in another order round differently
            Random rnd = new Random(9);
            float[] x = new float[numel(g.inputShape())];
            for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * Math.exp(3 * rnd.nextGaussian()));
            for (int i = 5; i < x.length; i += 11) x[i] = -0f;
            for (int i = 7; i < x.length; i += 53) x[i] = Float.NaN;
            float[] y = avgFwd(x, g);
            int hw = g.h() * g.w();
            for (int pl = 0; pl < g.n() * g.c(); pl++)
                for (int p = 0; p < g.outH(); p++)
                    for (int q = 0; q < g.outW(); q++) {
                        int ih = p * g.strideH() - g.padTop(), iw = q * g.strideW() - g.padLeft();
                        if (ih < 0 || ih + 1 >= g.h() || iw < 0 || iw + 1 >= g.w()) continue;  // pads cut it
                        int at = pl * hw + ih * g.w() + iw;
                        float want = ((((0f + x[at]) + x[at + 1]) + x[at + g.w()]) + x[at + g.w() + 1]) / 4f;
                        int o = (pl * g.outH() + p) * g.outW() + q;
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(y[o]),
                                g + ": output " + o + " is " + y[o] + ", the sum in order " + want);
                    }
        }
    }

    /** NaNs inside and on the border of windows, among ties: the first NaN wins, as PyTorch. */
    @ParameterizedTest
    @MethodSource("geometries")
    void maxNanAndTiesMatchReference(Pool2dGeometry g) {
        float[] x = quantized(4, numel(g.inputShape()));
        for (int i = 3; i < x.length; i += 7) x[i] = Float.NaN;
        float[] dy = Parity.random(5, numel(g.outputShape()));
        float[] y = maxFwd(x, g);
        double[] ref = maxRef(x, g);
        for (int i = 0; i < y.length; i++)
            assertTrue(Double.compare(y[i], (float) ref[i]) == 0, "maxpool forward " + g + " at " + i + ": " + y[i] + " vs " + ref[i]);
        double[] dref = maxBackRef(x, dy, g);
        float[] dx = maxBwd(x, dy, g);
        for (int i = 0; i < dx.length; i++)
            assertTrue(Math.abs(dx[i] - dref[i]) <= 1e-6 * (1 + Math.abs(dref[i])), "maxpool backward " + g + " at " + i);
    }

    @ParameterizedTest
    @MethodSource("geometries")
    void maxForwardAndBackwardMatchReference(Pool2dGeometry g) {
        for (float[] x : new float[][] {Parity.random(1, numel(g.inputShape())), quantized(2, numel(g.inputShape()))}) {
            float[] dy = Parity.random(3, numel(g.outputShape()));
            Parity.assertClose("maxpool forward " + g, maxFwd(x, g), maxRef(x, g), 0, 0, g.outputShape());
            Parity.assertClose("maxpool backward " + g, maxBwd(x, dy, g), maxBackRef(x, dy, g), 1e-6, 1e-6,
                    g.inputShape());
        }
    }

    @ParameterizedTest
    @MethodSource("geometries")
    void maxBackwardMatchesFiniteDifferences(Pool2dGeometry g) {
        // distinct values (a shuffled ramp) keep every window's max unique, so L = <maxpool(x), dy> is smooth
        int n = numel(g.inputShape());
        float[] x = new float[n];
        Random rnd = new Random(4);
        for (int i = 0; i < n; i++) x[i] = i * 0.01f;
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            float t = x[i];
            x[i] = x[j];
            x[j] = t;
        }
        float[] dy = Parity.random(5, numel(g.outputShape()));
        float[] dx = maxBwd(x, dy, g);
        float eps = 1e-3f;
        for (int i = 0; i < n; i += Math.max(1, n / 23)) {
            float[] xp = x.clone(), xm = x.clone();
            xp[i] += eps;
            xm[i] -= eps;
            double fd = (Parity.dot(maxFwd(xp, g), dy) - Parity.dot(maxFwd(xm, g), dy)) / (2 * eps);
            Parity.assertClose("maxpool fd dx[" + i + "] " + g, dx[i], fd, 2e-3, 1e-2);
        }
    }

    @ParameterizedTest
    @MethodSource("geometries")
    void avgForwardMatchesReferenceAndBackwardIsTheAdjoint(Pool2dGeometry g) {
        float[] x = Parity.random(6, numel(g.inputShape()));
        Parity.assertClose("avgpool forward " + g, avgFwd(x, g), avgRef(x, g), 1e-6, 1e-5, g.outputShape());
        float[] dy = Parity.random(7, numel(g.outputShape()));
        float[] dx = avgBwd(dy, g);
        float[] y = avgFwd(x, g);
        Parity.assertClose("avgpool adjoint " + g, Parity.dot(x, dx), Parity.dot(y, dy),
                1e-6 * (Parity.absDot(x, dx) + Parity.absDot(y, dy)), 0);
        // finite-difference spot checks
        float eps = 1e-2f;
        for (int i = 0; i < x.length; i += Math.max(1, x.length / 11)) {
            float[] xp = x.clone(), xm = x.clone();
            xp[i] += eps;
            xm[i] -= eps;
            double fd = (Parity.dot(avgFwd(xp, g), dy) - Parity.dot(avgFwd(xm, g), dy)) / (2 * eps);
            Parity.assertClose("avgpool fd dx[" + i + "] " + g, dx[i], fd, 2e-3, 1e-2);
        }
    }

    /**
     * The global average pool (its own eight-planes-at-a-time path) gives every plane the general
     * path's bits: 0, then the plane's elements added in row-major order, over the area; its
     * gradient is 0 + dy / area everywhere. Plane counts off a multiple of eight and 1x1 planes.
     */
    @Test
    void globalAverageIsTheRowMajorChainBitForBit() {
        for (Pool2dGeometry g : new Pool2dGeometry[] {Pool2dGeometry.global(3, 5, 7, 7), Pool2dGeometry.global(2, 8, 1, 1),
                Pool2dGeometry.global(1, 13, 3, 11), Pool2dGeometry.global(4, 16, 14, 14)}) {
            int planes = g.n() * g.c(), hw = g.h() * g.w();
            float[] x = Parity.random(11, planes * hw);
            x[0] = -0f;
            float[] y = avgFwd(x, g);
            float[] dy = Parity.random(12, planes);
            float[] dx = avgBwd(dy, g);
            for (int pl = 0; pl < planes; pl++) {
                float acc = 0f;
                for (int t = 0; t < hw; t++) acc += x[pl * hw + t];
                assertEquals(Float.floatToRawIntBits(acc / hw), Float.floatToRawIntBits(y[pl]), g + " plane " + pl);
                float v = 0f + dy[pl] / hw;
                for (int t = 0; t < hw; t++)
                    assertEquals(Float.floatToRawIntBits(v), Float.floatToRawIntBits(dx[pl * hw + t]), g + " dx " + pl);
            }
        }
    }

    @Test
    void firstMaximumWinsAndNanCountsAsMax() {
        // one 2x2 window: ties at 5 (positions 1 and 2) -> the first (1) gets the gradient
        Pool2dGeometry g = new Pool2dGeometry(1, 1, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, false);
        assertArrayEquals(new float[] {0, 1, 0, 0}, maxBwd(new float[] {1, 5, 5, 2}, new float[] {1}, g));
        // NaN wins over larger numbers, and the output is NaN
        assertArrayEquals(new float[] {0, 0, 1, 0}, maxBwd(new float[] {1, 5, Float.NaN, 2}, new float[] {1}, g));
        assertTrue(Float.isNaN(maxFwd(new float[] {1, 5, Float.NaN, 2}, g)[0]));
        // padded positions never win, even over -inf and very negative values
        Pool2dGeometry padded = new Pool2dGeometry(1, 1, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2, false);
        assertArrayEquals(new float[] {-7, -8, -9, -6}, maxFwd(new float[] {-7, -8, -9, -6}, padded));
    }

    @Test
    void countIncludePadDivisor() {
        // 3x3 window, pad 1, stride 1 on a 2x2 plane of ones: corners see 4 real values of 9 padded positions
        Pool2dGeometry inc = new Pool2dGeometry(1, 1, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, true);
        Pool2dGeometry exc = new Pool2dGeometry(1, 1, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, false);
        float[] ones = {1, 1, 1, 1};
        assertArrayEquals(new float[] {4 / 9f, 4 / 9f, 4 / 9f, 4 / 9f}, avgFwd(ones, inc), 1e-6f);
        assertArrayEquals(new float[] {1, 1, 1, 1}, avgFwd(ones, exc), 1e-6f);
        // ceil mode: a 2x2/2 window over a 3-wide row with no pad; the last window holds one column
        // and only that column counts (it lies beyond the padded input otherwise)
        Pool2dGeometry ceil = new Pool2dGeometry(1, 1, 1, 3, 1, 2, 1, 2, 0, 0, 0, 0, 1, 1, 1, 2, true);
        assertArrayEquals(new float[] {1.5f, 3f}, avgFwd(new float[] {1, 2, 3}, ceil), 1e-6f);
    }
}
