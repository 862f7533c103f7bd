package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The CPU engine's general primitives against their definitions written out in
 * Java: masked blend, weighted sums along the leading axis, row reductions and
 * the seeded Philox normal stream (checked against Random123's known answers).
 */
public class PrimitivesTest {
    static final Backend B = Engine.cpu();
    final Random rnd = new Random(17);

    float[] random(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }

    @Test
    void maskedBlendIsBPlusMTimesXMinusB() {
        int n = 2, c = 3, h = 4, w = 5, d = c * h * w;
        float[] x = random(n * d), b = random(n * d), b1 = random(d);
        for (int[] mshape : new int[][] {{3, 1}, {2, h, w}, {2, c, h, w}}) {
            int s = mshape[0], dm = 1;
            for (int i = 1; i < mshape.length; i++) dm *= mshape[i];
            float[] m = random(s * dm);
            long[] ms = new long[mshape.length];
            for (int i = 0; i < ms.length; i++) ms[i] = mshape[i];
            for (boolean one : new boolean[] {false, true}) {
                try (Tensor xt = B.upload(x, n, c, h, w); Tensor bt = one ? B.upload(b1, 1, c, h, w) : B.upload(b, n, c, h, w);
                        Tensor mt = B.upload(m, ms); Tensor y = B.allocate((long) s * n, c, h, w)) {
                    B.maskedBlend(xt, bt, mt, y);
                    float[] got = y.toArray();
                    for (int k = 0; k < s; k++)
                        for (int i = 0; i < n; i++)
                            for (int j = 0; j < d; j++) {
                                float bv = one ? b1[j] : b[i * d + j];
                                float want = bv + m[k * dm + j % dm] * (x[i * d + j] - bv);
                                // the engine may fuse the multiply-add (FMA): one rounding less
                                assertEquals(want, got[(k * n + i) * d + j], 2e-7f * (1 + Math.abs(want)), "s " + k + " n " + i + " j " + j);
                            }
                }
            }
        }
    }

    @Test
    void maskedBlendRefusesMasksThatDoNotTileARow() {
        try (Tensor x = B.zeros(2, 3, 4, 4); Tensor m = B.zeros(2, 5); Tensor y = B.allocate(4, 3, 4, 4)) {
            SalientException e = assertThrows(SalientException.class, () -> B.maskedBlend(x, x, m, y));
            assertTrue(e.getMessage().contains("does not tile"), e.getMessage());
        }
    }

    @Test
    void weightedSumChunkByChunkIsTheSameBytesAsOneCall() {
        int s = 7, r = 1000;
        float[] g = random(s * r), acc0 = random(r), w = random(s);
        float[] want = acc0.clone();
        for (int j = 0; j < r; j++)
            for (int k = 0; k < s; k++) want[j] += w[k] * g[k * r + j];
        try (Tensor gt = B.upload(g, s, r); Tensor a = B.upload(acc0, r); Tensor a2 = B.upload(acc0, r);
                Tensor g1 = B.upload(java.util.Arrays.copyOfRange(g, 0, 3 * r), 3, r);
                Tensor g2 = B.upload(java.util.Arrays.copyOfRange(g, 3 * r, s * r), 4, r)) {
            B.weightedSum(gt, w, a);
            float[] got = a.toArray();
            for (int j = 0; j < r; j++) assertEquals(want[j], got[j], 1e-6f * (1 + Math.abs(want[j])), "element " + j);
            B.weightedSum(g1, java.util.Arrays.copyOfRange(w, 0, 3), a2);
            B.weightedSum(g2, java.util.Arrays.copyOfRange(w, 3, s), a2);
            assertArrayEquals(a.toArray(), a2.toArray(), 0f, "two chunks, same bytes");
        }
    }

    /** Max and min skip NaNs wherever they sit (lanes, tail), as fmaxf/fminf; a row of NaNs gives -inf / +inf. */
    @Test
    void reduceRowsMaxMinSkipNaNsInEveryLaneAndTheTail() {
        int r = 4, l = 37;
        float[] x = new float[r * l];
        java.util.Arrays.fill(x, Float.NaN);  // row 0: all NaN
        for (int j = 0; j < l; j++) {
            x[l + j] = j == 3 ? Float.NaN : j - 10.5f;        // row 1: extremes at the last lane and in the tail
            x[2 * l + j] = j % 2 == 0 ? Float.NaN : -j;        // row 2: every other value NaN
            x[3 * l + j] = j == 20 ? Float.POSITIVE_INFINITY : (j == 35 ? Float.NEGATIVE_INFINITY : 1f);
        }
        try (Tensor xt = B.upload(x, r, l); Tensor y = B.allocate(r)) {
            B.reduceRows(Reduction.MAX, xt, y);
            assertArrayEquals(new float[] {Float.NEGATIVE_INFINITY, 25.5f, -1f, Float.POSITIVE_INFINITY}, y.toArray());
            B.reduceRows(Reduction.MIN, xt, y);
            assertArrayEquals(new float[] {Float.POSITIVE_INFINITY, -10.5f, -35f, Float.NEGATIVE_INFINITY}, y.toArray());
        }
    }

    @Test
    void reduceRowsSumMeanMaxMin() {
        int r = 3, l = 1001;
        float[] x = random(r * l);
        x[5] = Float.NaN;
        try (Tensor xt = B.upload(x, r, l); Tensor y = B.allocate(r)) {
            for (Reduction op : Reduction.values()) {
                B.reduceRows(op, xt, y);
                float[] got = y.toArray();
                for (int i = 0; i < r; i++) {
                    double sum = 0;
                    float mx = Float.NEGATIVE_INFINITY, mn = Float.POSITIVE_INFINITY;
                    for (int j = 0; j < l; j++) {
                        float v = x[i * l + j];
                        sum += v;
                        if (!Float.isNaN(v)) {
                            mx = Math.max(mx, v);
                            mn = Math.min(mn, v);
                        }
                    }
                    float want = switch (op) {
                        case SUM -> (float) sum;
                        case MEAN -> (float) (sum / l);
                        case MAX -> mx;
                        case MIN -> mn;
                    };
                    if (i == 0 && (op == Reduction.SUM || op == Reduction.MEAN)) assertTrue(Float.isNaN(got[i]));
                    else assertEquals(want, got[i], 0f, op + " row " + i);
                }
            }
        }
    }

    // ---- Philox4x32-10, written out from Salmon et al. 2011 as a reference for native/philox.h

    static int[] philox(long counter, long seed) {
        int c0 = (int) counter, c1 = (int) (counter >>> 32), c2 = 0, c3 = 0, k0 = (int) seed, k1 = (int) (seed >>> 32);
        return philox(new int[] {c0, c1, c2, c3}, k0, k1);
    }

    static int[] philox(int[] ctr, int k0, int k1) {
        int[] c = ctr.clone();
        for (int r = 0; r < 10; r++) {
            long p0 = (0xD2511F53L) * (c[0] & 0xffffffffL), p1 = (0xCD9E8D57L) * (c[2] & 0xffffffffL);
            int hi0 = (int) (p0 >>> 32), lo0 = (int) p0, hi1 = (int) (p1 >>> 32), lo1 = (int) p1;
            c = new int[] {hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0};
            k0 += 0x9E3779B9;
            k1 += 0xBB67AE85;
        }
        return c;
    }

    public static float normalAt(long seed, long g) {
        int[] c = philox(g >>> 2, seed);
        int lane = (int) (g & 3);
        long a = (lane < 2 ? c[0] : c[2]) & 0xffffffffL, b = (lane < 2 ? c[1] : c[3]) & 0xffffffffL;
        double u1 = (a + 1.0) * 2.3283064365386963e-10, u2 = b * 2.3283064365386963e-10;
        double r = Math.sqrt(-2.0 * Math.log(u1)), t = 6.283185307179586 * u2;
        return (float) ((lane & 1) == 1 ? r * Math.sin(t) : r * Math.cos(t));
    }

    @Test
    void philoxMatchesRandom123KnownAnswers() {
        assertArrayEquals(new int[] {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}, philox(new int[4], 0, 0));
        assertArrayEquals(new int[] {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
                philox(new int[] {-1, -1, -1, -1}, -1, -1));
        assertArrayEquals(new int[] {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
                philox(new int[] {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, 0xa4093822, 0x299f31d0));
    }

    @Test
    void randomNormalIsThePhiloxStreamWhateverTheSplit() {
        long seed = 0x1234_5678_9abcL;
        int n = 10_001;
        float[] all;
        try (Tensor y = B.allocate(n)) {
            B.randomNormal(seed, 5, y);
            all = y.toArray();
        }
        double mean = 0, sq = 0;
        for (int i = 0; i < n; i++) {
            float want = normalAt(seed, 5 + i);
            assertEquals(want, all[i], 1e-6f * (1 + Math.abs(want)), "element " + i);
            mean += all[i];
            sq += all[i] * all[i];
        }
        mean /= n;
        assertEquals(0, mean, 0.05);
        assertEquals(1, sq / n - mean * mean, 0.05);
        // the same elements from two calls at other offsets: the same bytes
        try (Tensor a = B.allocate(4000); Tensor b = B.allocate(n - 4000)) {
            B.randomNormal(seed, 5, a);
            B.randomNormal(seed, 5 + 4000, b);
            float[] two = new float[n];
            System.arraycopy(a.toArray(), 0, two, 0, 4000);
            System.arraycopy(b.toArray(), 0, two, 4000, n - 4000);
            assertArrayEquals(all, two, 0f);
        }
    }

    /** A backend of another kind whose tensors hold host memory: the CPU engine must still refuse them. */
    @Test
    void aTensorOfAnotherEngineIsRefusedBeforeNativeCode() {
        Backend cpu = Engine.cpu();
        Backend[] other = new Backend[1];
        other[0] = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, m, args) -> {
                    if (m.getName().equals("name")) return "cuda";
                    if (m.getName().equals("allocate")) return new Tensor(other[0], cpu.allocate((long[]) args[0]).data(), (long[]) args[0]);
                    try {
                        return m.invoke(cpu, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        Tensor foreign = other[0].allocate(2, 3);
        try (Tensor y = cpu.allocate(2, 3)) {
            SalientException e = assertThrows(SalientException.class, () -> cpu.activationForward(Activation.RELU, foreign, y, 0, 0));
            assertTrue(e.getMessage().contains("belongs to the cuda backend"), e.getMessage());
            e = assertThrows(SalientException.class, () -> cpu.randomNormal(1, 0, foreign));
            assertTrue(e.getMessage().contains("belongs to the cuda backend"), e.getMessage());
        }
    }
}
