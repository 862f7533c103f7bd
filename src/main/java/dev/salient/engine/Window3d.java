package dev.salient.engine;

import java.util.Arrays;

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

    /** What the per-axis checks find wrong first, or null (the caller describes the geometry for the error). */
    static String problem(int[] in, int[] kernel, int[] stride, int[] padBegin, int[] padEnd, int[] dilation) {
        for (int a = 0; a < 3; a++) {
            if (in[a] <= 0 || kernel[a] <= 0) return "non-positive size";
            if (stride[a] <= 0 || dilation[a] <= 0) return "strides and dilations must be positive";
            if (padBegin[a] < 0 || padEnd[a] < 0) return "negative pad";
        }
        return null;
    }

    static String str(int[] v) {
        return v[0] + "x" + v[1] + "x" + v[2];
    }
}
