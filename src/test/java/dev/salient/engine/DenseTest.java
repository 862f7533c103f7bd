package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** ONNX Gemm and numpy MatMul against double-precision references. */
class DenseTest {
    static final Backend B = Engine.cpu();

    static int numel(long[] s) {
        return (int) Shapes.numel(s);
    }

    @Test
    void gemmAllTransposesAndBiasBroadcasts() {
        int m = 5, n = 7, k = 9;
        long[][] cShapes = {null, {}, {1}, {n}, {1, n}, {m, 1}, {m, n}, {1, 1}};
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true})
                for (long[] cs : cShapes) {
                    long[] as = ta ? new long[] {k, m} : new long[] {m, k};
                    long[] bs = tb ? new long[] {n, k} : new long[] {k, n};
                    float[] a = Parity.random(1, m * k), b = Parity.random(2, k * n);
                    float[] c = cs == null ? null : Parity.random(3, numel(cs));
                    float alpha = 1.5f, beta = -0.5f;
                    double[] ref = new double[m * n];
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++) {
                            double acc = 0;
                            for (int t = 0; t < k; t++)
                                acc += (double) (ta ? a[t * m + i] : a[i * k + t]) * (tb ? b[j * k + t] : b[t * n + j]);
                            double cv = 0;
                            if (c != null) {
                                long rows = cs.length == 2 ? cs[0] : 1, cols = cs.length == 0 ? 1 : cs[cs.length - 1];
                                cv = c[(int) ((rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j))];
                            }
                            ref[i * n + j] = alpha * acc + beta * cv;
                        }
                    try (Tensor tA = B.upload(a, as); Tensor tB = B.upload(b, bs);
                            Tensor tC = c == null ? null : B.upload(c, cs); Tensor tY = B.allocate(m, n)) {
                        B.fill(tY, Float.NaN);
                        B.gemm(tA, tB, tC, tY, ta, tb, alpha, beta);
                        Parity.assertClose("gemm ta=" + ta + " tb=" + tb + " c=" + (cs == null ? "none" : Shapes.str(cs)),
                                tY.toArray(), ref, 1e-5, 1e-5, new long[] {m, n});
                    }
                }
    }

    @Test
    void largeProductsSplitOverThreadsMatchReference() {
        // > 4 MFLOP: split by rows (m >= n) and by columns (n > m), with transposes
        int[][] mnk = {{130, 70, 300}, {40, 260, 300}};
        for (int[] d : mnk)
            for (boolean ta : new boolean[] {false, true})
                for (boolean tb : new boolean[] {false, true}) {
                    int m = d[0], n = d[1], k = d[2];
                    float[] a = Parity.random(21, m * k), b = Parity.random(22, k * n), c = Parity.random(23, n);
                    double[] ref = new double[m * n];
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++) {
                            double acc = 0;
                            for (int t = 0; t < k; t++)
                                acc += (double) (ta ? a[t * m + i] : a[i * k + t]) * (tb ? b[j * k + t] : b[t * n + j]);
                            ref[i * n + j] = acc + 2.0 * c[j];
                        }
                    try (Tensor tA = B.upload(a, ta ? new long[] {k, m} : new long[] {m, k});
                            Tensor tB = B.upload(b, tb ? new long[] {n, k} : new long[] {k, n});
                            Tensor tC = B.upload(c, n); Tensor tY = B.allocate(m, n)) {
                        B.gemm(tA, tB, tC, tY, ta, tb, 1f, 2f);
                        Parity.assertClose("gemm " + m + "x" + n + "x" + k + " ta=" + ta + " tb=" + tb, tY.toArray(),
                                ref, 1e-4, 1e-4, new long[] {m, n});
                    }
                }
        // batched products, one per thread
        long[] as = {4, 64, 96}, bs = {4, 96, 80};
        float[] a = Parity.random(24, (int) Shapes.numel(as)), b = Parity.random(25, (int) Shapes.numel(bs));
        try (Tensor ta = B.upload(a, as); Tensor tb = B.upload(b, bs); Tensor ty = B.allocate(4, 64, 80)) {
            B.matmul(ta, tb, ty);
            Parity.assertClose("batched matmul", ty.toArray(), matmulRef(a, as, b, bs), 1e-4, 1e-4,
                    new long[] {4, 64, 80});
        }
    }

    @Test
    void gemmRejectsBadShapes() {
        try (Tensor a = B.zeros(3, 4); Tensor b = B.zeros(5, 6); Tensor y = B.zeros(3, 6); Tensor c = B.zeros(2, 6)) {
            SalientException e = assertThrows(SalientException.class, () -> B.gemm(a, b, null, y, false, false, 1, 0));
            assertTrue(e.getMessage().contains("inner dims"), e.getMessage());
            try (Tensor b2 = B.zeros(4, 6)) {
                e = assertThrows(SalientException.class, () -> B.gemm(a, b2, c, y, false, false, 1, 1));
                assertTrue(e.getMessage().contains("broadcast"), e.getMessage());
            }
        }
    }

    /** numpy matmul reference through explicit broadcasting. */
    static double[] matmulRef(float[] a, long[] as, float[] b, long[] bs) {
        long[] a2 = as.length == 1 ? new long[] {1, as[0]} : as;
        long[] b2 = bs.length == 1 ? new long[] {bs[0], 1} : bs;
        int m = (int) a2[a2.length - 2], k = (int) a2[a2.length - 1], n = (int) b2[b2.length - 1];
        long[] ab = java.util.Arrays.copyOf(a2, a2.length - 2), bb = java.util.Arrays.copyOf(b2, b2.length - 2);
        long[] batch = Shapes.broadcast(ab, bb);
        int nb = numel(batch);
        double[] y = new double[nb * m * n];
        for (int i = 0; i < nb; i++) {
            int ia = ElementwiseTest.bindex(batch, ab, i), ib = ElementwiseTest.bindex(batch, bb, i);
            for (int r = 0; r < m; r++)
                for (int c = 0; c < n; c++) {
                    double acc = 0;
                    for (int t = 0; t < k; t++) acc += (double) a[(ia * m + r) * k + t] * b[(ib * k + t) * n + c];
                    y[(i * m + r) * n + c] = acc;
                }
        }
        return y;
    }

    @Test
    void matmulBroadcastingAndPromotion() {
        long[][][] cases = {
            {{3, 4}, {4, 5}},
            {{2, 3, 4}, {4, 5}},          // shared b: one tall product
            {{4}, {4, 5}},                // 1-D a
            {{3, 4}, {4}},                // 1-D b
            {{4}, {4}},                   // dot
            {{2, 1, 3, 4}, {5, 4, 2}},    // both broadcast
            {{3, 4}, {2, 4, 6}},          // a shared
            {{2, 3, 3, 4}, {2, 3, 4, 2}}, // same batch
            {{6}, {2, 6, 3}},             // 1-D a with batch b
            {{2, 5, 6}, {6}},             // 1-D b with batch a
        };
        for (long[][] c : cases) {
            long[] as = c[0], bs = c[1];
            long[] ys = CpuBackend.matmulShape(as, bs);
            float[] a = Parity.random(4, numel(as)), b = Parity.random(5, numel(bs));
            try (Tensor ta = B.upload(a, as); Tensor tb = B.upload(b, bs); Tensor ty = B.allocate(ys)) {
                B.matmul(ta, tb, ty);
                Parity.assertClose("matmul " + Shapes.str(as) + " @ " + Shapes.str(bs), ty.toArray(),
                        matmulRef(a, as, b, bs), 1e-5, 1e-5, ys);
            }
        }
        assertArrayEquals(new long[] {}, CpuBackend.matmulShape(new long[] {4}, new long[] {4}));
        assertArrayEquals(new long[] {2, 5}, CpuBackend.matmulShape(new long[] {2, 5, 6}, new long[] {6}));
        assertArrayEquals(new long[] {2, 5, 3, 2}, CpuBackend.matmulShape(new long[] {2, 1, 3, 4}, new long[] {5, 4, 2}));
        SalientException e = assertThrows(SalientException.class,
                () -> CpuBackend.matmulShape(new long[] {2, 3, 4}, new long[] {3, 4, 5}));
        assertTrue(e.getMessage().contains("broadcast"), e.getMessage());
    }
}
