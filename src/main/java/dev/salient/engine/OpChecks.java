package dev.salient.engine;

import java.util.Arrays;
import java.util.List;

/**
 * The argument checks of every {@link Backend} op, written once for all engines:
 * each backend calls the check named like its op before it calls native code, so
 * the CPU and CUDA engines refuse the same arguments with the same one-line
 * message. Every tensor must belong to an engine of the calling backend's kind (a
 * CUDA tensor never reaches the CPU engine as a device pointer, nor the reverse).
 * Checks that need values (gemm's C broadcast, matmul's batch shapes) return them.
 */
public final class OpChecks {
    private OpChecks() {}

    /** The engines' largest broadcast rank (SALIENT_MAX_RANK). */
    public static final int MAX_RANK = 8;

    // ---- common

    /** Throws unless every non-null tensor belongs to an engine of {@code self}'s kind. */
    public static void owned(Backend self, String what, Tensor... ts) {
        for (Tensor t : ts) {
            if (t == null) continue;
            String kind = t.backend().name();
            if (!kind.equals(self.name()))
                throw new SalientException(what + ": " + t + " belongs to the " + kind + " backend, not this " + self.name()
                        + " backend");
        }
    }

    public static void requireShape(Tensor t, long[] expected, String what) {
        if (!Arrays.equals(t.shape(), expected))
            throw new SalientException(what + ": expected shape " + Arrays.toString(expected) + ", got "
                    + Arrays.toString(t.shape()));
    }

    /** As {@link #requireShape(Tensor, long[], String)} for {@code what + " " + name}, joined only for an error. */
    static void requireShape(Tensor t, long[] expected, String what, String name) {
        if (!Arrays.equals(t.shape(), expected)) requireShape(t, expected, what + " " + name);
    }

    static void requireRank(Tensor t, String what) {
        if (t.rank() > MAX_RANK) throw new SalientException(what + ": rank " + t.rank() + " exceeds the engine's " + MAX_RANK);
    }

    /** Throws unless {@code small} broadcasts (numpy rules) to exactly {@code big}'s shape. */
    static void requireBroadcastsTo(Tensor small, Tensor big, String what) {
        long[] b;
        try {
            b = Shapes.broadcast(small.shape(), big.shape());
        } catch (SalientException e) {
            throw new SalientException(what + ": " + e.getMessage());
        }
        if (!Arrays.equals(b, big.shape()))
            throw new SalientException(what + ": shape " + Shapes.str(small.shape()) + " does not broadcast to "
                    + Shapes.str(big.shape()));
    }

    /** A dimension as an int for the native ABI. */
    public static int intDim(long v, String what) {
        if (v > Integer.MAX_VALUE) throw new SalientException(what + ": dimension " + v + " too large");
        return (int) v;
    }

    // ---- memory

    public static void copy(Backend self, Tensor src, Tensor dst) {
        owned(self, "copy", src, dst);
        if (src.numel() != dst.numel()) throw new SalientException("copy: " + src + " and " + dst + " differ in size");
    }

    public static void copyRange(Backend self, Tensor src, long srcOffset, Tensor dst, long dstOffset, long count) {
        owned(self, "copyRange", src, dst);
        if (srcOffset < 0 || dstOffset < 0 || count < 0 || srcOffset + count > src.numel() || dstOffset + count > dst.numel())
            throw new SalientException("copyRange: range out of bounds");
    }

    public static void fill(Backend self, Tensor t) {
        owned(self, "fill", t);
    }

    // ---- convolution and pooling

    public static void conv2dForward(Backend self, Tensor x, Tensor w, Tensor bias, Tensor y, Conv2dGeometry g) {
        owned(self, "conv2dForward", x, w, bias, y);
        requireShape(x, g.inputShape(), "conv2dForward x");
        requireShape(w, g.weightShape(), "conv2dForward weight");
        if (bias != null) requireShape(bias, new long[] {g.k()}, "conv2dForward bias");
        requireShape(y, g.outputShape(), "conv2dForward y");
    }

    public static void conv2dForwardActivation(Backend self, Tensor x, Tensor w, Tensor bias, Tensor y,
            Conv2dGeometry g, Activation kind) {
        conv2dForward(self, x, w, bias, y, g);
        if (!Backend.fusesConvActivation(kind))
            throw new SalientException("conv2dForwardActivation: " + kind + " is not fused (Relu or Clip)");
    }

    public static void conv2dForwardSum(Backend self, Tensor x, Tensor w, Tensor bias, Tensor z, Tensor y,
            Conv2dGeometry g, Activation kind) {
        conv2dForward(self, x, w, bias, y, g);
        residual(self, "conv2dForwardSum", x, z, y, g.outputShape(), kind);
    }

    /** Returns the channels as the floats the engines' entry points take. */
    public static float[] conv2dForwardChannels(Backend self, Tensor x, Tensor w, Tensor bias, Tensor z, int[] channels,
            Tensor y, Conv2dGeometry g, Activation kind) {
        String what = "conv2dForwardChannels";
        conv2dForward(self, x, w, bias, y, g);
        owned(self, what, z);
        if (z != null) requireShape(z, g.outputShape(), what + " z");
        if (kind != null && !Backend.fusesConvActivation(kind))
            throw new SalientException(what + ": " + kind + " is not fused (none, Relu or Clip)");
        if (channels == null || channels.length != g.n())
            throw new SalientException(what + ": need one channel per image (" + g.n() + "), got "
                    + (channels == null ? "none" : channels.length));
        for (int i = 0; i < channels.length; i++)
            if (channels[i] < 0 || channels[i] >= g.k())
                throw new SalientException(what + ": channel " + channels[i] + " of image " + i + " is not in 0.." + (g.k() - 1));
        if (overlaps(y, x)) throw new SalientException(what + ": the output overlaps the input x");
        if (z != null && overlaps(y, z)) throw new SalientException(what + ": the output overlaps the residual z");
        float[] f = new float[channels.length];
        for (int i = 0; i < f.length; i++) f[i] = channels[i];
        return f;
    }

    public static void conv2dForwardPrologue(Backend self, Tensor x, Tensor scale, Tensor shift, Activation preKind,
            Tensor w, Tensor bias, Tensor y, Conv2dGeometry g, Activation kind) {
        String what = "conv2dForwardPrologue";
        conv2dForward(self, x, w, bias, y, g);
        owned(self, what, scale, shift);
        if (!g.pointwise())
            throw new SalientException(what + ": not a pointwise conv (1x1, stride 1, no padding, one group): kernel "
                    + g.r() + "x" + g.s() + ", stride " + g.strideH() + "x" + g.strideW() + ", groups " + g.groups());
        if (scale == null) throw new SalientException(what + ": scale is null");
        if (scale.numel() != g.c())
            throw new SalientException(what + ": scale has " + scale.numel() + " values for " + g.c() + " channels");
        if (shift != null && shift.numel() != g.c())
            throw new SalientException(what + ": shift has " + shift.numel() + " values for " + g.c() + " channels");
        if (preKind != null && !Backend.fusesConvActivation(preKind))
            throw new SalientException(what + ": the input's " + preKind + " is not fused (none, Relu or Clip)");
        if (kind != null && !Backend.fusesConvActivation(kind))
            throw new SalientException(what + ": " + kind + " is not fused (none, Relu or Clip)");
        if (overlaps(y, x)) throw new SalientException(what + ": the output overlaps the input x");
    }

    public static void conv2dPointwiseDepthwise(Backend self, Tensor x, Tensor w1, Tensor b1, Activation act1, Tensor w2,
            Tensor b2, Tensor y, Conv2dGeometry pw, Conv2dGeometry dw, Activation act2) {
        convPair(self, "conv2dPointwiseDepthwise", pw, dw, true, x, w1, b1, act1, w2, b2, y, act2);
    }

    public static void conv2dDepthwisePointwise(Backend self, Tensor x, Tensor w1, Tensor b1, Activation act1, Tensor w2,
            Tensor b2, Tensor y, Conv2dGeometry dw, Conv2dGeometry pw, Activation act2) {
        convPair(self, "conv2dDepthwisePointwise", dw, pw, false, x, w1, b1, act1, w2, b2, y, act2);
    }

    /**
     * The checks of a conv pair, g1 (x, w1, b1, act1) then g2 (w2, b2, act2, y): one of them pointwise, the
     * other a depthwise 3x3 conv of stride 1 or 2 with pads 1, g2 reading what g1 makes.
     */
    private static void convPair(Backend self, String what, Conv2dGeometry g1, Conv2dGeometry g2, boolean pointwiseFirst,
            Tensor x, Tensor w1, Tensor b1, Activation act1, Tensor w2, Tensor b2, Tensor y, Activation act2) {
        owned(self, what, x, w1, b1, w2, b2, y);
        Conv2dGeometry pw = pointwiseFirst ? g1 : g2, dw = pointwiseFirst ? g2 : g1;
        String pwIs = pointwiseFirst ? "first" : "second", dwIs = pointwiseFirst ? "second" : "first";
        if (!pw.pointwise())
            throw new SalientException(what + ": the " + pwIs + " conv is not pointwise (1x1, stride 1, no padding, one group): kernel "
                    + pw.r() + "x" + pw.s() + ", stride " + pw.strideH() + "x" + pw.strideW() + ", groups " + pw.groups());
        if (!dw.depthwise3x3())
            throw new SalientException(what + ": the " + dwIs + " conv is not a depthwise 3x3 conv of stride 1 or 2 with pads 1: "
                    + dw.k() + " filters over " + dw.c() + " channels in " + dw.groups() + " groups, kernel " + dw.r() + "x"
                    + dw.s() + ", stride " + dw.strideH() + "x" + dw.strideW() + ", pads " + dw.padTop() + "," + dw.padLeft()
                    + "," + dw.padBottom() + "," + dw.padRight() + ", dilation " + dw.dilationH() + "x" + dw.dilationW());
        if (!java.util.Arrays.equals(g2.inputShape(), g1.outputShape()))
            throw new SalientException(what + ": the " + (pointwiseFirst ? "depthwise" : "pointwise") + " conv reads "
                    + java.util.Arrays.toString(g2.inputShape()) + ", the " + (pointwiseFirst ? "pointwise" : "depthwise")
                    + " conv makes " + java.util.Arrays.toString(g1.outputShape()));
        requireShape(x, g1.inputShape(), what + " x");
        requireShape(w1, g1.weightShape(), what + " w1");
        if (b1 != null) requireShape(b1, new long[] {g1.k()}, what + " b1");
        requireShape(w2, g2.weightShape(), what + " w2");
        if (b2 != null) requireShape(b2, new long[] {g2.k()}, what + " b2");
        requireShape(y, g2.outputShape(), what + " y");
        for (Activation a : new Activation[] {act1, act2})
            if (a != null && !Backend.fusesConvActivation(a))
                throw new SalientException(what + ": " + a + " is not fused (none, Relu or Clip)");
        if (overlaps(y, x)) throw new SalientException(what + ": the output overlaps the input x");
    }

    /** The residual sum's own checks: z of the output's shape, a fused activation, no overlaps. */
    private static void residual(Backend self, String what, Tensor x, Tensor z, Tensor y, long[] outShape, Activation kind) {
        owned(self, what, z);
        if (z == null) throw new SalientException(what + ": the residual z is null");
        requireShape(z, outShape, what, "z");
        if (kind != null && !Backend.fusesConvActivation(kind))
            throw new SalientException(what + ": " + kind + " is not fused (none, Relu or Clip)");
        if (overlaps(y, z)) throw new SalientException(what + ": the output overlaps the residual z");
        if (overlaps(y, x)) throw new SalientException(what + ": the output overlaps the input x");
    }

    /** Whether two tensors' memory overlaps (host addresses; views of one buffer included). */
    static boolean overlaps(Tensor a, Tensor b) {
        long a0 = a.data().address() + 4 * a.data().position(), a1 = a0 + 4 * a.numel();
        long b0 = b.data().address() + 4 * b.data().position(), b1 = b0 + 4 * b.numel();
        return a0 < b1 && b0 < a1;
    }

    public static void conv2dBackwardData(Backend self, Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g) {
        owned(self, "conv2dBackwardData", dy, w, dx);
        requireShape(dy, g.outputShape(), "conv2dBackwardData dy");
        requireShape(w, g.weightShape(), "conv2dBackwardData weight");
        requireShape(dx, g.inputShape(), "conv2dBackwardData dx");
    }

    public static void conv2dBackwardDataRelu(Backend self, Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g, Tensor reluOut,
            Tensor sum) {
        conv2dBackwardData(self, dy, w, dx, g);
        owned(self, "conv2dBackwardDataRelu", reluOut);
        requireShape(reluOut, dx.shape(), "conv2dBackwardDataRelu's Relu output");
        if (sum != null) {
            owned(self, "conv2dBackwardDataRelu", sum);
            requireShape(sum, dx.shape(), "conv2dBackwardDataRelu's sum");
        }
    }

    // ---- 3-D convolution and pooling

    public static void conv3dForward(Backend self, Tensor x, Tensor w, Tensor bias, Tensor y, Conv3dGeometry g) {
        owned(self, "conv3dForward", x, w, bias, y);
        requireShape(x, g.inputShape(), "conv3dForward x");
        requireShape(w, g.weightShape(), "conv3dForward weight");
        if (bias != null) requireShape(bias, new long[] {g.k()}, "conv3dForward bias");
        requireShape(y, g.outputShape(), "conv3dForward y");
    }

    public static void conv3dForwardActivation(Backend self, Tensor x, Tensor w, Tensor bias, Tensor y,
            Conv3dGeometry g, Activation kind) {
        conv3dForward(self, x, w, bias, y, g);
        if (!Backend.fusesConvActivation(kind))
            throw new SalientException("conv3dForwardActivation: " + kind + " is not fused (Relu or Clip)");
    }

    public static void conv3dForwardSum(Backend self, Tensor x, Tensor w, Tensor bias, Tensor z, Tensor y,
            Conv3dGeometry g, Activation kind) {
        conv3dForward(self, x, w, bias, y, g);
        residual(self, "conv3dForwardSum", x, z, y, g.outputShape(), kind);
    }

    public static void conv3dBackwardData(Backend self, Tensor dy, Tensor w, Tensor dx, Conv3dGeometry g) {
        owned(self, "conv3dBackwardData", dy, w, dx);
        requireShape(dy, g.outputShape(), "conv3dBackwardData dy");
        requireShape(w, g.weightShape(), "conv3dBackwardData weight");
        requireShape(dx, g.inputShape(), "conv3dBackwardData dx");
    }

    /** Max or average 3-D pooling forward, {@code op} naming it in messages. */
    public static void pool3dForward(Backend self, String op, Tensor x, Tensor y, Pool3dGeometry g) {
        owned(self, op, x, y);
        requireShape(x, g.inputShape(), op, "x");
        requireShape(y, g.outputShape(), op, "y");
    }

    /** Max (x given) or average (x null) 3-D pooling backward. */
    public static void pool3dBackward(Backend self, String op, Tensor x, Tensor dy, Tensor dx, Pool3dGeometry g) {
        owned(self, op, x, dy, dx);
        if (x != null) requireShape(x, g.inputShape(), op, "x");
        requireShape(dy, g.outputShape(), op, "dy");
        requireShape(dx, g.inputShape(), op, "dx");
    }

    public static void maxPool2dForward(Backend self, Tensor x, Tensor y, Pool2dGeometry g) {
        owned(self, "maxPool2dForward", x, y);
        requireShape(x, g.inputShape(), "maxPool2dForward x");
        requireShape(y, g.outputShape(), "maxPool2dForward y");
    }

    public static void maxPool2dBackward(Backend self, Tensor x, Tensor dy, Tensor dx, Pool2dGeometry g) {
        owned(self, "maxPool2dBackward", x, dy, dx);
        requireShape(x, g.inputShape(), "maxPool2dBackward x");
        requireShape(dy, g.outputShape(), "maxPool2dBackward dy");
        requireShape(dx, g.inputShape(), "maxPool2dBackward dx");
    }

    public static void avgPool2dForward(Backend self, Tensor x, Tensor y, Pool2dGeometry g) {
        owned(self, "avgPool2dForward", x, y);
        requireShape(x, g.inputShape(), "avgPool2dForward x");
        requireShape(y, g.outputShape(), "avgPool2dForward y");
    }

    public static void avgPool2dBackward(Backend self, Tensor dy, Tensor dx, Pool2dGeometry g) {
        owned(self, "avgPool2dBackward", dy, dx);
        requireShape(dy, g.outputShape(), "avgPool2dBackward dy");
        requireShape(dx, g.inputShape(), "avgPool2dBackward dx");
    }

    // ---- elementwise

    public static void activationForward(Backend self, Tensor x, Tensor y) {
        owned(self, "activation", x, y);
        requireShape(y, x.shape(), "activation");
    }

    public static void activationBackward(Backend self, Tensor x, Tensor dy, Tensor dx) {
        owned(self, "activation backward", x, dy, dx);
        requireShape(dy, x.shape(), "activation backward dy");
        requireShape(dx, x.shape(), "activation backward dx");
    }

    public static void redirectedReluBackward(Backend self, Tensor x, Tensor dy, Tensor dx) {
        activationBackward(self, x, dy, dx);
        requireRank(x, "redirectedReluBackward");
        if (x.dim(0) <= 0) throw new SalientException("redirectedReluBackward: no rows in " + Shapes.str(x.shape()));
    }

    public static void preluForward(Backend self, Tensor x, Tensor slope, Tensor y) {
        owned(self, "prelu", x, slope, y);
        requireRank(x, "prelu");
        requireBroadcastsTo(slope, x, "prelu slope");
        requireShape(y, x.shape(), "prelu y");
    }

    public static void preluBackward(Backend self, Tensor x, Tensor slope, Tensor dy, Tensor dx) {
        owned(self, "prelu backward", x, slope, dy, dx);
        requireRank(x, "prelu backward");
        requireBroadcastsTo(slope, x, "prelu backward slope");
        requireShape(dy, x.shape(), "prelu backward dy");
        requireShape(dx, x.shape(), "prelu backward dx");
    }

    public static void binary(Backend self, BinaryOp op, Tensor a, Tensor b, Tensor y) {
        String name = op.name().toLowerCase(java.util.Locale.ROOT);
        owned(self, name, a, b, y);
        long[] out;
        try {
            out = Shapes.broadcast(a.shape(), b.shape());
        } catch (SalientException e) {
            throw new SalientException(name + ": " + e.getMessage());
        }
        requireShape(y, out, name, "y");
        requireRank(y, name);
    }

    public static void reduceSumTo(Backend self, Tensor src, Tensor dst) {
        owned(self, "reduceSumTo", src, dst);
        requireRank(src, "reduceSumTo");
        requireBroadcastsTo(dst, src, "reduceSumTo dst");
    }

    /** Returns (outer, channels, inner). */
    public static long[] channelAffine(Backend self, Tensor x, Tensor scale, Tensor shift, Tensor y) {
        owned(self, "channelAffine", x, scale, shift, y);
        if (x.rank() < 2) throw new SalientException("channelAffine: x must have a channel axis, got " + x);
        long c = x.dim(1);
        if (scale.numel() != c)
            throw new SalientException("channelAffine: scale has " + scale.numel() + " values for " + c + " channels");
        if (shift != null && shift.numel() != c)
            throw new SalientException("channelAffine: shift has " + shift.numel() + " values for " + c + " channels");
        requireShape(y, x.shape(), "channelAffine y");
        long outer = x.dim(0), inner = c == 0 || outer == 0 ? 0 : x.numel() / (outer * c);
        return new long[] {outer, c, inner};
    }

    public static long[] channelAffineActivation(Backend self, Tensor x, Tensor scale, Tensor shift, Tensor y,
            Activation kind) {
        long[] v = channelAffine(self, x, scale, shift, y);
        if (kind == null || !Backend.fusesConvActivation(kind))
            throw new SalientException("channelAffineActivation: " + kind + " is not fused (Relu or Clip)");
        return v;
    }

    public static void axpby(Backend self, Tensor x, Tensor y) {
        owned(self, "axpby", x, y);
        if (x.numel() != y.numel()) throw new SalientException("axpby: " + x + " and " + y + " differ in size");
    }

    // ---- dense

    /** Returns (m, n, k, cRows, cCols). */
    public static long[] gemm(Backend self, Tensor a, Tensor b, Tensor c, Tensor y, boolean transA, boolean transB) {
        owned(self, "gemm", a, b, c, y);
        if (a.rank() != 2 || b.rank() != 2)
            throw new SalientException("gemm: A and B must be 2-D, got " + Shapes.str(a.shape()) + " and " + Shapes.str(b.shape()));
        long m = transA ? a.dim(1) : a.dim(0), k = transA ? a.dim(0) : a.dim(1);
        long kb = transB ? b.dim(1) : b.dim(0), n = transB ? b.dim(0) : b.dim(1);
        if (k != kb)
            throw new SalientException("gemm: inner dims differ: op(A) is (" + m + "," + k + "), op(B) is (" + kb + "," + n + ")");
        requireShape(y, new long[] {m, n}, "gemm y");
        long cRows = 1, cCols = 1;
        if (c != null) {
            if (c.rank() > 2) throw new SalientException("gemm: C must have rank <= 2, got " + Shapes.str(c.shape()));
            if (c.rank() == 2) {
                cRows = c.dim(0);
                cCols = c.dim(1);
            } else if (c.rank() == 1) {
                cCols = c.dim(0);
            }
            if ((cRows != 1 && cRows != m) || (cCols != 1 && cCols != n))
                throw new SalientException("gemm: C of shape " + Shapes.str(c.shape()) + " does not broadcast to (" + m + ","
                        + n + ")");
        }
        return new long[] {m, n, k, cRows, cCols};
    }

    /** The numpy matmul output shape of a and b (1-D operands promoted, then their added axis dropped). */
    public static long[] matmulShape(long[] a, long[] b) {
        if (a.length == 0 || b.length == 0) throw new SalientException("matmul: operands must have rank >= 1");
        long[] a2 = a.length == 1 ? new long[] {1, a[0]} : a;
        long[] b2 = b.length == 1 ? new long[] {b[0], 1} : b;
        long k = a2[a2.length - 1], kb = b2[b2.length - 2];
        if (k != kb) throw new SalientException("matmul: inner dims differ: " + Shapes.str(a) + " @ " + Shapes.str(b));
        long[] batch = Shapes.broadcast(Arrays.copyOf(a2, a2.length - 2), Arrays.copyOf(b2, b2.length - 2));
        long[] out = Arrays.copyOf(batch, batch.length + (a.length > 1 ? 1 : 0) + (b.length > 1 ? 1 : 0));
        int i = batch.length;
        if (a.length > 1) out[i++] = a2[a2.length - 2];
        if (b.length > 1) out[i] = b2[b2.length - 1];
        return out;
    }

    /** The engines' matmul arguments: a's and b's batch shapes padded to one rank, and m, n, k. */
    public record MatmulArgs(long[] aBatch, long[] bBatch, int batchRank, long m, long n, long k) {}

    public static MatmulArgs matmul(Backend self, Tensor a, Tensor b, Tensor y) {
        owned(self, "matmul", a, b, y);
        long[] out = matmulShape(a.shape(), b.shape());
        requireShape(y, out, "matmul y");
        long[] as = a.shape(), bs = b.shape();
        long[] a2 = as.length == 1 ? new long[] {1, as[0]} : as;
        long[] b2 = bs.length == 1 ? new long[] {bs[0], 1} : bs;
        int batchRank = Math.max(a2.length, b2.length) - 2;
        if (batchRank > MAX_RANK)
            throw new SalientException("matmul: batch rank " + batchRank + " exceeds the engine's " + MAX_RANK);
        long[] ab = new long[batchRank], bb = new long[batchRank];
        for (int d = 0; d < batchRank; d++) {
            int da = d - (batchRank - (a2.length - 2)), db = d - (batchRank - (b2.length - 2));
            ab[d] = da >= 0 ? a2[da] : 1;
            bb[d] = db >= 0 ? b2[db] : 1;
        }
        return new MatmulArgs(ab, bb, batchRank, a2[a2.length - 2], b2[b2.length - 1], a2[a2.length - 1]);
    }

    // ---- softmax

    static void requireView(Tensor t, long outer, long dim, long inner, String what) {
        if (outer < 0 || dim < 0 || inner < 0)
            throw new SalientException(what + ": negative view (" + outer + "," + dim + "," + inner + ")");
        long n;
        try {
            n = Math.multiplyExact(Math.multiplyExact(outer, dim), inner);
        } catch (ArithmeticException e) {
            throw new SalientException(what + ": view (" + outer + "," + dim + "," + inner + ") overflows");
        }
        if (n != t.numel())
            throw new SalientException(what + ": view (" + outer + "," + dim + "," + inner + ") does not cover "
                    + Shapes.str(t.shape()));
    }

    public static void softmaxForward(Backend self, Tensor x, Tensor y, long outer, long dim, long inner) {
        owned(self, "softmax", x, y);
        requireView(x, outer, dim, inner, "softmax");
        requireShape(y, x.shape(), "softmax y");
    }

    public static void softmaxBackward(Backend self, Tensor y, Tensor dy, Tensor dx, long outer, long dim, long inner) {
        owned(self, "softmax backward", y, dy, dx);
        requireView(y, outer, dim, inner, "softmax backward");
        requireShape(dy, y.shape(), "softmax backward dy");
        requireShape(dx, y.shape(), "softmax backward dx");
    }

    // ---- concat / slice

    static int normAxis(int axis, int rank, String what) {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new SalientException(what + ": axis " + axis + " out of range for rank " + rank);
        return a;
    }

    static long prod(long[] s, int from, int to) {
        long p = 1;
        for (int i = from; i < to; i++) p *= s[i];
        return p;
    }

    static void requireSameButAxis(long[] a, long[] b, int axis, String what) {
        boolean ok = a.length == b.length;
        for (int i = 0; ok && i < a.length; i++) ok = i == axis || a[i] == b[i];
        if (!ok)
            throw new SalientException(what + ": shapes " + Shapes.str(a) + " and " + Shapes.str(b) + " differ outside axis "
                    + axis);
    }

    /** Returns (axis, outer, inner). */
    public static long[] concat(Backend self, List<Tensor> xs, int axis, Tensor y) {
        if (xs.isEmpty()) throw new SalientException("concat: no inputs");
        owned(self, "concat", xs.toArray(new Tensor[0]));
        owned(self, "concat", y);
        long[] ys = y.shape();
        int ax = normAxis(axis, ys.length, "concat");
        long total = 0;
        for (Tensor x : xs) {
            requireSameButAxis(x.shape(), ys, ax, "concat");
            total += x.dim(ax);
        }
        if (total != ys[ax]) throw new SalientException("concat: inputs sum to " + total + " along axis " + ax + " but y has " + ys[ax]);
        return new long[] {ax, prod(ys, 0, ax), prod(ys, ax + 1, ys.length)};
    }

    /** Returns (axis, outer, inner). */
    public static long[] sliceAxis(Backend self, Tensor src, int axis, long offset, Tensor dst) {
        owned(self, "sliceAxis", src, dst);
        long[] ss = src.shape();
        int ax = normAxis(axis, ss.length, "sliceAxis");
        requireSameButAxis(ss, dst.shape(), ax, "sliceAxis");
        long len = dst.dim(ax);
        if (offset < 0 || offset + len > ss[ax])
            throw new SalientException("sliceAxis: slice [" + offset + ", " + (offset + len) + ") outside axis " + ax
                    + " of size " + ss[ax]);
        return new long[] {ax, prod(ss, 0, ax), prod(ss, ax + 1, ss.length)};
    }

    // ---- CAM and resizes

    static long planeSize(Tensor t, String what) {
        if (t.rank() != 4) throw new SalientException(what + ": expected a 4-D (N,K,h,w) tensor, got " + t);
        return t.dim(2) * t.dim(3);
    }

    /** Returns the plane size h*w. */
    public static long gradcamWeights(Backend self, Tensor a, Tensor g, Tensor w) {
        owned(self, "gradcam weights", a, g, w);
        long p = planeSize(a, "gradcam weights");
        requireShape(g, a.shape(), "gradcam weights: gradient");
        requireShape(w, new long[] {a.dim(0), a.dim(1)}, "gradcam weights: output");
        return p;
    }

    /** Returns the plane size h*w. */
    public static long camCombine(Backend self, CamCombine mode, Tensor a, Tensor wg, Tensor cam) {
        owned(self, "cam combine", a, wg, cam);
        long p = planeSize(a, "cam combine");
        if (mode == CamCombine.WEIGHTED) requireShape(wg, new long[] {a.dim(0), a.dim(1)}, "cam combine: weights");
        else requireShape(wg, a.shape(), "cam combine: gradient");
        requireShape(cam, new long[] {a.dim(0), a.dim(2), a.dim(3)}, "cam combine: output");
        return p;
    }

    public static void camFinish(Backend self, Tensor cam, Tensor out) {
        owned(self, "cam finish", cam, out);
        if (cam.rank() != 3 || out.rank() != 3 || cam.dim(0) != out.dim(0))
            throw new SalientException("cam finish: expected (N,h,w) -> (N,H,W), got " + cam + " -> " + out);
    }

    public static void resize(Backend self, String what, Tensor x, Tensor y) {
        owned(self, what, x, y);
        if (x.rank() != 4 || y.rank() != 4 || x.dim(0) != y.dim(0) || x.dim(1) != y.dim(1))
            throw new SalientException(what + ": expected (N,C,h,w) -> (N,C,H,W), got " + x + " -> " + y);
    }

    // ---- primitives

    /** Returns (S, N, nb, D, dm) for the engines' masked_blend. */
    public static long[] maskedBlend(Backend self, Tensor x, Tensor b, Tensor m, Tensor y) {
        owned(self, "maskedBlend", x, b, m, y);
        if (x.rank() < 1 || x.dim(0) == 0 || x.numel() == 0)
            throw new SalientException("maskedBlend: x must have a non-empty batch axis, got " + x);
        long n = x.dim(0), d = x.numel() / n;
        long[] one = x.shape();
        one[0] = 1;
        if (!Arrays.equals(b.shape(), x.shape()) && !Arrays.equals(b.shape(), one))
            throw new SalientException("maskedBlend: b must have x's shape " + Shapes.str(x.shape()) + " or " + Shapes.str(one)
                    + ", got " + Shapes.str(b.shape()));
        if (m.rank() < 1 || m.dim(0) == 0 || m.numel() == 0) throw new SalientException("maskedBlend: m must have masks, got " + m);
        long s = m.dim(0), dm = m.numel() / s;
        if (d % dm != 0)
            throw new SalientException("maskedBlend: a mask of " + dm + " values does not tile rows of " + d + " values");
        long[] ys = x.shape();
        ys[0] = s * n;
        requireShape(y, ys, "maskedBlend y");
        return new long[] {s, n, b.dim(0), d, dm};
    }

    /** The arguments of {@link Backend#coalitionConvPrepare}, each with one line naming what is wrong. */
    public static void coalitionConvPrepare(Backend self, Tensor x, Tensor b, int[] labels, Tensor w, Tensor bias,
            Conv2dGeometry g, int[] segs, int slots, Tensor part, Tensor bout) {
        owned(self, "coalitionConvPrepare", x, b, w, bias, part, bout);
        if (g.n() != 1 || g.groups() != 1 || g.dilationH() != 1 || g.dilationW() != 1)
            throw new SalientException("coalitionConvPrepare: needs one image, groups 1 and dilation 1, got " + g);
        long plane = (long) g.h() * g.w(), p = (long) g.outH() * g.outW();
        if (x.numel() != g.c() * plane) throw new SalientException("coalitionConvPrepare: x " + x + " is not one image of " + g);
        if (b != null && b.numel() != x.numel())
            throw new SalientException("coalitionConvPrepare: baseline " + b + " does not match x " + x);
        requireShape(w, new long[] {g.k(), g.c(), g.r(), g.s()}, "coalitionConvPrepare w");
        if (bias != null) requireShape(bias, new long[] {g.k()}, "coalitionConvPrepare bias");
        if (slots < 1 || slots > 64) throw new SalientException("coalitionConvPrepare: slots must be in [1, 64], got " + slots);
        if (labels.length != plane)
            throw new SalientException("coalitionConvPrepare: " + labels.length + " labels for a " + g.h() + "x" + g.w() + " plane");
        for (int v : labels) if (v < 0) throw new SalientException("coalitionConvPrepare: a negative label " + v);
        if (segs.length != slots * p)
            throw new SalientException("coalitionConvPrepare: " + segs.length + " slot segments, expected " + slots + " x " + p);
        for (int v : segs) if (v < -1) throw new SalientException("coalitionConvPrepare: a slot segment " + v + " below -1");
        requireShape(part, new long[] {slots, g.k(), g.outH(), g.outW()}, "coalitionConvPrepare part");
        requireShape(bout, new long[] {g.k(), g.outH(), g.outW()}, "coalitionConvPrepare bout");
        // every label under a position's window is one of its slots, so no engine drops a tap
        int top = 0;
        for (int v : labels) top = Math.max(top, v);
        int[] stamp = new int[top + 1];  // position q + 1 where label v is a slot
        for (int oy = 0; oy < g.outH(); oy++)
            for (int ox = 0; ox < g.outW(); ox++) {
                int q = oy * g.outW() + ox;
                for (int t = 0; t < slots; t++) {
                    int v = segs[(int) (t * p) + q];
                    if (v >= 0 && v <= top) stamp[v] = q + 1;
                }
                for (int r = 0; r < g.r(); r++) {
                    int iy = oy * g.strideH() - g.padTop() + r;
                    if (iy < 0 || iy >= g.h()) continue;
                    for (int s = 0; s < g.s(); s++) {
                        int ix = ox * g.strideW() - g.padLeft() + s;
                        if (ix < 0 || ix >= g.w()) continue;
                        int lab = labels[iy * g.w() + ix];
                        if (stamp[lab] != q + 1)
                            throw new SalientException("coalitionConvPrepare: label " + lab + " at (" + iy + ", " + ix
                                    + ") is in none of the slots of output (" + oy + ", " + ox + ")");
                    }
                }
            }
    }

    /** The arguments of {@link Backend#coalitionConv}; returns the floats of one row of y. */
    public static long coalitionConv(Backend self, int[] segs, int slots, Tensor part, Tensor bout, float[] design, int m,
            int count, Activation act, float lo, float hi, int[] pool, Tensor y, long first, long step) {
        owned(self, "coalitionConv", part, bout, y);
        if (part.rank() != 4 || part.dim(0) != slots || slots < 1 || slots > 64)
            throw new SalientException("coalitionConv: part must be (" + slots + ",K,OH,OW) with 1 to 64 slots, got " + part);
        long k = part.dim(1), oh = part.dim(2), ow = part.dim(3), p = oh * ow;
        requireShape(bout, new long[] {k, oh, ow}, "coalitionConv bout");
        if (segs.length != slots * p)
            throw new SalientException("coalitionConv: " + segs.length + " slot segments, expected " + slots + " x " + p);
        if (m < 1 || count < 1 || design.length != (long) count * m)
            throw new SalientException("coalitionConv: design of " + design.length + " values is not " + count + " coalitions of "
                    + m + " segments");
        for (int v : segs)
            if (v < -1 || v >= m) throw new SalientException("coalitionConv: a slot segment " + v + " outside [-1, " + m + ")");
        for (float v : design) if (!Float.isFinite(v)) throw new SalientException("coalitionConv: a design value " + v + " is not finite");
        if (act != null && act != Activation.RELU && act != Activation.CLIP)
            throw new SalientException("coalitionConv: the activation must be none, RELU or CLIP, got " + act);
        long plane = p;
        if (pool != null) {
            if (pool.length != 8) throw new SalientException("coalitionConv: a pool is 8 numbers, got " + pool.length);
            int kh = pool[0], kw = pool[1], sh = pool[2], sw = pool[3], pt = pool[4], pl = pool[5], poh = pool[6], pow = pool[7];
            if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || pt < 0 || pl < 0 || pt >= kh || pl >= kw || poh < 1 || pow < 1
                    || (long) (poh - 1) * sh - pt >= oh || (long) (pow - 1) * sw - pl >= ow)
                throw new SalientException("coalitionConv: bad max pool " + Arrays.toString(pool) + " over " + oh + "x" + ow);
            plane = (long) poh * pow;
        }
        long row = k * plane;
        if (y.numel() % row != 0) throw new SalientException("coalitionConv: y " + y + " is not rows of " + row + " floats");
        long rows = y.numel() / row;
        if (first < 0 || step < 1 || first + (count - 1) * step >= rows)
            throw new SalientException("coalitionConv: rows " + first + " + e x " + step + " for " + count
                    + " coalitions do not fit y's " + rows + " rows");
        return row;
    }

    public static void weightedSum(Backend self, Tensor g, float[] w, Tensor acc) {
        owned(self, "weightedSum", g, acc);
        if (w.length == 0 || acc.numel() == 0) throw new SalientException("weightedSum: no weights or an empty accumulator");
        if (g.numel() != w.length * acc.numel())
            throw new SalientException("weightedSum: " + g + " is not " + w.length + " rows of " + acc);
    }

    /** Returns (R, L): y's elements and the row length of x. */
    public static long[] reduceRows(Backend self, Tensor x, Tensor y) {
        owned(self, "reduceRows", x, y);
        long r = y.numel();
        if (r == 0 || x.numel() == 0 || x.numel() % r != 0)
            throw new SalientException("reduceRows: " + x + " is not rows for the " + r + " values of " + y);
        return new long[] {r, x.numel() / r};
    }

    /** Returns n, the elements, for {@link Backend#stabilizedDivide}. */
    public static long stabilizedDivide(Backend self, Tensor r, Tensor z, Tensor y, float eps) {
        owned(self, "stabilizedDivide", r, z, y);
        if (r == null || z == null || y == null) throw new SalientException("stabilizedDivide: a tensor is missing");
        long n = r.numel();
        if (n == 0) throw new SalientException("stabilizedDivide: " + r + " is empty");
        for (Tensor t : new Tensor[] {z, y})
            if (t.numel() != n) throw new SalientException("stabilizedDivide: " + t + " does not hold the " + n + " elements of r");
        if (!(eps >= 0) || !Float.isFinite(eps)) throw new SalientException("stabilizedDivide: eps must be finite and >= 0, got " + eps);
        return n;
    }

    /** Returns n, the elements, for {@link Backend#normShares}. */
    public static long normShares(Backend self, Tensor a, Tensor b, Tensor r, Tensor da, Tensor db, float eps) {
        owned(self, "normShares", a, b, r, da, db);
        if (a == null || b == null || r == null) throw new SalientException("normShares: a tensor is missing");
        if (da == null && db == null) throw new SalientException("normShares: neither share is wanted");
        long n = r.numel();
        if (n == 0) throw new SalientException("normShares: " + r + " is empty");
        for (Tensor t : new Tensor[] {a, b, da, db})
            if (t != null && t.numel() != n) throw new SalientException("normShares: " + t + " does not hold the " + n + " elements of r");
        for (Tensor d : new Tensor[] {da, db})
            for (Tensor t : new Tensor[] {a, b, r})
                if (d != null && overlaps(d, t)) throw new SalientException("normShares: the output " + d + " overlaps an input");
        if (da != null && db != null && overlaps(da, db)) throw new SalientException("normShares: da and db overlap");
        if (!(eps >= 0) || !Float.isFinite(eps)) throw new SalientException("normShares: eps must be finite and >= 0, got " + eps);
        return n;
    }

    /** Returns h, the half of the paired elements, for {@link Backend#secantBackward}. */
    public static long secantBackward(Backend self, Tensor x, Tensor y, Tensor dy, Tensor dx, float eps, Activation own) {
        if (own != null && own != Activation.RELU)
            throw new SalientException("secantBackward: the own gradient is computed for Relu only, not " + own);
        owned(self, "secantBackward", x, y, dy, dx);
        if (x == null || y == null || dy == null || dx == null) throw new SalientException("secantBackward: a tensor is missing");
        long n = x.numel();
        if (n == 0 || n % 2 != 0)
            throw new SalientException("secantBackward: x must hold input and reference halves of equal size, got " + x);
        for (Tensor t : new Tensor[] {y, dy, dx})
            if (t.numel() != n) throw new SalientException("secantBackward: " + t + " does not hold the " + n + " elements of x");
        if (!(eps >= 0) || !Float.isFinite(eps)) throw new SalientException("secantBackward: eps must be finite and >= 0, got " + eps);
        return n / 2;
    }

    /**
     * Returns {h, repeat, row} for {@link Backend#secantReluHalf}: the input elements, the input rows
     * each reference row serves, and the elements of a row (x's first axis).
     */
    public static long[] secantReluHalf(Backend self, Tensor x, Tensor y, Tensor dy, Tensor dx, float eps) {
        owned(self, "secantReluHalf", x, y, dy, dx);
        if (x == null || y == null || dy == null || dx == null) throw new SalientException("secantReluHalf: a tensor is missing");
        long n = x.numel(), h = dx.numel();
        if (y.numel() != n) throw new SalientException("secantReluHalf: " + y + " does not hold the " + n + " elements of x");
        if (dy.numel() != h) throw new SalientException("secantReluHalf: " + dy + " does not hold the " + h + " elements of dx");
        long row = x.rank() == 0 || x.dim(0) == 0 ? 0 : n / x.dim(0);
        long refs = n - h;
        if (h == 0 || refs <= 0 || row == 0 || refs % row != 0 || h % refs != 0 || h % row != 0)
            throw new SalientException("secantReluHalf: x " + x + " does not hold the " + h
                    + " input elements followed by whole reference rows that divide them");
        if (!(eps >= 0) || !Float.isFinite(eps)) throw new SalientException("secantReluHalf: eps must be finite and >= 0, got " + eps);
        return new long[] {h, h / refs, row};
    }

    /** Returns (R, L) for {@link Backend#argsortRows}: rows of order's leading dims, L its last. */
    public static long[] argsortRows(Backend self, Tensor x, Tensor order, Tensor rank) {
        owned(self, "argsortRows", x, order, rank);
        if (x.rank() < 1 || x.numel() == 0) throw new SalientException("argsortRows: empty input " + x);
        long l = x.dim(x.rank() - 1);
        if (l > (1L << 24)) throw new SalientException("argsortRows: rows of " + l + " elements exceed 2^24 (float indices)");
        if (!java.util.Arrays.equals(order.shape(), x.shape()) || !java.util.Arrays.equals(rank.shape(), x.shape()))
            throw new SalientException("argsortRows: order " + order + " and rank " + rank + " must have x's shape " + x);
        if (order.data().address() == rank.data().address() || order.data().address() == x.data().address()
                || rank.data().address() == x.data().address())
            throw new SalientException("argsortRows: x, order and rank must be distinct tensors");
        return new long[] {x.numel() / l, l};
    }

    public static void randomNormal(Backend self, long offset, Tensor y) {
        owned(self, "randomNormal", y);
        if (offset < 0) throw new SalientException("randomNormal: negative offset " + offset);
        if (y.numel() == 0) throw new SalientException("randomNormal: empty output");
    }

    // ---- feature visualisation

    /** Returns (N, C, h, w, H, W). */
    public static long[] cropPad(Backend self, Tensor x, int[] offsets, Tensor y) {
        owned(self, "cropPad", x, y);
        long[] v = planes(self, "cropPad", x, y);
        if (offsets == null || offsets.length != 2 * v[0])
            throw new SalientException("cropPad: need 2 offsets per image (" + 2 * v[0] + "), got "
                    + (offsets == null ? "none" : offsets.length));
        return v;
    }

    /** Returns (N, C, h, w, H, W); {@code backward} also requires every map to be invertible. */
    public static long[] affineResample(Backend self, Tensor x, float[] theta, Tensor y, boolean backward) {
        String what = backward ? "affineResampleBackward" : "affineResampleForward";
        owned(self, what, x, y);
        long[] v = planes(self, what, x, y); // x: the image side (dx in the backward), y: the output side
        if (theta == null || theta.length != 6 * v[0])
            throw new SalientException(what + ": need 6 map values per image (" + 6 * v[0] + "), got "
                    + (theta == null ? "none" : theta.length));
        for (int b = 0; b < v[0]; b++) {
            for (int k = 0; k < 6; k++)
                if (!Float.isFinite(theta[6 * b + k])) throw new SalientException(what + ": map of image " + b + " is not finite");
            double det = (double) theta[6 * b] * theta[6 * b + 4] - (double) theta[6 * b + 1] * theta[6 * b + 3];
            if (backward && Math.abs(det) <= 1e-6)
                throw new SalientException(what + ": map of image " + b + " is singular (det " + det + ")");
        }
        return v;
    }

    private static long[] planes(Backend self, String what, Tensor x, Tensor y) {
        if (x.rank() != 4 || y.rank() != 4 || x.dim(0) != y.dim(0) || x.dim(1) != y.dim(1) || x.numel() == 0 || y.numel() == 0)
            throw new SalientException(what + ": expected (N,C,h,w) -> (N,C,H,W), got " + x + " -> " + y);
        return new long[] {x.dim(0), x.dim(1), x.dim(2), x.dim(3), y.dim(2), y.dim(3)};
    }

    /** Returns {step_size, sqrt(1 - beta2^step)} (torch's bias corrections, in double). */
    /** Returns (P, H, K). */
    public static long[] dftRows(Backend self, Tensor x, Tensor y) {
        owned(self, "dftRows", x, y);
        if (x == null || y == null) throw new SalientException("dftRows: x and y are required");
        if (x.rank() != 4 || x.dim(2) != 2 || x.numel() == 0)
            throw new SalientException("dftRows: x must be (planes, H, 2, K) with split complex rows, got " + Shapes.str(x.shape()));
        requireShape(y, x.shape(), "dftRows y");
        if (overlaps(y, x)) throw new SalientException("dftRows: the output overlaps the input");
        return new long[] {x.dim(0), x.dim(1), x.dim(3)};
    }

    public static float[] adamStep(Backend self, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2,
            float eps, int step) {
        owned(self, "adamStep", p, g, m, v);
        if (p.numel() == 0 || g.numel() != p.numel() || m.numel() != p.numel() || v.numel() != p.numel())
            throw new SalientException("adamStep: p, g, m, v must have one numel, got " + p + ", " + g + ", " + m + ", " + v);
        if (step < 1) throw new SalientException("adamStep: step must be >= 1, got " + step);
        if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1))
            throw new SalientException("adamStep: betas must lie in [0, 1), got " + beta1 + ", " + beta2);
        if (!(lr > 0) || !Float.isFinite(lr) || !(eps > 0)) throw new SalientException("adamStep: lr and eps must be positive");
        double bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
        return new float[] {(float) (lr / bc1), (float) Math.sqrt(bc2)};
    }
}
