package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The CPU engine's first conv under coalition masks (native/cpu/coalition.cpp) against its
 * definition written out in double: blend each coalition's image, conv, activation, max pool.
 * Geometries cover the ResNet stem (7x7 stride 2, Relu, 3x3 stride-2 pool), a MobileNet stem
 * (3x3 stride 2, Clip, no pool), asymmetric pads, a 2x2 pool (the scalar pass), widths that are
 * no multiple of 16, segment counts on each of the four coefficient paths (≤ 16, ≤ 32 and ≤ 64 in
 * registers, gathered past 64) and a baseline that is not zero. Each output is one chain in slot
 * order, so the bits do not depend on how the coalitions are split into calls or on the
 * instruction set.
 */
public class CoalitionConvTest {
    static final Backend B = Engine.cpu();

    /** One case: conv geometry (one image), activation, pool (kh, kw, sh, sw, pt, pl) or null, segments. */
    public record Case(Conv2dGeometry g, Activation act, float lo, float hi, int[] pool, int segments, boolean zeroBase) {
        @Override
        public String toString() {
            return g.k() + "x" + g.c() + "x" + g.r() + "x" + g.s() + " stride " + g.strideH() + " on " + g.h() + "x" + g.w() + ", " + act
                    + ", pool " + Arrays.toString(pool) + ", " + segments + " segments" + (zeroBase ? "" : ", baseline");
        }

        public int poolH() {
            return pool == null ? g.outH() : (g.outH() + pool[4] - pool[0] + pool[4]) / pool[2] + 1;
        }

        public int poolW() {
            return pool == null ? g.outW() : (g.outW() + pool[5] - pool[1] + pool[5]) / pool[3] + 1;
        }

        public int[] pool8() {
            if (pool == null) return null;
            int[] q = Arrays.copyOf(pool, 8);
            q[6] = poolH();
            q[7] = poolW();
            return q;
        }
    }

    public static List<Case> cases() {
        List<Case> c = new ArrayList<>();
        c.add(new Case(new Conv2dGeometry(1, 3, 37, 37, 20, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1), Activation.RELU, 0, 0,
                new int[] {3, 3, 2, 2, 1, 1}, 9, true));
        c.add(new Case(new Conv2dGeometry(1, 3, 30, 30, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1), Activation.CLIP, -0.2f, 0.3f,
                null, 20, true));
        c.add(new Case(new Conv2dGeometry(1, 2, 21, 19, 8, 3, 3, 1, 1, 1, 2, 0, 1, 1, 1, 1), null, 0, 0,
                new int[] {2, 2, 2, 2, 0, 0}, 40, false));
        c.add(new Case(new Conv2dGeometry(1, 3, 64, 64, 32, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1), Activation.RELU, 0, 0,
                new int[] {3, 3, 2, 2, 1, 1}, 12, false));
        c.add(new Case(new Conv2dGeometry(1, 3, 40, 40, 16, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1), Activation.RELU, 0, 0, null, 70, true));
        return c;
    }

    /** Labels (h·w) in [0, m): a jittered grid of blobs, every label used. */
    public static int[] labels(int h, int w, int m, long seed) {
        Random r = new Random(seed);
        int side = (int) Math.ceil(Math.sqrt(m));
        int[] l = new int[h * w];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int gy = Math.min(side - 1, (y + r.nextInt(3)) * side / h), gx = Math.min(side - 1, (x + r.nextInt(3)) * side / w);
                l[y * w + x] = (gy * side + gx) % m;
            }
        return l;
    }

    /** The slots of each output position: its window's labels ascending, -1 past the last (t·P + p). */
    public static int[] slots(Conv2dGeometry g, int[] labels, int[] count) {
        int p = g.outH() * g.outW();
        List<int[]> under = new ArrayList<>();
        int most = 1;
        for (int oy = 0; oy < g.outH(); oy++)
            for (int ox = 0; ox < g.outW(); ox++) {
                TreeSet<Integer> s = new TreeSet<>();
                for (int r = 0; r < g.r(); r++)
                    for (int c = 0; c < g.s(); c++) {
                        int iy = oy * g.strideH() - g.padTop() + r, ix = ox * g.strideW() - g.padLeft() + c;
                        if (iy >= 0 && iy < g.h() && ix >= 0 && ix < g.w()) s.add(labels[iy * g.w() + ix]);
                    }
                under.add(s.stream().mapToInt(Integer::intValue).toArray());
                most = Math.max(most, s.size());
            }
        int[] out = new int[most * p];
        Arrays.fill(out, -1);
        for (int q = 0; q < p; q++)
            for (int t = 0; t < under.get(q).length; t++) out[t * p + q] = under.get(q)[t];
        count[0] = most;
        return out;
    }

    /** pool(act(conv(b + m ⊙ (x − b)))) in double for one coalition: (K, PH, PW). */
    static double[] reference(Case cs, float[] x, float[] b, float[] w, float[] bias, int[] labels, float[] keep) {
        Conv2dGeometry g = cs.g;
        int plane = g.h() * g.w(), oh = g.outH(), ow = g.outW();
        double[] in = new double[g.c() * plane];
        for (int c = 0; c < g.c(); c++)
            for (int q = 0; q < plane; q++) {
                double bv = b == null ? 0 : b[c * plane + q];
                in[c * plane + q] = bv + keep[labels[q]] * (x[c * plane + q] - bv);
            }
        double[] y = new double[g.k() * oh * ow];
        for (int k = 0; k < g.k(); k++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double s = bias[k];
                    for (int c = 0; c < g.c(); c++)
                        for (int r = 0; r < g.r(); r++)
                            for (int t = 0; t < g.s(); t++) {
                                int iy = oy * g.strideH() - g.padTop() + r, ix = ox * g.strideW() - g.padLeft() + t;
                                if (iy >= 0 && iy < g.h() && ix >= 0 && ix < g.w())
                                    s += (double) w[((k * g.c() + c) * g.r() + r) * g.s() + t] * in[c * plane + iy * g.w() + ix];
                            }
                    if (cs.act == Activation.RELU) s = Math.max(0, s);
                    else if (cs.act == Activation.CLIP) s = Math.min(Math.max(s, cs.lo), cs.hi);
                    y[(k * oh + oy) * ow + ox] = s;
                }
        if (cs.pool == null) return y;
        int ph = cs.poolH(), pw = cs.poolW();
        double[] p = new double[g.k() * ph * pw];
        for (int k = 0; k < g.k(); k++)
            for (int py = 0; py < ph; py++)
                for (int px = 0; px < pw; px++) {
                    double m = Double.NEGATIVE_INFINITY;
                    for (int r = 0; r < cs.pool[0]; r++)
                        for (int t = 0; t < cs.pool[1]; t++) {
                            int iy = py * cs.pool[2] - cs.pool[4] + r, ix = px * cs.pool[3] - cs.pool[5] + t;
                            if (iy >= 0 && iy < oh && ix >= 0 && ix < ow) m = Math.max(m, y[(k * oh + iy) * ow + ix]);
                        }
                    p[(k * ph + py) * pw + px] = m;
                }
        return p;
    }

    /** The rows of y for {@code count} coalitions, run as calls of {@code per} coalitions. */
    static float[] run(Case cs, Tensor part, Tensor bout, int[] segs, int slots, float[] design, int count, int per) {
        long row = (long) cs.g.k() * cs.poolH() * cs.poolW();
        try (Tensor y = B.allocate(count, row)) {
            B.fill(y, Float.NaN);
            for (int e0 = 0; e0 < count; e0 += per) {
                int n = Math.min(per, count - e0);
                float[] d = Arrays.copyOfRange(design, e0 * cs.segments, (e0 + n) * cs.segments);
                B.coalitionConv(segs, slots, part, bout, d, cs.segments, n, cs.act, cs.lo, cs.hi, cs.pool8(), y, e0, 1);
            }
            return y.toArray();
        }
    }

    @Test
    void matchesBlendConvActivationPoolInDouble() {
        int count = 11;
        for (Case cs : cases()) {
            Conv2dGeometry g = cs.g;
            float[] x = Parity.random(1, g.c() * g.h() * g.w()), w = Parity.random(2, g.k() * g.c() * g.r() * g.s());
            float[] bias = Parity.random(3, g.k()), b = cs.zeroBase ? null : Parity.random(4, x.length);
            int[] labels = labels(g.h(), g.w(), cs.segments, 5);
            int[] n = new int[1];
            int[] segs = slots(g, labels, n);
            float[] design = new float[count * cs.segments];
            Random r = new Random(6);
            for (int i = 0; i < design.length; i++) design[i] = r.nextBoolean() ? 1 : 0;
            Arrays.fill(design, 0, cs.segments, 1f);  // coalition 0 keeps every segment, 1 none
            Arrays.fill(design, cs.segments, 2 * cs.segments, 0f);
            float[][] got = new float[3][];
            int[] levels = {CpuNative.ISA_AVX2, CpuNative.salient_max_isa()};
            int isa = CpuNative.salient_get_isa();
            try (Tensor tx = B.upload(x, g.c(), g.h(), g.w()); Tensor tb = b == null ? null : B.upload(b, g.c(), g.h(), g.w());
                    Tensor tw = B.upload(w, g.weightShape()); Tensor tbias = B.upload(bias, g.k());
                    Tensor part = B.allocate(n[0], g.k(), g.outH(), g.outW()); Tensor bout = B.allocate(g.k(), g.outH(), g.outW())) {
                for (int li = 0; li < 2; li++) {
                    assertEquals(0, CpuNative.salient_set_isa(levels[li]));
                    B.coalitionConvPrepare(tx, tb, labels, tw, tbias, g, segs, n[0], part, bout);
                    got[li] = run(cs, part, bout, segs, n[0], design, count, count);
                    if (li == 1) got[2] = run(cs, part, bout, segs, n[0], design, count, 1);
                }
            } finally {
                CpuNative.salient_set_isa(isa);
            }
            assertArrayEquals(got[0], got[1], cs + ": the same bits on each instruction set");
            assertArrayEquals(got[1], got[2], cs + ": the same bits one coalition a call");
            int row = g.k() * cs.poolH() * cs.poolW();
            for (int e = 0; e < count; e++) {
                double[] want = reference(cs, x, b, w, bias, labels, Arrays.copyOfRange(design, e * cs.segments, (e + 1) * cs.segments));
                Parity.assertClose(cs + ", coalition " + e, Arrays.copyOfRange(got[1], e * row, (e + 1) * row), want, 1e-5, 1e-4);
            }
        }
    }

    @Test
    void aNanInAKeptOrDroppedSegmentReachesItsWindowsAsTheBlendedConvs() {
        // b + 0·(NaN − b) is NaN, so a NaN pixel spoils its windows in every coalition, as blending does
        Case cs = cases().get(0);
        Conv2dGeometry g = cs.g;
        float[] x = Parity.random(1, g.c() * g.h() * g.w()), w = Parity.random(2, g.k() * g.c() * g.r() * g.s());
        x[g.h() * g.w() + 5 * g.w() + 6] = Float.NaN;
        int[] labels = labels(g.h(), g.w(), cs.segments, 5);
        int[] n = new int[1];
        int[] segs = slots(g, labels, n);
        float[] design = new float[2 * cs.segments];
        Arrays.fill(design, 0, cs.segments, 1f);
        try (Tensor tx = B.upload(x, g.c(), g.h(), g.w()); Tensor tw = B.upload(w, g.weightShape());
                Tensor part = B.allocate(n[0], g.k(), g.outH(), g.outW()); Tensor bout = B.allocate(g.k(), g.outH(), g.outW())) {
            B.coalitionConvPrepare(tx, null, labels, tw, null, g, segs, n[0], part, bout);
            float[] y = run(cs, part, bout, segs, n[0], design, 2, 2);
            int ph = cs.poolH(), pw = cs.poolW(), row = g.k() * ph * pw;
            for (int e = 0; e < 2; e++) {
                // conv outputs (2..4, 2..4) read input (5, 6); pool outputs (1..2, 1..2) read those
                assertTrue(Float.isNaN(y[e * row + ph * pw + pw + 1]), "coalition " + e + ": the NaN's window");
                assertFalse(Float.isNaN(y[e * row + ph * pw + (ph - 1) * pw + pw - 1]), "coalition " + e + ": a window far from it");
            }
        }
    }

    @Test
    void badArgumentsAreOneLineBeforeMemoryIsTouched() {
        Case cs = cases().get(0);
        Conv2dGeometry g = cs.g;
        int[] labels = labels(g.h(), g.w(), cs.segments, 5);
        int[] n = new int[1];
        int[] segs = slots(g, labels, n);
        try (Tensor tx = B.allocate(g.c(), g.h(), g.w()); Tensor tw = B.allocate(g.weightShape());
                Tensor part = B.allocate(n[0], g.k(), g.outH(), g.outW()); Tensor bout = B.allocate(g.k(), g.outH(), g.outW());
                Tensor y = B.allocate(2, (long) g.k() * cs.poolH() * cs.poolW())) {
            B.fill(tx, 0.5f);
            B.fill(tw, 0.1f);
            int[] other = labels.clone();
            other[3] = cs.segments + 7;  // a label in no slot of its windows
            var e = assertThrows(SalientException.class, () -> B.coalitionConvPrepare(tx, null, other, tw, null, g, segs, n[0], part, bout));
            assertTrue(e.getMessage().contains("none of the slots"), e.getMessage());
            int[] negative = labels.clone();
            negative[0] = -2;
            e = assertThrows(SalientException.class, () -> B.coalitionConvPrepare(tx, null, negative, tw, null, g, segs, n[0], part, bout));
            assertTrue(e.getMessage().contains("negative label"), e.getMessage());
            e = assertThrows(SalientException.class, () -> B.coalitionConvPrepare(tx, null, labels, tw, null, g, segs, 65, part, bout));
            assertTrue(e.getMessage().contains("slots"), e.getMessage());
            B.coalitionConvPrepare(tx, null, labels, tw, null, g, segs, n[0], part, bout);
            float[] design = new float[2 * cs.segments];
            design[1] = Float.NaN;
            e = assertThrows(SalientException.class,
                    () -> B.coalitionConv(segs, n[0], part, bout, design, cs.segments, 2, cs.act, 0, 0, cs.pool8(), y, 0, 1));
            assertTrue(e.getMessage().contains("not finite"), e.getMessage());
            float[] ok = new float[2 * cs.segments];
            e = assertThrows(SalientException.class,
                    () -> B.coalitionConv(segs, n[0], part, bout, ok, cs.segments, 2, cs.act, 0, 0, cs.pool8(), y, 1, 1));
            assertTrue(e.getMessage().contains("do not fit"), e.getMessage());
            e = assertThrows(SalientException.class,
                    () -> B.coalitionConv(segs, n[0], part, bout, ok, 3, 2 * cs.segments / 3, cs.act, 0, 0, cs.pool8(), y, 0, 1));
            assertTrue(e.getMessage().contains("slot segment"), e.getMessage());
            int[] badPool = cs.pool8();
            badPool[4] = 3;  // a pad as large as the window
            e = assertThrows(SalientException.class,
                    () -> B.coalitionConv(segs, n[0], part, bout, ok, cs.segments, 2, cs.act, 0, 0, badPool, y, 0, 1));
            assertTrue(e.getMessage().contains("bad max pool"), e.getMessage());
            e = assertThrows(SalientException.class,
                    () -> B.coalitionConv(segs, n[0], part, bout, ok, cs.segments, 2, Activation.SIGMOID, 0, 0, cs.pool8(), y, 0, 1));
            assertTrue(e.getMessage().contains("activation"), e.getMessage());
        }
    }
}
