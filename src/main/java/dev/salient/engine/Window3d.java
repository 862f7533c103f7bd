package dev.salient.engine;

import java.util.Arrays;
import java.util.function.Supplier;

/** The per-axis checks that {@link Conv3dGeometry} and {@link Pool3dGeometry} share. */
final class Window3d {
    private Window3d() {}

    /** A copy of a (d,h,w) array, refusing any other length. */
    static int[] axes(String op, String what, int[] v) {
        if (v == null || v.length != 3)
            throw new SalientException(op + ": " + what + " needs 3 spatial values (d,h,w), got "
                    + (v == null ? "none" : Arrays.toString(v)));
        return v.clone();
    }

    /** The per-axis checks; {@code d} describes the geometry, asked for only in an error. */
    static void check(String op, Supplier<String> d, int[] in, int[] kernel, int[] stride, int[] padBegin, int[] padEnd,
            int[] dilation) {
        for (int a = 0; a < 3; a++) {
            if (in[a] <= 0 || kernel[a] <= 0) throw new SalientException(op + ": non-positive size in " + d.get());
            if (stride[a] <= 0 || dilation[a] <= 0)
                throw new SalientException(op + ": strides and dilations must be positive in " + d.get());
            if (padBegin[a] < 0 || padEnd[a] < 0) throw new SalientException(op + ": negative pad in " + d.get());
        }
    }

    static String str(int[] v) {
        return v[0] + "x" + v[1] + "x" + v[2];
    }
}
