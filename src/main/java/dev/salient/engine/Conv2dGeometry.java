package dev.salient.engine;

/**
 * Everything a 2-D convolution needs: input (n,c,h,w), weight (k, c/groups, r, s),
 * strides, dilations, asymmetric pads and groups. The output is (n, k, outH, outW)
 * with outH = (h + padTop + padBottom - dilationH*(r-1) - 1) / strideH + 1.
 */
public record Conv2dGeometry(
        int n, int c, int h, int w,
        int k, int r, int s,
        int strideH, int strideW,
        int padTop, int padLeft, int padBottom, int padRight,
        int dilationH, int dilationW,
        int groups) {

    public Conv2dGeometry {
        // fields are not assigned yet inside a compact constructor: describe from the parameters, and only
        // for an error (a forward makes one of these per conv, and String.format was most of its garbage)
        String bad = n <= 0 || c <= 0 || h <= 0 || w <= 0 || k <= 0 || r <= 0 || s <= 0 ? "non-positive size"
                : strideH <= 0 || strideW <= 0 || dilationH <= 0 || dilationW <= 0 ? "strides and dilations must be positive"
                : padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0 ? "negative pad" : null;
        if (bad == null && (groups <= 0 || c % groups != 0 || k % groups != 0))
            throw new SalientException("conv: groups=" + groups + " must divide channels " + c + " and filters " + k);
        if (bad == null && ((long) h + padTop + padBottom - (long) dilationH * (r - 1) - 1 < 0
                || (long) w + padLeft + padRight - (long) dilationW * (s - 1) - 1 < 0))
            bad = "kernel larger than padded input";
        if (bad != null)
            throw new SalientException("conv: " + bad + " in "
                    + describe(n, c, h, w, k, r, s, strideH, strideW, padTop, padLeft, padBottom, padRight, dilationH, dilationW));
    }

    private static String describe(int n, int c, int h, int w, int k, int r, int s, int strideH, int strideW, int padTop,
            int padLeft, int padBottom, int padRight, int dilationH, int dilationW) {
        return String.format("input (%d,%d,%d,%d), kernel %dx%d, %d filters, stride %dx%d, pads (%d,%d,%d,%d), dilation %dx%d",
                n, c, h, w, r, s, k, strideH, strideW, padTop, padLeft, padBottom, padRight, dilationH, dilationW);
    }

    public int outH() {
        return (h + padTop + padBottom - dilationH * (r - 1) - 1) / strideH + 1;
    }

    public int outW() {
        return (w + padLeft + padRight - dilationW * (s - 1) - 1) / strideW + 1;
    }

    public long[] inputShape() {
        return new long[] {n, c, h, w};
    }

    public long[] weightShape() {
        return new long[] {k, c / groups, r, s};
    }

    public long[] outputShape() {
        return new long[] {n, k, outH(), outW()};
    }

    /** A 1x1 conv with stride 1, no padding and one group: each output position reads its own input position. */
    public boolean pointwise() {
        return r == 1 && s == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padLeft == 0 && padBottom == 0
                && padRight == 0 && groups == 1;
    }

    /**
     * A depthwise 3x3 conv of stride 1 or 2 with pads 1 and no dilation, one filter a channel: what
     * follows an expansion in MobileNetV2, the depthwise half of the conv pairs the CPU runs in bands.
     */
    public boolean depthwise3x3() {
        return groups == c && k == c && r == 3 && s == 3 && strideH == strideW && (strideH == 1 || strideH == 2)
                && padTop == 1 && padLeft == 1 && padBottom == 1 && padRight == 1 && dilationH == 1 && dilationW == 1;
    }

    /** Multiply-adds times two, for GFLOP/s reporting. */
    public double flops() {
        return 2.0 * n * k * outH() * outW() * (double) (c / groups) * r * s;
    }

    public Conv2dGeometry withBatch(int newN) {
        return new Conv2dGeometry(newN, c, h, w, k, r, s, strideH, strideW, padTop, padLeft, padBottom, padRight,
                dilationH, dilationW, groups);
    }
}
