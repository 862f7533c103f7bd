package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The CPU engine's secant backward (DeepLIFT's Rescale rule over paired rows) against its
 * definition written out in Java float arithmetic, byte for byte: where the input moved by at
 * least eps, {@code dy·Δy/Δx} in both halves (the product first, as Captum's DeepLift); where it
 * did not, the gradient passed in is kept. Then against the composition of binary ops it
 * replaces on a ReLU, and its one-line refusals.
 */
public class SecantBackwardTest {
    static final Backend B = Engine.cpu();
    static final float EPS = 1e-10f;

    /** The definition, element by element. */
    static float[] secant(float[] x, float[] y, float[] dy, float[] own, float eps) {
        int h = x.length / 2;
        float[] dx = own.clone();
        for (int i = 0; i < h; i++) {
            float d = x[i] - x[h + i];
            if (Math.abs(d) < eps) continue;
            float dv = y[i] - y[h + i];
            dx[i] = dy[i] * dv / d;
            dx[h + i] = dy[h + i] * dv / d;
        }
        return dx;
    }

    /** Paired inputs with ties (Δx = 0), tiny moves below and above eps, and ordinary values. */
    static float[][] pairs(int h, long seed) {
        Random r = new Random(seed);
        float[] x = new float[2 * h];
        for (int i = 0; i < h; i++) {
            x[i] = (float) r.nextGaussian();
            switch (i % 5) {
                case 0 -> x[h + i] = x[i];          // no move: the gradient is kept
                case 1 -> {                         // a move below eps: kept too
                    x[i] = 0f;
                    x[h + i] = 5e-11f;
                }
                case 2 -> x[h + i] = x[i] + 1e-6f;  // a small move above eps
                default -> x[h + i] = (float) r.nextGaussian();
            }
        }
        float[] dy = new float[2 * h], own = new float[2 * h];
        for (int i = 0; i < 2 * h; i++) {
            dy[i] = (float) r.nextGaussian();
            own[i] = (float) r.nextGaussian();
        }
        return new float[][] {x, dy, own};
    }

    /** {@link #pairs} for the CUDA parity test: (x, dy, own gradient). */
    public static float[][] pairsForParity(int h, long seed) {
        return pairs(h, seed);
    }

    @Test
    void isDyTimesTheSecantSlopeWhereTheInputMoved() {
        int h = 2 * 3 * 7 * 5;
        float[][] p = pairs(h, 3);
        float[] x = p[0], dy = p[1], own = p[2];
        float[] y = new float[2 * h];
        for (int i = 0; i < y.length; i++) y[i] = (float) Math.tanh(x[i]);
        try (Tensor xt = B.upload(x, 4, 3, 7, 5); Tensor yt = B.upload(y, 4, 3, 7, 5); Tensor dyt = B.upload(dy, 4, 3, 7, 5);
                Tensor dxt = B.upload(own, 4, 3, 7, 5)) {
            B.secantBackward(xt, yt, dyt, dxt, EPS, null);
            float[] got = dxt.toArray(), want = secant(x, y, dy, own, EPS);
            int kept = 0;
            for (int i = 0; i < got.length; i++) {
                assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits(got[i]), "at " + i + ": " + got[i] + " vs " + want[i]);
                if (got[i] == own[i]) kept++;
            }
            assertTrue(kept >= 2 * (h / 5), "the gradient is kept where the input did not move: " + kept);
        }
    }

    /**
     * On a ReLU the secant equals the composition it replaces in DeepLIFT: relu' where |Δx| < eps,
     * else dy·(relu(x) − relu(x'))/(x − x'), within one rounding.
     */
    @Test
    void equalsTheComposedRescaleOnARelu() {
        int h = 3 * 64;
        float[][] p = pairs(h, 5);
        float[] x = p[0], dy = p[1];
        try (Tensor xt = B.upload(x, 2, 3, 8, 8); Tensor yt = B.allocate(2, 3, 8, 8); Tensor dyt = B.upload(dy, 2, 3, 8, 8);
                Tensor dxt = B.allocate(2, 3, 8, 8)) {
            B.activationForward(Activation.RELU, xt, yt, 0, 0);
            B.activationBackward(Activation.RELU, xt, dyt, dxt, 0, 0);
            B.secantBackward(xt, yt, dyt, dxt, EPS, null);
            float[] got = dxt.toArray();
            for (int i = 0; i < h; i++)
                for (int half = 0; half < 2; half++) {
                    int k = half * h + i;
                    double d = (double) x[i] - x[h + i];
                    double want = Math.abs((float) d) < EPS ? (x[k] > 0 ? dy[k] : 0)
                            : dy[k] * (Math.max(x[i], 0) - (double) Math.max(x[h + i], 0)) / d;
                    assertEquals(want, got[k], 1e-6 * (1 + Math.abs(want)), "at " + k);
                }
        }
    }

    /**
     * With {@code own = RELU} the secant computes the ReLU's own gradient where the input did not
     * move, so DeepLIFT skips the activation backward: the same bits as that backward then the
     * secant, whatever dx held on entry (NaN here), with ties, zeros of both signs and NaN inputs.
     */
    @Test
    void computesTheReluOwnGradientAsTheActivationBackwardDoes() {
        int h = 5 * 301;
        float[][] p = pairs(h, 9);
        float[] x = p[0], dy = p[1];
        for (int i = 0; i < h; i += 37) x[h + i] = x[i];           // ties: the own gradient
        for (int i = 5; i < h; i += 41) x[i] = x[h + i] = -0f;     // ties at -0
        for (int i = 9; i < h; i += 43) x[i] = x[h + i] = 0f;      // ties at +0
        x[h + 11] = x[11] = Float.NaN;                              // NaN: no secant, NaN passes dy
        try (Tensor xt = B.upload(x, 2, 5, 301); Tensor yt = B.allocate(2, 5, 301); Tensor dyt = B.upload(dy, 2, 5, 301);
                Tensor want = B.allocate(2, 5, 301); Tensor got = B.allocate(2, 5, 301)) {
            B.activationForward(Activation.RELU, xt, yt, 0, 0);
            B.activationBackward(Activation.RELU, xt, dyt, want, 0, 0);
            B.secantBackward(xt, yt, dyt, want, EPS, null);
            B.fill(got, Float.NaN);
            B.secantBackward(xt, yt, dyt, got, EPS, Activation.RELU);
            float[] w = want.toArray(), g = got.toArray();
            for (int i = 0; i < w.length; i++)
                assertEquals(Float.floatToRawIntBits(w[i]), Float.floatToRawIntBits(g[i]), "at " + i + ": " + g[i] + " vs " + w[i]);
        }
    }

    /**
     * The input-half secant of a Relu with dy shared by the halves: the first half of the paired
     * secant given dy twice, bit for bit, and a count of the elements where the input and its
     * reference moved less than eps from either side of 0 (the only places the halves can part).
     */
    @Test
    void reluHalfIsTheFirstHalfOfTheSharedDySecant() {
        int h = 5 * 301;
        float[][] p = pairs(h, 21);
        float[] x = p[0], dy = java.util.Arrays.copyOf(p[1], h);
        for (int i = 3; i < h; i += 97) { // straddles: a move below eps across 0
            x[i] = -2e-11f;
            x[h + i] = 3e-11f;
        }
        for (int i = 9; i < h; i += 43) x[i] = x[h + i] = 0f;
        x[h + 11] = x[11] = Float.NaN;
        long want = 0;
        for (int i = 0; i < h; i++)
            if (Math.abs(x[i] - x[h + i]) < EPS && (x[i] <= 0f) != (x[h + i] <= 0f)) want++;
        assertTrue(want > 10, "the case has straddles: " + want);
        float[] dy2 = new float[2 * h];
        System.arraycopy(dy, 0, dy2, 0, h);
        System.arraycopy(dy, 0, dy2, h, h);
        try (Tensor xt = B.upload(x, 2, 5, 301); Tensor yt = B.allocate(2, 5, 301); Tensor dyt = B.upload(dy2, 2, 5, 301);
                Tensor full = B.allocate(2, 5, 301); Tensor dyh = B.upload(dy, 1, 5, 301); Tensor half = B.allocate(1, 5, 301)) {
            B.activationForward(Activation.RELU, xt, yt, 0, 0);
            B.secantBackward(xt, yt, dyt, full, EPS, Activation.RELU);
            B.fill(half, Float.NaN);
            assertEquals(want, B.secantReluHalf(xt, yt, dyh, half, EPS));
            float[] f = full.toArray(), g = half.toArray();
            for (int i = 0; i < h; i++)
                assertEquals(Float.floatToRawIntBits(f[i]), Float.floatToRawIntBits(g[i]), "at " + i + ": " + g[i] + " vs " + f[i]);
            // without straddles the count is 0 and the paired secant's halves are equal
            for (int i = 0; i < h; i++)
                if (Math.abs(x[i] - x[h + i]) < EPS && (x[i] <= 0f) != (x[h + i] <= 0f)) x[h + i] = x[i];
            try (Tensor x2 = B.upload(x, 2, 5, 301)) {
                B.activationForward(Activation.RELU, x2, yt, 0, 0);
                assertEquals(0, B.secantReluHalf(x2, yt, dyh, half, EPS));
                B.secantBackward(x2, yt, dyt, full, EPS, Activation.RELU);
                float[] a = full.toArray();
                for (int i = 0; i < h; i++)
                    if (!Float.isNaN(a[i])) assertEquals(Float.floatToRawIntBits(a[i]), Float.floatToRawIntBits(a[h + i]), "at " + i);
            }
            SalientException e = assertThrows(SalientException.class, () -> B.secantReluHalf(xt, yt, dyt, half, EPS));
            assertTrue(e.getMessage().startsWith("secantReluHalf: "), e.getMessage());
        }
        // the compact layout: 3 input rows against one reference row, as the paired layout repeats it
        int r = 301, rows = 3;
        Random g = new Random(5);
        float[] xc = new float[(rows + 1) * r], xp = new float[2 * rows * r], dyc = new float[rows * r];
        for (int i = 0; i < xc.length; i++) xc[i] = (float) g.nextGaussian();
        for (int i = 0; i < rows * r; i += 29) xc[i] = xc[rows * r + i % r];            // ties
        for (int i = 5; i < rows * r; i += 31) { xc[i] = -1e-11f; xc[rows * r + i % r] = 2e-11f; } // straddles
        for (int i = 0; i < dyc.length; i++) dyc[i] = (float) g.nextGaussian();
        System.arraycopy(xc, 0, xp, 0, rows * r);
        for (int q = 0; q < rows; q++) System.arraycopy(xc, rows * r, xp, (rows + q) * r, r);
        long straddles = 0;
        for (int i = 0; i < rows * r; i++)
            if (Math.abs(xp[i] - xp[rows * r + i]) < EPS && (xp[i] <= 0f) != (xp[rows * r + i] <= 0f)) straddles++;
        try (Tensor xct = B.upload(xc, rows + 1, r); Tensor yct = B.allocate(rows + 1, r); Tensor xpt = B.upload(xp, 2 * rows, r);
                Tensor ypt = B.allocate(2 * rows, r); Tensor dyt = B.upload(dyc, rows, r); Tensor a = B.allocate(rows, r);
                Tensor b = B.allocate(rows, r)) {
            B.activationForward(Activation.RELU, xct, yct, 0, 0);
            B.activationForward(Activation.RELU, xpt, ypt, 0, 0);
            assertEquals(straddles, B.secantReluHalf(xct, yct, dyt, a, EPS));
            assertEquals(straddles, B.secantReluHalf(xpt, ypt, dyt, b, EPS));
            assertTrue(straddles > 0);
            float[] fa = a.toArray(), fb = b.toArray();
            for (int i = 0; i < fa.length; i++)
                assertEquals(Float.floatToRawIntBits(fb[i]), Float.floatToRawIntBits(fa[i]), "compact vs paired at " + i);
        }
    }

    @Test
    void refusesUnpairedOrMismatchedTensorsInOneLine() {
        try (Tensor odd = B.zeros(3, 5); Tensor a = B.zeros(2, 5); Tensor b = B.zeros(2, 6)) {
            for (Runnable r : new Runnable[] {() -> B.secantBackward(odd, odd, odd, odd, EPS, null),
                    () -> B.secantBackward(a, b, a, a, EPS, null), () -> B.secantBackward(a, a, a, a, Float.NaN, null),
                    () -> B.secantBackward(a, a, a, a, -1f, null),
                    () -> B.secantBackward(a, a, a, a, EPS, Activation.SIGMOID)}) {
                SalientException e = assertThrows(SalientException.class, r::run);
                assertTrue(e.getMessage().startsWith("secantBackward: "), e.getMessage());
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
            }
        }
    }

    /** Values for the stabilised quotient: zeros of both signs, values near ±eps, NaN, and ordinary ones. */
    public static float[][] quotientsForParity(int n, long seed) {
        Random rnd = new Random(seed);
        float[] r = new float[n], z = new float[n];
        for (int i = 0; i < n; i++) {
            r[i] = (float) rnd.nextGaussian();
            z[i] = switch (i % 7) {
                case 0 -> 0f;
                case 1 -> -0f;
                case 2 -> 1e-6f * (rnd.nextBoolean() ? 1 : -1);
                case 3 -> i % 2 == 0 ? Float.NaN : (float) rnd.nextGaussian() * 1e-7f;
                default -> (float) rnd.nextGaussian();
            };
        }
        return new float[][] {r, z};
    }

    /**
     * y = r / (z + sign(z)·eps) with sign(0) = +1 (−0 included), one rounding for the sum and one
     * for the quotient, as Zennit's stabilizer; in place over r or z too; bad arguments refused.
     */
    @Test
    void stabilizedDivideIsZennitsStabilizedQuotient() {
        Backend b = Engine.cpu();
        int n = 70001;  // over the parallel threshold, with a tail
        float eps = 1e-6f;
        float[][] q = quotientsForParity(n, 3);
        float[] r = q[0], z = q[1], want = new float[n];
        for (int i = 0; i < n; i++) {
            float sign = z[i] < 0f ? -1f : 1f;  // Zennit: (z == 0) + sign(z), so +1 at ±0
            want[i] = r[i] / (z[i] + sign * eps);
        }
        try (Tensor rt = b.upload(r, n); Tensor zt = b.upload(z, n); Tensor yt = b.allocate(n)) {
            b.stabilizedDivide(rt, zt, yt, eps);
            float[] got = yt.toArray();
            for (int i = 0; i < n; i++)
                assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits(got[i]), "at " + i + ": r " + r[i] + ", z " + z[i]);
            b.stabilizedDivide(rt, zt, rt, eps);  // over r
            assertArrayEquals(want, rt.toArray());
            try (Tensor r2 = b.upload(r, n)) {
                b.stabilizedDivide(r2, zt, zt, eps);  // over z
                assertArrayEquals(want, zt.toArray());
            }
            Tensor small = b.allocate(3);
            try (small) {
                assertThrows(SalientException.class, () -> b.stabilizedDivide(rt, small, yt, eps));
                assertThrows(SalientException.class, () -> b.stabilizedDivide(rt, yt, yt, -1f));
                assertThrows(SalientException.class, () -> b.stabilizedDivide(rt, yt, yt, Float.NaN));
                assertThrows(SalientException.class, () -> b.stabilizedDivide(rt, null, yt, eps));
            }
        }
    }

    /** a, b and r for the Norm shares: sums of exactly 0 (both signs), within eps, NaN, and ordinary. */
    public static float[][] sharesForParity(int n, long seed) {
        Random rnd = new Random(seed);
        float[] a = new float[n], b = new float[n], r = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian();
            r[i] = (float) rnd.nextGaussian();
            b[i] = switch (i % 6) {
                case 0 -> -a[i];                                        // +0
                case 1 -> { a[i] = -0f; yield -0f; }                  // -0
                case 2 -> -a[i] + 1e-7f * (rnd.nextBoolean() ? 1 : -1); // inside eps
                case 3 -> i % 4 == 3 ? Float.NaN : (float) rnd.nextGaussian();
                default -> (float) rnd.nextGaussian();
            };
        }
        return new float[][] {a, b, r};
    }

    /**
     * The Norm shares are an Add, the stabilised quotient and two products, bit for bit, for
     * both shares or either alone; bad arguments are refused before anything is written.
     */
    @Test
    void normSharesAreTheComposedSumQuotientAndProducts() {
        Backend b = Engine.cpu();
        int n = 70003;  // over the parallel threshold, with a tail
        float eps = 1e-6f;
        float[][] q = sharesForParity(n, 11);
        try (Tensor at = b.upload(q[0], n); Tensor bt = b.upload(q[1], n); Tensor rt = b.upload(q[2], n);
                Tensor s = b.allocate(n); Tensor g = b.allocate(n); Tensor wa = b.allocate(n); Tensor wb = b.allocate(n);
                Tensor da = b.allocate(n); Tensor db = b.allocate(n)) {
            b.binary(dev.salient.engine.BinaryOp.ADD, at, bt, s);
            b.stabilizedDivide(rt, s, g, eps);
            b.binary(dev.salient.engine.BinaryOp.MUL, g, at, wa);
            b.binary(dev.salient.engine.BinaryOp.MUL, g, bt, wb);
            b.normShares(at, bt, rt, da, db, eps);
            assertSameBits(wa.toArray(), da.toArray());
            assertSameBits(wb.toArray(), db.toArray());
            b.fill(da, 7f);
            b.fill(db, 7f);
            b.normShares(at, bt, rt, da, null, eps);
            assertSameBits(wa.toArray(), da.toArray());
            b.normShares(at, bt, rt, null, db, eps);
            assertSameBits(wb.toArray(), db.toArray());
            Tensor small = b.allocate(3);
            try (small) {
                assertThrows(SalientException.class, () -> b.normShares(at, bt, rt, null, null, eps));
                assertThrows(SalientException.class, () -> b.normShares(at, small, rt, da, db, eps));
                assertThrows(SalientException.class, () -> b.normShares(at, bt, rt, da, small, eps));
                assertThrows(SalientException.class, () -> b.normShares(at, bt, rt, rt, db, eps));
                assertThrows(SalientException.class, () -> b.normShares(at, bt, rt, da, da, eps));
                assertThrows(SalientException.class, () -> b.normShares(at, bt, rt, da, db, Float.NaN));
                assertThrows(SalientException.class, () -> b.normShares(null, bt, rt, da, db, eps));
            }
        }
    }

    private static void assertSameBits(float[] want, float[] got) {
        for (int i = 0; i < want.length; i++)
            assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits(got[i]), "at " + i);
    }
}
