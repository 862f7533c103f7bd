package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Broadcasting binary ops, PReLU, reduceSumTo, channelAffine and axpby against Java references. */
class ElementwiseTest {
    static final Backend B = Engine.cpu();

    /** Flat index into an operand of shape {@code s} (right-aligned, broadcast) for output index {@code i} of {@code out}. */
    static int bindex(long[] out, long[] s, int i) {
        int off = 0, stride = 1;
        for (int d = out.length - 1; d >= 0; d--) {
            int od = (int) (i % out[d]);
            i /= (int) out[d];
            int sd = d - (out.length - s.length);
            if (sd < 0) continue;
            if (s[sd] != 1) off += od * stride;
            stride *= (int) s[sd];
        }
        return off;
    }

    static int numel(long[] s) {
        return (int) Shapes.numel(s);
    }

    static long[] s(long... d) {
        return d;
    }

    static Stream<Arguments> shapePairs() {
        return Stream.of(
                Arguments.of(s(2, 3, 4, 5), s(2, 3, 4, 5)),   // same shape
                Arguments.of(s(2, 3, 4, 5), s()),             // scalar
                Arguments.of(s(), s(3, 2)),                   // scalar on the left
                Arguments.of(s(2, 3, 4, 5), s(1, 3, 1, 1)),   // per channel
                Arguments.of(s(2, 3, 4, 5), s(3, 1, 1)),      // per channel, lower rank
                Arguments.of(s(2, 3, 4, 5), s(5)),            // last axis
                Arguments.of(s(2, 3, 4, 5), s(2, 3, 1, 1)),   // SE-style gate
                Arguments.of(s(4, 1), s(1, 6)),               // outer product
                Arguments.of(s(2, 1, 4, 1), s(3, 1, 5)),      // both sides broadcast
                Arguments.of(s(1), s(7)),
                Arguments.of(s(3, 0, 2), s(3, 1, 2)),         // empty
                Arguments.of(s(64, 300), s(300)));            // big enough to run in parallel
    }

    @ParameterizedTest
    @MethodSource("shapePairs")
    void binaryMatchesReference(long[] as, long[] bs) {
        long[] ys = Shapes.broadcast(as, bs);
        float[] a = Parity.random(1, numel(as)), b = Parity.random(2, numel(bs));
        for (int i = 0; i < b.length; i++) if (Math.abs(b[i]) < 0.1f) b[i] = 0.5f; // keep DIV well conditioned
        for (BinaryOp op : BinaryOp.values()) {
            double[] ref = new double[numel(ys)];
            for (int i = 0; i < ref.length; i++) {
                float x = a[bindex(ys, as, i)], y = b[bindex(ys, bs, i)];
                ref[i] = switch (op) {
                    case ADD -> x + y;
                    case SUB -> x - y;
                    case MUL -> x * y;
                    case DIV -> x / y;
                };
            }
            try (Tensor ta = B.upload(a, as); Tensor tb = B.upload(b, bs); Tensor ty = B.allocate(ys)) {
                B.binary(op, ta, tb, ty);
                Parity.assertClose(op + " " + Shapes.str(as) + " " + Shapes.str(bs), ty.toArray(), ref, 1e-6, 1e-6,
                        ys);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("shapePairs")
    void reduceSumToIsTheAdjointOfBroadcast(long[] as, long[] bs) {
        long[] ys = Shapes.broadcast(as, bs);
        for (long[] small : new long[][] {as, bs}) {
            float[] src = Parity.random(3, numel(ys));
            double[] ref = new double[numel(small)];
            for (int i = 0; i < src.length; i++) ref[bindex(ys, small, i)] += src[i];
            try (Tensor ts = B.upload(src, ys); Tensor td = B.allocate(small)) {
                B.reduceSumTo(ts, td);
                Parity.assertClose("reduceSumTo " + Shapes.str(ys) + " -> " + Shapes.str(small), td.toArray(), ref,
                        1e-5, 1e-5, small);
            }
        }
    }

    @Test
    void reduceSumToLargeInputs() {
        // inner-reduced, inner-kept and full reductions big enough for the parallel paths
        long[] src = {8, 16, 33, 31};
        float[] x = Parity.random(4, numel(src));
        for (long[] dst : new long[][] {{16, 1, 1}, {1, 16, 1, 1}, {33, 31}, {8, 1, 33, 1}, {1}, {}, {8, 16, 1, 31}}) {
            double[] ref = new double[numel(dst)];
            for (int i = 0; i < x.length; i++) ref[bindex(src, dst, i)] += x[i];
            try (Tensor ts = B.upload(x, src); Tensor td = B.allocate(dst)) {
                B.reduceSumTo(ts, td);
                Parity.assertClose("reduceSumTo -> " + Shapes.str(dst), td.toArray(), ref, 1e-4, 1e-5, dst);
            }
        }
    }

    static Stream<Arguments> preluShapes() {
        return Stream.of(Arguments.of(s(2, 3, 4, 5), s(3, 1, 1)), Arguments.of(s(2, 3, 4, 5), s(1)),
                Arguments.of(s(2, 3, 4, 5), s(2, 3, 4, 5)), Arguments.of(s(40, 30, 50), s(50)));
    }

    @ParameterizedTest
    @MethodSource("preluShapes")
    void preluForwardAndBackward(long[] xs, long[] ss) {
        float[] x = Parity.random(5, numel(xs)), sl = Parity.random(6, numel(ss)), dy = Parity.random(7, numel(xs));
        double[] y = new double[x.length], dx = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            float a = sl[bindex(xs, ss, i)];
            y[i] = x[i] >= 0 ? x[i] : (double) a * x[i];
            dx[i] = x[i] > 0 ? dy[i] : (double) a * dy[i];
        }
        try (Tensor tx = B.upload(x, xs); Tensor ts = B.upload(sl, ss); Tensor ty = B.allocate(xs);
                Tensor tdy = B.upload(dy, xs); Tensor tdx = B.allocate(xs)) {
            B.preluForward(tx, ts, ty);
            Parity.assertClose("prelu forward", ty.toArray(), y, 1e-7, 1e-6, xs);
            B.preluBackward(tx, ts, tdy, tdx);
            float[] got = tdx.toArray();
            Parity.assertClose("prelu backward", got, dx, 1e-7, 1e-6, xs);
            // finite differences away from the kink
            float eps = 1e-3f;
            for (int i = 0; i < x.length; i += Math.max(1, x.length / 13)) {
                if (Math.abs(x[i]) < 2 * eps) continue;
                float[] xp = x.clone(), xm = x.clone();
                xp[i] += eps;
                xm[i] -= eps;
                double fd = (Parity.dot(prelu(xp, xs, ts), dy) - Parity.dot(prelu(xm, xs, ts), dy)) / (2 * eps);
                Parity.assertClose("prelu fd dx[" + i + "]", got[i], fd, 2e-3, 1e-2);
            }
        }
    }

    static float[] prelu(float[] x, long[] xs, Tensor slope) {
        try (Tensor tx = B.upload(x, xs); Tensor ty = B.allocate(xs)) {
            B.preluForward(tx, slope, ty);
            return ty.toArray();
        }
    }

    @Test
    void channelAffine() {
        for (long[] xs : new long[][] {{2, 3, 4, 5}, {3, 7}, {2, 64, 30, 30}}) {
            int c = (int) xs[1], inner = numel(xs) / (int) (xs[0] * c);
            float[] x = Parity.random(8, numel(xs)), sc = Parity.random(9, c), sh = Parity.random(10, c);
            double[] ref = new double[x.length], refNoShift = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                int ch = (i / inner) % c;
                ref[i] = (double) x[i] * sc[ch] + sh[ch];
                refNoShift[i] = (double) x[i] * sc[ch];
            }
            try (Tensor tx = B.upload(x, xs); Tensor ts = B.upload(sc, c); Tensor tsh = B.upload(sh, c, 1, 1);
                    Tensor ty = B.allocate(xs)) {
                B.channelAffine(tx, ts, tsh, ty);
                Parity.assertClose("channelAffine " + Shapes.str(xs), ty.toArray(), ref, 1e-6, 1e-6, xs);
                B.channelAffine(tx, ts, null, ty);
                Parity.assertClose("channelAffine no shift", ty.toArray(), refNoShift, 1e-6, 1e-6, xs);
            }
        }
    }

    /** channelAffineActivation is bit for bit channelAffine then the activation (NaN included). */
    @Test
    void channelAffineActivationMatchesTheTwoPasses() {
        for (long[] xs : new long[][] {{2, 3, 4, 5}, {3, 7}, {2, 64, 30, 30}}) {
            int c = (int) xs[1];
            float[] x = Parity.random(18, numel(xs)), sc = Parity.random(19, c), sh = Parity.random(20, c);
            x[x.length / 2] = Float.NaN;
            Object[][] acts = {{Activation.RELU, 0f, 0f}, {Activation.CLIP, -0.3f, 0.4f}};
            for (Object[] a : acts)
                for (float[] shift : new float[][] {sh, null})
                    try (Tensor tx = B.upload(x, xs); Tensor ts = B.upload(sc, c);
                            Tensor tsh = shift == null ? null : B.upload(shift, c); Tensor want = B.allocate(xs);
                            Tensor got = B.allocate(xs)) {
                        Activation kind = (Activation) a[0];
                        B.channelAffine(tx, ts, tsh, want);
                        B.activationForward(kind, want, want, (Float) a[1], (Float) a[2]);
                        B.fill(got, 7f);
                        B.channelAffineActivation(tx, ts, tsh, got, kind, (Float) a[1], (Float) a[2]);
                        assertArrayEquals(want.toArray(), got.toArray(), "channelAffine + " + kind + " " + Shapes.str(xs));
                    }
        }
        try (Tensor tx = B.allocate(2, 3); Tensor ts = B.allocate(3); Tensor ty = B.allocate(2, 3)) {
            assertThrows(SalientException.class,
                    () -> B.channelAffineActivation(tx, ts, null, ty, Activation.SIGMOID, 0f, 0f));
        }
    }

    @Test
    void axpby() {
        for (int n : new int[] {1, 17, 200_003}) {
            float[] x = Parity.random(11, n), y0 = Parity.random(12, n);
            double[] ref = new double[n];
            for (int i = 0; i < n; i++) ref[i] = 2.5 * x[i] - 0.75 * y0[i];
            try (Tensor tx = B.upload(x, n); Tensor ty = B.upload(y0, n)) {
                B.axpby(2.5f, tx, -0.75f, ty);
                Parity.assertClose("axpby n=" + n, ty.toArray(), ref, 1e-6, 1e-6);
                // beta = 0 never reads y, so NaN garbage there does not leak
                B.fill(ty, Float.NaN);
                B.axpby(2f, tx, 0f, ty);
                double[] ref2 = new double[n];
                for (int i = 0; i < n; i++) ref2[i] = 2.0 * x[i];
                Parity.assertClose("axpby beta=0 n=" + n, ty.toArray(), ref2, 0, 0);
            }
        }
    }

    /**
     * Sigmoid and its gradient run 8 lanes at a time with the tail one by one. Against float64:
     * sigmoid within 3.5 ulp (its exp within 1 ulp, then the sum and the division; measured 3.09 over
     * [-87, 88], 2.35 with glibc's expf in the same formula), 0 where 1 + e^-x overflows; the
     * gradient dy·s·(1 − s) within 4 ulp of s's error (1 − s cancels as s nears 1, with any exp);
     * exactly 0, 1, 1/2 and NaN at the ends; and the same bits for a value wherever it lies (a
     * shifted copy puts every value in the tail).
     */
    @Test
    void sigmoidIsWithinFourUlpAndTheSameInEveryLane() {
        int n = 300_003;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = -110f + 205f * i / n;
        x[0] = Float.NaN;
        x[1] = Float.POSITIVE_INFINITY;
        x[2] = Float.NEGATIVE_INFINITY;
        x[3] = 0f;
        float[] dy = new float[n];
        for (int i = 0; i < n; i++) dy[i] = 1f + (i % 7) * 0.25f;
        try (Tensor tx = B.upload(x, n); Tensor ty = B.allocate(n); Tensor tdy = B.upload(dy, n); Tensor tdx = B.allocate(n)) {
            B.activationForward(Activation.SIGMOID, tx, ty, 0f, 0f);
            B.activationBackward(Activation.SIGMOID, tx, tdy, tdx, 0f, 0f);
            float[] y = ty.toArray(), dx = tdx.toArray();
            assertTrue(Float.isNaN(y[0]) && Float.isNaN(dx[0]), "NaN passes");
            assertEquals(1f, y[1]);
            assertEquals(0f, y[2]);
            assertEquals(0.5f, y[3]);
            assertEquals(0.25f * dy[3], dx[3]);
            for (int i = 4; i < n; i++) {
                double s = 1 / (1 + Math.exp(-(double) x[i]));
                double tol = x[i] < -88.7f ? Float.MIN_NORMAL : 3.5 * Math.ulp((float) s);
                assertEquals(s, y[i], tol, "sigmoid(" + x[i] + ")");
                double g = dy[i] * s * (1 - s);
                assertEquals(g, dx[i], dy[i] * 4 * Math.ulp((float) s) + 4 * Math.ulp((float) g) + (x[i] < -88.7f ? dy[i] * tol : 0),
                        "sigmoid'(" + x[i] + ")");
            }
            // every value again, one place on: lanes become tails and tails lanes
            float[] shifted = new float[n + 1];
            System.arraycopy(x, 0, shifted, 1, n);
            float[] dys = new float[n + 1];
            System.arraycopy(dy, 0, dys, 1, n);
            try (Tensor sx = B.upload(shifted, n + 1); Tensor sy = B.allocate(n + 1); Tensor sdy = B.upload(dys, n + 1);
                    Tensor sdx = B.allocate(n + 1)) {
                B.activationForward(Activation.SIGMOID, sx, sy, 0f, 0f);
                B.activationBackward(Activation.SIGMOID, sx, sdy, sdx, 0f, 0f);
                float[] y2 = sy.toArray(), dx2 = sdx.toArray();
                for (int i = 0; i < n; i++) {
                    assertEquals(Float.floatToRawIntBits(y[i]), Float.floatToRawIntBits(y2[i + 1]), "sigmoid at " + i);
                    assertEquals(Float.floatToRawIntBits(dx[i]), Float.floatToRawIntBits(dx2[i + 1]), "sigmoid' at " + i);
                }
            }
        }
    }
}
