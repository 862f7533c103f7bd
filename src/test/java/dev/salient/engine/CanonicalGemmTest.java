package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The canonical SGEMM's contract (native/cpu/gemm_canonical.cpp, README "Determinism"): every
 * element of C is one chain {@code acc = fma(alpha * A[i][p], B[p][j], acc)} over p in order from
 * 0, then the bias is added. The CPU engine picks its path by the product's shape (few rows: B
 * streamed by rows, a transposed B transposed in registers or one L1 panel at a time; more rows:
 * Goto's blocking) and splits it over threads, so these tests cover each path and both thread
 * counts, bit for bit.
 */
class CanonicalGemmTest {
    static final Backend B = Engine.cpu();

    /** The chain of every element, in Java's exact float FMA, then + c[j] (beta 1). */
    static float[] chain(boolean ta, boolean tb, int m, int n, int k, float alpha, float[] a, float[] b, float[] c) {
        float[] y = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                float acc = 0f;
                for (int p = 0; p < k; p++) {
                    float av = ta ? a[p * m + i] : a[i * k + p], bv = tb ? b[j * k + p] : b[p * n + j];
                    acc = Math.fma(alpha * av, bv, acc);
                }
                y[i * n + j] = c == null ? acc : acc + c[j];
            }
        return y;
    }

    static float[] gemm(boolean ta, boolean tb, int m, int n, int k, float alpha, float[] a, float[] b, float[] c) {
        try (Tensor tA = B.upload(a, ta ? new long[] {k, m} : new long[] {m, k});
                Tensor tB = B.upload(b, tb ? new long[] {n, k} : new long[] {k, n});
                Tensor tC = c == null ? null : B.upload(c, n); Tensor tY = B.allocate(m, n)) {
            B.fill(tY, Float.NaN);
            B.gemm(tA, tB, tC, tY, ta, tb, alpha, c == null ? 0f : 1f);
            return tY.toArray();
        }
    }

    static void assertSameBits(String what, float[] want, float[] got, int offset) {
        for (int i = 0; i < want.length; i++)
            if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[offset + i]))
                fail(what + ": element " + i + " is " + got[offset + i] + ", expected " + want[i] + " (bits differ)");
    }

    /** Runs body on 1 thread, then on 2, at each instruction-set level this processor has (AVX2, AVX-512). */
    static void onOneAndTwoThreads(Runnable body) {
        int before = CpuNative.salient_get_num_threads(), isa = CpuNative.salient_get_isa();
        try {
            for (int level = CpuNative.ISA_AVX2; level <= CpuNative.salient_max_isa(); level++) {
                assertEquals(0, CpuNative.salient_set_isa(level));
                for (int t : new int[] {1, 2}) {
                    assertEquals(0, CpuNative.salient_set_num_threads(t));
                    body.run();
                }
            }
        } finally {
            CpuNative.salient_set_num_threads(before);
            CpuNative.salient_set_isa(isa);
        }
    }

    @Test
    void everyElementIsOneFmaChainInKOrderOnEveryPath() {
        // m: 1..4 (B by rows), 1..6 (B^T in registers), 7..32 (B^T by L1 panels), 40 and 100 (blocked;
        // 100 in two blocks of rows, each kMR-row stripe across the columns where the k block is short);
        // on AVX2, B (not transposed) read where it lies when m <= 48, 2048 <= m*k <= 8192 and
        // n*k >= 64K (m = 7, 24 and 40 with k = 1000, 300 or 200);
        // k: tails of 4 and 16 steps, the column groups' skew, more than one k block (256);
        // n: partial column groups and panels (the AVX-512 blocked path's blocks of 1 to 4 panels, whole
        // and partial: 9, 20, 37, 60 and 100 = 64 + 36 columns), and enough of B (n*k >= 256K) to split
        // over threads
        int[] ms = {1, 2, 3, 4, 5, 6, 7, 13, 24, 32, 40, 100};
        int[][] nk = {{1, 7}, {9, 33}, {20, 129}, {37, 300}, {60, 64}, {100, 1030}, {300, 1000}, {1001, 200}};
        onOneAndTwoThreads(() -> {
            Random r = new Random(5);
            for (int m : ms)
                for (int[] d : nk) {
                    int n = d[0], k = d[1];
                    boolean ta = r.nextBoolean(), tb = r.nextBoolean(), bias = r.nextBoolean();
                    float alpha = r.nextBoolean() ? 1f : 0.75f;
                    float[] a = Parity.random(r.nextInt(), m * k), b = Parity.random(r.nextInt(), k * n);
                    float[] c = bias ? Parity.random(r.nextInt(), n) : null;
                    // both transposes of B for every shape (the FC layout is transB = 1)
                    for (boolean t : new boolean[] {tb, !tb}) {
                        float[] bt = t == tb ? b : transpose(b, t ? k : n, t ? n : k);
                        String what = "gemm m=" + m + " n=" + n + " k=" + k + " ta=" + ta + " tb=" + t + " alpha=" + alpha
                                + " threads=" + CpuNative.salient_get_num_threads() + " isa=" + CpuNative.salient_get_isa();
                        assertSameBits(what, chain(ta, t, m, n, k, alpha, a, bt, c), gemm(ta, t, m, n, k, alpha, a, bt, c), 0);
                    }
                }
        });
    }

    @Test
    void aFewRowsGetTheBitsTheyGetInsideALargeProduct() {
        // a classifier's Gemm: images alone or in small batches against the same images in a batch of 40
        int rows = 40, n = 300, k = 1000;
        float[] a = Parity.random(31, rows * k), bT = Parity.random(32, n * k), c = Parity.random(33, n);
        float[] bN = transpose(bT, n, k);
        onOneAndTwoThreads(() -> {
            for (boolean tb : new boolean[] {true, false}) {
                float[] b = tb ? bT : bN;
                float[] all = gemm(false, tb, rows, n, k, 1f, a, b, c);
                for (int m : new int[] {1, 2, 3, 5, 6, 7, 12, 32})
                    for (int i0 : new int[] {0, rows - m}) {
                        float[] part = gemm(false, tb, m, n, k, 1f, Arrays.copyOfRange(a, i0 * k, (i0 + m) * k), b, c);
                        assertSameBits("rows " + i0 + ".." + (i0 + m) + " alone against inside 40, tb=" + tb + ", threads="
                                + CpuNative.salient_get_num_threads(), part, all, i0 * n);
                    }
            }
        });
    }

    /** The (rows, cols) row-major matrix x transposed. */
    static float[] transpose(float[] x, int rows, int cols) {
        float[] t = new float[x.length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[j * rows + i] = x[i * cols + j];
        return t;
    }
}
