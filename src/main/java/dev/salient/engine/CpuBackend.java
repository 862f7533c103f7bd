package dev.salient.engine;

import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The C++ CPU engine (native/cpu, OpenMP + OpenBLAS). Stateless and thread-safe;
 * one shared instance. Every call checks shapes in Java, then the native code
 * checks its arguments again before touching memory.
 */
public final class CpuBackend implements Backend {
    private static final CpuBackend INSTANCE = new CpuBackend();

    static CpuBackend instance() {
        return INSTANCE;
    }

    private CpuBackend() {}

    @Override
    public String name() {
        return "cpu";
    }

    /** Throws SalientException with the native error line if rc != 0. */
    static void check(int rc) {
        if (rc != 0) throw new SalientException(SalientNative.salient_last_error().getString());
    }

    static void requireShape(Tensor t, long[] expected, String what) {
        if (!Arrays.equals(t.shape(), expected))
            throw new SalientException(what + ": expected shape " + Arrays.toString(expected) + ", got "
                    + Arrays.toString(t.shape()));
    }

    // ---- memory

    private final java.util.concurrent.atomic.AtomicLong liveBytes = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong peakBytes = new java.util.concurrent.atomic.AtomicLong();

    /** Bytes of tensors allocated through this backend and not yet freed. */
    public long liveBytes() {
        return liveBytes.get();
    }

    /** The most {@link #liveBytes()} has been since the last {@link #resetPeakBytes()}. */
    public long peakBytes() {
        return peakBytes.get();
    }

    public void resetPeakBytes() {
        peakBytes.set(liveBytes.get());
    }

    @Override
    public Tensor allocate(long... shape) {
        long n = Math.max(1, Shapes.numel(shape));
        FloatPointer p = SalientNative.salient_alloc(n);
        if (p == null || p.isNull()) throw new SalientException(SalientNative.salient_last_error().getString());
        long live = liveBytes.addAndGet(n * 4);
        peakBytes.accumulateAndGet(live, Math::max);
        return new Tensor(this, p.capacity(n), shape);
    }

    @Override
    public Tensor upload(float[] host, long... shape) {
        if (Shapes.numel(shape) != host.length)
            throw new SalientException("upload: " + host.length + " values do not fill shape " + Arrays.toString(shape));
        Tensor t = allocate(shape);
        t.data().put(host, 0, host.length);
        return t;
    }

    @Override
    public float[] download(Tensor t) {
        long n = t.numel();
        if (n > Integer.MAX_VALUE - 8) throw new SalientException("download: tensor too large for a Java array");
        float[] out = new float[(int) n];
        t.data().position(0).get(out);
        return out;
    }

    @Override
    public void free(FloatPointer p) {
        liveBytes.addAndGet(-p.capacity() * 4);
        SalientNative.salient_free(p);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        if (src.numel() != dst.numel())
            throw new SalientException("copy: " + src + " and " + dst + " differ in size");
        Pointer.memcpy(dst.data(), src.data(), src.numel() * 4);
    }

    @Override
    public void copyRange(Tensor src, long srcOffset, Tensor dst, long dstOffset, long count) {
        if (srcOffset < 0 || dstOffset < 0 || count < 0 || srcOffset + count > src.numel()
                || dstOffset + count > dst.numel())
            throw new SalientException("copyRange: range out of bounds");
        if (count == 0) return;
        // Pointer.memcpy offsets its arguments by position in bytes
        Pointer s = new org.bytedeco.javacpp.BytePointer(src.data()).position(srcOffset * 4);
        Pointer d = new org.bytedeco.javacpp.BytePointer(dst.data()).position(dstOffset * 4);
        Pointer.memcpy(d, s, count * 4);
    }

    @Override
    public void fill(Tensor t, float value) {
        check(SalientNative.fill_cpu(t.data(), t.numel(), value));
    }

    // ---- ops: implemented on top of native/cpu (see SalientNative)

    @Override
    public void activationForward(Activation kind, Tensor x, Tensor y, float alpha, float beta) {
        requireShape(y, x.shape(), "activation");
        check(SalientNative.activation_forward_cpu(kind.code, x.data(), y.data(), x.numel(), alpha, beta));
    }

    @Override
    public void activationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx, float alpha, float beta) {
        requireShape(dy, x.shape(), "activation backward dy");
        requireShape(dx, x.shape(), "activation backward dx");
        check(SalientNative.activation_backward_cpu(kind.code, x.data(), dy.data(), dx.data(), x.numel(), alpha, beta));
    }

    // ---- convolution

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor bias, Tensor y, Conv2dGeometry g) {
        requireShape(x, g.inputShape(), "conv2dForward x");
        requireShape(w, g.weightShape(), "conv2dForward weight");
        if (bias != null) requireShape(bias, new long[] {g.k()}, "conv2dForward bias");
        requireShape(y, g.outputShape(), "conv2dForward y");
        check(SalientNative.conv2d_forward_cpu(x.data(), w.data(), bias == null ? null : bias.data(), y.data(),
                g.n(), g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.strideH(), g.strideW(),
                g.padTop(), g.padLeft(), g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(), g.groups()));
    }

    @Override
    public void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g) {
        requireShape(dy, g.outputShape(), "conv2dBackwardData dy");
        requireShape(w, g.weightShape(), "conv2dBackwardData weight");
        requireShape(dx, g.inputShape(), "conv2dBackwardData dx");
        check(SalientNative.conv2d_backward_data_cpu(dy.data(), w.data(), dx.data(),
                g.n(), g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.strideH(), g.strideW(),
                g.padTop(), g.padLeft(), g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(), g.groups()));
    }

    // ---- pooling

    @Override
    public void maxPool2dForward(Tensor x, Tensor y, Pool2dGeometry g) {
        requireShape(x, g.inputShape(), "maxPool2dForward x");
        requireShape(y, g.outputShape(), "maxPool2dForward y");
        check(SalientNative.maxpool2d_forward_cpu(x.data(), y.data(), g.n(), g.c(), g.h(), g.w(), g.kernelH(),
                g.kernelW(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.padBottom(), g.padRight(),
                g.dilationH(), g.dilationW(), g.outH(), g.outW()));
    }

    @Override
    public void maxPool2dBackward(Tensor x, Tensor dy, Tensor dx, Pool2dGeometry g) {
        requireShape(x, g.inputShape(), "maxPool2dBackward x");
        requireShape(dy, g.outputShape(), "maxPool2dBackward dy");
        requireShape(dx, g.inputShape(), "maxPool2dBackward dx");
        check(SalientNative.maxpool2d_backward_cpu(x.data(), dy.data(), dx.data(), g.n(), g.c(), g.h(), g.w(),
                g.kernelH(), g.kernelW(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.padBottom(),
                g.padRight(), g.dilationH(), g.dilationW(), g.outH(), g.outW()));
    }

    @Override
    public void avgPool2dForward(Tensor x, Tensor y, Pool2dGeometry g) {
        requireShape(x, g.inputShape(), "avgPool2dForward x");
        requireShape(y, g.outputShape(), "avgPool2dForward y");
        check(SalientNative.avgpool2d_forward_cpu(x.data(), y.data(), g.n(), g.c(), g.h(), g.w(), g.kernelH(),
                g.kernelW(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.padBottom(), g.padRight(),
                g.dilationH(), g.dilationW(), g.outH(), g.outW(), g.countIncludePad() ? 1 : 0));
    }

    @Override
    public void avgPool2dBackward(Tensor dy, Tensor dx, Pool2dGeometry g) {
        requireShape(dy, g.outputShape(), "avgPool2dBackward dy");
        requireShape(dx, g.inputShape(), "avgPool2dBackward dx");
        check(SalientNative.avgpool2d_backward_cpu(dy.data(), dx.data(), g.n(), g.c(), g.h(), g.w(), g.kernelH(),
                g.kernelW(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.padBottom(), g.padRight(),
                g.dilationH(), g.dilationW(), g.outH(), g.outW(), g.countIncludePad() ? 1 : 0));
    }

    // ---- broadcasting elementwise

    private static void requireRank(Tensor t, String what) {
        if (t.rank() > SalientNative.MAX_RANK)
            throw new SalientException(what + ": rank " + t.rank() + " exceeds the engine's " + SalientNative.MAX_RANK);
    }

    /** Throws unless {@code small} broadcasts (numpy rules) to exactly {@code big}'s shape. */
    private static void requireBroadcastsTo(Tensor small, Tensor big, String what) {
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

    @Override
    public void preluForward(Tensor x, Tensor slope, Tensor y) {
        requireRank(x, "prelu");
        requireBroadcastsTo(slope, x, "prelu slope");
        requireShape(y, x.shape(), "prelu y");
        check(SalientNative.prelu_forward_cpu(x.data(), x.shape(), x.rank(), slope.data(), slope.shape(),
                slope.rank(), y.data()));
    }

    @Override
    public void preluBackward(Tensor x, Tensor slope, Tensor dy, Tensor dx) {
        requireRank(x, "prelu backward");
        requireBroadcastsTo(slope, x, "prelu backward slope");
        requireShape(dy, x.shape(), "prelu backward dy");
        requireShape(dx, x.shape(), "prelu backward dx");
        check(SalientNative.prelu_backward_cpu(x.data(), x.shape(), x.rank(), slope.data(), slope.shape(),
                slope.rank(), dy.data(), dx.data()));
    }

    @Override
    public void binary(BinaryOp op, Tensor a, Tensor b, Tensor y) {
        long[] out;
        try {
            out = Shapes.broadcast(a.shape(), b.shape());
        } catch (SalientException e) {
            throw new SalientException(op.name().toLowerCase() + ": " + e.getMessage());
        }
        requireShape(y, out, op.name().toLowerCase() + " y");
        requireRank(y, op.name().toLowerCase());
        check(SalientNative.binary_forward_cpu(op.code, a.data(), a.shape(), a.rank(), b.data(), b.shape(), b.rank(),
                y.data(), y.shape(), y.rank()));
    }

    @Override
    public void reduceSumTo(Tensor src, Tensor dst) {
        requireRank(src, "reduceSumTo");
        requireBroadcastsTo(dst, src, "reduceSumTo dst");
        check(SalientNative.reduce_sum_to_cpu(src.data(), src.shape(), src.rank(), dst.data(), dst.shape(),
                dst.rank()));
    }

    @Override
    public void channelAffine(Tensor x, Tensor scale, Tensor shift, Tensor y) {
        if (x.rank() < 2) throw new SalientException("channelAffine: x must have a channel axis, got " + x);
        long c = x.dim(1);
        if (scale.numel() != c)
            throw new SalientException("channelAffine: scale has " + scale.numel() + " values for " + c + " channels");
        if (shift != null && shift.numel() != c)
            throw new SalientException("channelAffine: shift has " + shift.numel() + " values for " + c + " channels");
        requireShape(y, x.shape(), "channelAffine y");
        long outer = x.dim(0), inner = c == 0 || outer == 0 ? 0 : x.numel() / (outer * c);
        check(SalientNative.channel_affine_cpu(x.data(), scale.data(), shift == null ? null : shift.data(), y.data(),
                outer, c, inner));
    }

    @Override
    public void axpby(float alpha, Tensor x, float beta, Tensor y) {
        if (x.numel() != y.numel())
            throw new SalientException("axpby: " + x + " and " + y + " differ in size");
        check(SalientNative.axpby_cpu(alpha, x.data(), beta, y.data(), x.numel()));
    }

    // ---- dense

    @Override
    public void gemm(Tensor a, Tensor b, Tensor c, Tensor y, boolean transA, boolean transB, float alpha, float beta) {
        if (a.rank() != 2 || b.rank() != 2)
            throw new SalientException("gemm: A and B must be 2-D, got " + Shapes.str(a.shape()) + " and "
                    + Shapes.str(b.shape()));
        long m = transA ? a.dim(1) : a.dim(0), k = transA ? a.dim(0) : a.dim(1);
        long kb = transB ? b.dim(1) : b.dim(0), n = transB ? b.dim(0) : b.dim(1);
        if (k != kb)
            throw new SalientException("gemm: inner dims differ: op(A) is (" + m + "," + k + "), op(B) is (" + kb + ","
                    + n + ")");
        requireShape(y, new long[] {m, n}, "gemm y");
        long cRows = 1, cCols = 1;
        if (c != null) {
            if (c.rank() > 2)
                throw new SalientException("gemm: C must have rank <= 2, got " + Shapes.str(c.shape()));
            if (c.rank() == 2) {
                cRows = c.dim(0);
                cCols = c.dim(1);
            } else if (c.rank() == 1) {
                cCols = c.dim(0);
            }
            if ((cRows != 1 && cRows != m) || (cCols != 1 && cCols != n))
                throw new SalientException("gemm: C of shape " + Shapes.str(c.shape()) + " does not broadcast to ("
                        + m + "," + n + ")");
        }
        check(SalientNative.gemm_cpu(a.data(), b.data(), c == null ? null : c.data(), cRows, cCols, y.data(), m, n, k,
                transA ? 1 : 0, transB ? 1 : 0, alpha, beta));
    }

    /** The numpy matmul output shape of a and b (1-D operands promoted, then their added axis dropped). */
    public static long[] matmulShape(long[] a, long[] b) {
        if (a.length == 0 || b.length == 0) throw new SalientException("matmul: operands must have rank >= 1");
        long[] a2 = a.length == 1 ? new long[] {1, a[0]} : a;
        long[] b2 = b.length == 1 ? new long[] {b[0], 1} : b;
        long k = a2[a2.length - 1], kb = b2[b2.length - 2];
        if (k != kb)
            throw new SalientException("matmul: inner dims differ: " + Shapes.str(a) + " @ " + Shapes.str(b));
        long[] batch = Shapes.broadcast(Arrays.copyOf(a2, a2.length - 2), Arrays.copyOf(b2, b2.length - 2));
        long[] out = Arrays.copyOf(batch, batch.length + (a.length > 1 ? 1 : 0) + (b.length > 1 ? 1 : 0));
        int i = batch.length;
        if (a.length > 1) out[i++] = a2[a2.length - 2];
        if (b.length > 1) out[i] = b2[b2.length - 1];
        return out;
    }

    @Override
    public void matmul(Tensor a, Tensor b, Tensor y) {
        long[] out = matmulShape(a.shape(), b.shape());
        requireShape(y, out, "matmul y");
        long[] as = a.shape(), bs = b.shape();
        long[] a2 = as.length == 1 ? new long[] {1, as[0]} : as;
        long[] b2 = bs.length == 1 ? new long[] {bs[0], 1} : bs;
        int batchRank = Math.max(a2.length, b2.length) - 2;
        if (batchRank > SalientNative.MAX_RANK)
            throw new SalientException("matmul: batch rank " + batchRank + " exceeds the engine's "
                    + SalientNative.MAX_RANK);
        long[] ab = new long[batchRank], bb = new long[batchRank];
        for (int d = 0; d < batchRank; d++) {
            int da = d - (batchRank - (a2.length - 2)), db = d - (batchRank - (b2.length - 2));
            ab[d] = da >= 0 ? a2[da] : 1;
            bb[d] = db >= 0 ? b2[db] : 1;
        }
        long m = a2[a2.length - 2], k = a2[a2.length - 1], n = b2[b2.length - 1];
        check(SalientNative.matmul_cpu(a.data(), ab, b.data(), bb, batchRank, y.data(), m, n, k));
    }

    // ---- softmax

    private static void requireView(Tensor t, long outer, long dim, long inner, String what) {
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

    @Override
    public void softmaxForward(Tensor x, Tensor y, long outer, long dim, long inner) {
        requireView(x, outer, dim, inner, "softmax");
        requireShape(y, x.shape(), "softmax y");
        check(SalientNative.softmax_forward_cpu(x.data(), y.data(), outer, dim, inner));
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, long outer, long dim, long inner) {
        requireView(y, outer, dim, inner, "softmax backward");
        requireShape(dy, y.shape(), "softmax backward dy");
        requireShape(dx, y.shape(), "softmax backward dx");
        check(SalientNative.softmax_backward_cpu(y.data(), dy.data(), dx.data(), outer, dim, inner));
    }

    // ---- concat / slice

    private static int normAxis(int axis, int rank, String what) {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new SalientException(what + ": axis " + axis + " out of range for rank " + rank);
        return a;
    }

    private static long prod(long[] s, int from, int to) {
        long p = 1;
        for (int i = from; i < to; i++) p *= s[i];
        return p;
    }

    /** Throws unless a and b agree on every axis but {@code axis}. */
    private static void requireSameButAxis(long[] a, long[] b, int axis, String what) {
        boolean ok = a.length == b.length;
        for (int i = 0; ok && i < a.length; i++) ok = i == axis || a[i] == b[i];
        if (!ok)
            throw new SalientException(what + ": shapes " + Shapes.str(a) + " and " + Shapes.str(b)
                    + " differ outside axis " + axis);
    }

    @Override
    public void concat(List<Tensor> xs, int axis, Tensor y) {
        if (xs.isEmpty()) throw new SalientException("concat: no inputs");
        long[] ys = y.shape();
        int ax = normAxis(axis, ys.length, "concat");
        long total = 0;
        for (Tensor x : xs) {
            requireSameButAxis(x.shape(), ys, ax, "concat");
            total += x.dim(ax);
        }
        if (total != ys[ax])
            throw new SalientException("concat: inputs sum to " + total + " along axis " + ax + " but y has " + ys[ax]);
        long outer = prod(ys, 0, ax), inner = prod(ys, ax + 1, ys.length), offset = 0;
        for (Tensor x : xs) {
            if (x.numel() > 0)
                check(SalientNative.concat_forward_cpu(x.data(), y.data(), outer, x.dim(ax), ys[ax], inner, offset));
            offset += x.dim(ax);
        }
    }

    @Override
    public void sliceAxis(Tensor src, int axis, long offset, Tensor dst) {
        long[] ss = src.shape();
        int ax = normAxis(axis, ss.length, "sliceAxis");
        requireSameButAxis(ss, dst.shape(), ax, "sliceAxis");
        long len = dst.dim(ax);
        if (offset < 0 || offset + len > ss[ax])
            throw new SalientException("sliceAxis: slice [" + offset + ", " + (offset + len) + ") outside axis " + ax
                    + " of size " + ss[ax]);
        if (dst.numel() == 0) return;
        check(SalientNative.slice_axis_cpu(src.data(), dst.data(), prod(ss, 0, ax), ss[ax], len,
                prod(ss, ax + 1, ss.length), offset));
    }

    // ---- attribution (native/cpu/cam.cpp, native/cpu/ig.cpp)

    private static long planeSize(Tensor t) {
        if (t.rank() != 4) throw new SalientException("expected a 4-D (N,K,h,w) tensor, got " + t);
        return t.dim(2) * t.dim(3);
    }

    @Override
    public void gradcamWeights(CamWeighting kind, Tensor a, Tensor g, Tensor w) {
        requireShape(g, a.shape(), "gradcam weights: gradient");
        requireShape(w, new long[] {a.dim(0), a.dim(1)}, "gradcam weights: output");
        check(SalientNative.gradcam_weights_cpu(kind.code, a.data(), g.data(), w.data(), (int) a.dim(0), (int) a.dim(1),
                planeSize(a)));
    }

    @Override
    public void camCombine(CamCombine mode, Tensor a, Tensor wg, Tensor cam) {
        long p = planeSize(a);
        if (mode == CamCombine.WEIGHTED) requireShape(wg, new long[] {a.dim(0), a.dim(1)}, "cam combine: weights");
        else requireShape(wg, a.shape(), "cam combine: gradient");
        requireShape(cam, new long[] {a.dim(0), a.dim(2), a.dim(3)}, "cam combine: output");
        check(SalientNative.cam_combine_cpu(mode.code, a.data(), wg.data(), cam.data(), (int) a.dim(0), (int) a.dim(1), p));
    }

    @Override
    public void camFinish(Tensor cam, Tensor out) {
        if (cam.rank() != 3 || out.rank() != 3 || cam.dim(0) != out.dim(0))
            throw new SalientException("cam finish: expected (N,h,w) -> (N,H,W), got " + cam + " -> " + out);
        check(SalientNative.cam_finish_cpu(cam.data(), out.data(), (int) cam.dim(0), (int) cam.dim(1), (int) cam.dim(2),
                (int) out.dim(1), (int) out.dim(2)));
    }

    @Override
    public void bilinearResize(Tensor x, Tensor y) {
        if (x.rank() != 4 || y.rank() != 4 || x.dim(0) != y.dim(0) || x.dim(1) != y.dim(1))
            throw new SalientException("bilinear resize: expected (N,C,h,w) -> (N,C,H,W), got " + x + " -> " + y);
        check(SalientNative.bilinear_resize_cpu(x.data(), y.data(), Math.toIntExact(x.dim(0) * x.dim(1)), (int) x.dim(2),
                (int) x.dim(3), (int) y.dim(2), (int) y.dim(3)));
    }

    @Override
    public void nearestResize(Tensor x, Tensor y) {
        if (x.rank() != 4 || y.rank() != 4 || x.dim(0) != y.dim(0) || x.dim(1) != y.dim(1))
            throw new SalientException("nearest resize: expected (N,C,h,w) -> (N,C,H,W), got " + x + " -> " + y);
        check(SalientNative.nearest_resize_cpu(x.data(), y.data(), Math.toIntExact(x.dim(0) * x.dim(1)), (int) x.dim(2),
                (int) x.dim(3), (int) y.dim(2), (int) y.dim(3)));
    }

    @Override
    public void igInterpolate(Tensor x, Tensor b, float[] alphas, Tensor y) {
        requireShape(b, x.shape(), "ig interpolate: baseline");
        long[] ys = x.shape();
        ys[0] *= alphas.length;
        requireShape(y, ys, "ig interpolate: output");
        try (FloatPointer a = new FloatPointer(alphas)) {
            check(SalientNative.ig_interpolate_cpu(x.data(), b.data(), a, y.data(), alphas.length, (int) x.dim(0),
                    x.numel() / x.dim(0)));
        }
    }

    @Override
    public void igAccumulate(Tensor g, float[] weights, Tensor acc) {
        long[] gs = acc.shape();
        gs[0] *= weights.length;
        requireShape(g, gs, "ig accumulate: gradients");
        try (FloatPointer w = new FloatPointer(weights)) {
            check(SalientNative.ig_accumulate_cpu(g.data(), w, acc.data(), weights.length, (int) acc.dim(0),
                    acc.numel() / acc.dim(0)));
        }
    }
}
