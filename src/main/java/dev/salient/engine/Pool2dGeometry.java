package dev.salient.engine;

/**
 * A 2-D pooling window over (n,c,h,w): kernel, strides, dilations, asymmetric
 * pads and the output size. The output size is given explicitly (the caller
 * applies ONNX's floor/ceil rule), so the native code never guesses it.
 * {@code countIncludePad} matters for average pooling only.
 */
public record Pool2dGeometry(
        int n, int c, int h, int w,
        int kernelH, int kernelW,
        int strideH, int strideW,
        int padTop, int padLeft, int padBottom, int padRight,
        int dilationH, int dilationW,
        int outH, int outW,
        boolean countIncludePad) {

    public Pool2dGeometry {
        // fields are not assigned yet inside a compact constructor: describe from the parameters, and only
        // for an error (a forward makes one of these per pooling)
        String bad = n <= 0 || c <= 0 || h <= 0 || w <= 0 || kernelH <= 0 || kernelW <= 0 || outH <= 0 || outW <= 0
                ? "non-positive size"
                : strideH <= 0 || strideW <= 0 || dilationH <= 0 || dilationW <= 0 ? "strides and dilations must be positive"
                : padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0 ? "negative pad" : null;
        if (bad != null)
            throw new SalientException("pool: " + bad + " in " + String.format(
                    "input (%d,%d,%d,%d), window %dx%d, stride %dx%d, pads (%d,%d,%d,%d), dilation %dx%d, output %dx%d",
                    n, c, h, w, kernelH, kernelW, strideH, strideW, padTop, padLeft, padBottom, padRight, dilationH,
                    dilationW, outH, outW));
    }

    /** Global pooling: one window covering the whole plane. */
    public static Pool2dGeometry global(int n, int c, int h, int w) {
        return new Pool2dGeometry(n, c, h, w, h, w, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, false);
    }

    public long[] inputShape() {
        return new long[] {n, c, h, w};
    }

    public long[] outputShape() {
        return new long[] {n, c, outH, outW};
    }
}
