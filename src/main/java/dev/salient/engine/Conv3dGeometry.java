package dev.salient.engine;

import java.util.Arrays;

/**
 * Everything a 3-D convolution needs: input (n,c,d,h,w), weight (k, c/groups, kd, kh, kw),
 * and per spatial axis, in (d,h,w) order, the stride, the pads before and after, and the
 * dilation. The output is (n, k, od, oh, ow) with, per axis,
 * {@code out = (in + padBegin + padEnd - dilation*(kernel-1) - 1) / stride + 1}.
 * The arrays are copied in and must not be changed through the accessors.
 */
public record Conv3dGeometry(int n, int c, int k, int groups, int[] in, int[] kernel, int[] stride, int[] padBegin,
        int[] padEnd, int[] dilation) {

    public Conv3dGeometry {
        in = Window3d.axes("conv3d", "input", in);
        kernel = Window3d.axes("conv3d", "kernel", kernel);
        stride = Window3d.axes("conv3d", "stride", stride);
        padBegin = Window3d.axes("conv3d", "padBegin", padBegin);
        padEnd = Window3d.axes("conv3d", "padEnd", padEnd);
        dilation = Window3d.axes("conv3d", "dilation", dilation);
        // described only for an error: a forward makes one of these per conv
        String bad = n <= 0 || c <= 0 || k <= 0 ? "non-positive size"
                : Window3d.problem(in, kernel, stride, padBegin, padEnd, dilation);
        if (bad != null)
            throw new SalientException("conv3d: " + bad + " in " + describe(n, c, k, in, kernel, stride, padBegin, padEnd, dilation));
        if (groups <= 0 || c % groups != 0 || k % groups != 0)
            throw new SalientException("conv3d: groups=" + groups + " must divide channels " + c + " and filters " + k);
        for (int a = 0; a < 3; a++)
            if ((long) in[a] + padBegin[a] + padEnd[a] - (long) dilation[a] * (kernel[a] - 1) - 1 < 0)
                throw new SalientException("conv3d: kernel larger than padded input in "
                        + describe(n, c, k, in, kernel, stride, padBegin, padEnd, dilation));
    }

    private static String describe(int n, int c, int k, int[] in, int[] kernel, int[] stride, int[] pb, int[] pe,
            int[] dil) {
        return String.format("input (%d,%d,%s), kernel %s, %d filters, stride %s, pads %s/%s, dilation %s", n, c,
                Window3d.str(in), Window3d.str(kernel), k, Window3d.str(stride), Window3d.str(pb), Window3d.str(pe),
                Window3d.str(dil));
    }

    /** Output extent along spatial axis a (0 = depth). */
    public int out(int a) {
        return (in[a] + padBegin[a] + padEnd[a] - dilation[a] * (kernel[a] - 1) - 1) / stride[a] + 1;
    }

    public long[] inputShape() {
        return new long[] {n, c, in[0], in[1], in[2]};
    }

    public long[] weightShape() {
        return new long[] {k, c / groups, kernel[0], kernel[1], kernel[2]};
    }

    public long[] outputShape() {
        return new long[] {n, k, out(0), out(1), out(2)};
    }

    /** Multiply-adds times two, for GFLOP/s reporting. */
    public double flops() {
        return 2.0 * n * k * (double) out(0) * out(1) * out(2) * (c / groups) * kernel[0] * kernel[1] * kernel[2];
    }

    public Conv3dGeometry withBatch(int newN) {
        return new Conv3dGeometry(newN, c, k, groups, in, kernel, stride, padBegin, padEnd, dilation);
    }

    /** The native layout, SALIENT_CONV3D_GEOM ints (native/salient.h). */
    public int[] abi() {
        int[] g = new int[22];
        g[0] = n;
        g[1] = c;
        g[2] = k;
        g[3] = groups;
        for (int a = 0; a < 3; a++) {
            g[4 + a] = in[a];
            g[7 + a] = kernel[a];
            g[10 + a] = stride[a];
            g[13 + a] = padBegin[a];
            g[16 + a] = padEnd[a];
            g[19 + a] = dilation[a];
        }
        return g;
    }

    @Override
    public String toString() {
        return "Conv3dGeometry[" + describe(n, c, k, in, kernel, stride, padBegin, padEnd, dilation) + ", groups "
                + groups + "]";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Conv3dGeometry g && Arrays.equals(abi(), g.abi());
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(abi());
    }
}
