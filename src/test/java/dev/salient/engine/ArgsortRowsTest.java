package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.Comparator;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The CPU row argsort against its definition written out in Java (a stable sort of boxed
 * indices by descending value, NaN last): order, rank as its inverse, ties by index.
 */
class ArgsortRowsTest {
    static final Backend B = Engine.cpu();

    /** The reference: stable descending order of one row, NaN last. */
    static int[] reference(float[] x, int off, int l) {
        Integer[] idx = new Integer[l];
        for (int i = 0; i < l; i++) idx[i] = i;
        Comparator<Integer> c = (a, b) -> {
            float va = x[off + a], vb = x[off + b];
            boolean na = Float.isNaN(va), nb = Float.isNaN(vb);
            if (na != nb) return na ? 1 : -1;
            if (na) return 0;
            return Float.compare(vb, va) == 0 ? 0 : (va > vb ? -1 : 1);
        };
        Arrays.sort(idx, c); // stable: equal values keep ascending index
        return Arrays.stream(idx).mapToInt(Integer::intValue).toArray();
    }

    static void check(float[] x, long r, long l) {
        try (Tensor xt = B.upload(x, r, l); Tensor o = B.allocate(r, l); Tensor k = B.allocate(r, l)) {
            B.argsortRows(xt, o, k);
            float[] order = o.toArray(), rank = k.toArray();
            for (int i = 0; i < r; i++) {
                int[] ref = reference(x, (int) (i * l), (int) l);
                for (int j = 0; j < l; j++) {
                    assertEquals(ref[j], (int) order[(int) (i * l + j)], "row " + i + " position " + j);
                    assertEquals(j, (int) rank[(int) (i * l + ref[j])], "rank of row " + i + " element " + ref[j]);
                }
            }
        }
    }

    @Test
    void randomRowsOfManyLengths() {
        Random rnd = new Random(3);
        for (long[] rl : new long[][] {{1, 1}, {3, 2}, {2, 7}, {4, 64}, {3, 1000}, {2, 28 * 28}}) {
            float[] x = new float[(int) (rl[0] * rl[1])];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            check(x, rl[0], rl[1]);
        }
    }

    @Test
    void tiesKeepAscendingIndexAndNanGoesLast() {
        float[] x = {1, 3, 3, Float.NaN, 0, 3, Float.NaN, 1, -2, 0, 0, 0};
        check(x, 1, x.length);
        check(x, 2, x.length / 2);
        try (Tensor xt = B.upload(x, 1, x.length); Tensor o = B.allocate(1, x.length); Tensor k = B.allocate(1, x.length)) {
            B.argsortRows(xt, o, k);
            assertArrayEquals(new float[] {1, 2, 5, 0, 7, 4, 9, 10, 11, 8, 3, 6}, o.toArray());
        }
    }

    @Test
    void badShapesAreOneLineErrors() {
        try (Tensor x = B.allocate(2, 5); Tensor o = B.allocate(2, 4); Tensor k = B.allocate(2, 5)) {
            SalientException e = assertThrows(SalientException.class, () -> B.argsortRows(x, o, k));
            assertTrue(e.getMessage().startsWith("argsortRows:"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
            e = assertThrows(SalientException.class, () -> B.argsortRows(x, k, k));
            assertTrue(e.getMessage().contains("distinct"), e.getMessage());
        }
    }
}
