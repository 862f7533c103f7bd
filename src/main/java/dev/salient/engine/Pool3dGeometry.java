package dev.salient.engine;

import java.util.Arrays;

/**
 * A 3-D pooling window over (n,c,d,h,w): per spatial axis, in (d,h,w) order, the kernel,
 * stride, pads before and after, dilation and output extent. The output size is given
 * explicitly (the caller applies ONNX's floor/ceil rule), so the native code never guesses it.
 * {@code countIncludePad} matters for average pooling only. The arrays are copied in and must
 * not be changed through the accessors.
 */
public record Pool3dGeometry(int n, int c, int[] in, int[] kernel, int[] stride, int[] padBegin, int[] padEnd,
        int[] dilation, int[] out, boolean countIncludePad) {

    public Pool3dGeometry {
        in = Window3d.axes("pool3d", "input", in);
        kernel = Window3d.axes("pool3d", "kernel", kernel);
        stride = Window3d.axes("pool3d", "stride", stride);
        padBegin = Window3d.axes("pool3d", "padBegin", padBegin);
        padEnd = Window3d.axes("pool3d", "padEnd", padEnd);
        dilation = Window3d.axes("pool3d", "dilation", dilation);
        out = Window3d.axes("pool3d", "output", out);
        // described only for an error: a forward makes one of these per pooling
        String bad = n <= 0 || c <= 0 ? "non-positive size" : Window3d.problem(in, kernel, stride, padBegin, padEnd, dilation);
        if (bad == null && (out[0] <= 0 || out[1] <= 0 || out[2] <= 0)) bad = "non-positive size";
        if (bad != null)
            throw new SalientException("pool3d: " + bad + " in " + String.format(
                    "input (%d,%d,%s), window %s, stride %s, pads %s/%s, dilation %s, output %s", n, c, Window3d.str(in),
                    Window3d.str(kernel), Window3d.str(stride), Window3d.str(padBegin), Window3d.str(padEnd),
                    Window3d.str(dilation), Window3d.str(out)));
    }

    public long[] inputShape() {
        return new long[] {n, c, in[0], in[1], in[2]};
    }

    public long[] outputShape() {
        return new long[] {n, c, out[0], out[1], out[2]};
    }

    /** The native layout, SALIENT_POOL3D_GEOM ints (native/salient.h). */
    public int[] abi() {
        int[] g = new int[23];
        g[0] = n;
        g[1] = c;
        for (int a = 0; a < 3; a++) {
            g[2 + a] = in[a];
            g[5 + a] = kernel[a];
            g[8 + a] = stride[a];
            g[11 + a] = padBegin[a];
            g[14 + a] = padEnd[a];
            g[17 + a] = dilation[a];
            g[20 + a] = out[a];
        }
        return g;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Pool3dGeometry g && countIncludePad == g.countIncludePad && Arrays.equals(abi(), g.abi());
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(abi()) * 2 + (countIncludePad ? 1 : 0);
    }

    @Override
    public String toString() {
        return "Pool3dGeometry" + Arrays.toString(abi()) + (countIncludePad ? " count_include_pad" : "");
    }
}
