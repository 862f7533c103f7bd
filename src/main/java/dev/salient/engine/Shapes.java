package dev.salient.engine;

import java.util.Arrays;

/** Small shape utilities shared by the engine and the graph. */
public final class Shapes {
    private Shapes() {}

    /** Product of dims; throws on a negative dim or overflow. */
    public static long numel(long... shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new SalientException("negative dimension in shape " + Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** Numpy broadcast of two shapes; throws SalientException if incompatible. */
    public static long[] broadcast(long[] a, long[] b) {
        int r = Math.max(a.length, b.length);
        long[] out = new long[r];
        for (int i = 0; i < r; i++) {
            long da = i < r - a.length ? 1 : a[i - (r - a.length)];
            long db = i < r - b.length ? 1 : b[i - (r - b.length)];
            if (da != db && da != 1 && db != 1)
                throw new SalientException("shapes " + Arrays.toString(a) + " and " + Arrays.toString(b) + " do not broadcast");
            out[i] = da == 1 ? db : da;
        }
        return out;
    }

    public static String str(long[] shape) {
        return Arrays.toString(shape);
    }
}
