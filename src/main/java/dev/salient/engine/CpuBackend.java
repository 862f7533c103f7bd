package dev.salient.engine;

import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The C++ CPU engine (native/cpu, OpenMP + OpenBLAS). Stateless and thread-safe;
 * one shared instance. Every call checks its arguments with {@link OpChecks} (the
 * same checks as every engine), then the native code checks them again before
 * touching memory.
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
        if (rc != 0) throw new SalientException(CpuNative.salient_last_error().getString());
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
        FloatPointer p = CpuNative.salient_alloc(n);
        if (p == null || p.isNull()) throw new SalientException(CpuNative.salient_last_error().getString());
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
        OpChecks.owned(this, "download", t);
        long n = t.numel();
        if (n > Integer.MAX_VALUE - 8) throw new SalientException("download: tensor too large for a Java array");
        float[] out = new float[(int) n];
        t.data().position(0).get(out);
        return out;
    }

    @Override
    public void free(FloatPointer p) {
        liveBytes.addAndGet(-p.capacity() * 4);
        CpuNative.salient_free(p);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        OpChecks.copy(this, src, dst);
        Pointer.memcpy(dst.data(), src.data(), src.numel() * 4);
    }

    @Override
    public void copyRange(Tensor src, long srcOffset, Tensor dst, long dstOffset, long count) {
        OpChecks.copyRange(this, src, srcOffset, dst, dstOffset, count);
        if (count == 0) return;
        // Pointer.memcpy offsets its arguments by position in bytes
        Pointer s = new org.bytedeco.javacpp.BytePointer(src.data()).position(srcOffset * 4);
        Pointer d = new org.bytedeco.javacpp.BytePointer(dst.data()).position(dstOffset * 4);
        Pointer.memcpy(d, s, count * 4);
    }

    @Override
    public void fill(Tensor t, float value) {
        OpChecks.fill(this, t);
        check(CpuNative.fill_cpu(t.data(), t.numel(), value));
    }

    // ---- ops: checked by OpChecks, computed by native/cpu (see CpuNative)

    @Override
    public void activationForward(Activation kind, Tensor x, Tensor y, float alpha, float beta) {
        OpChecks.activationForward(this, x, y);
        check(CpuNative.activation_forward_cpu(kind.code, x.data(), y.data(), x.numel(), alpha, beta));
    }

    @Override
    public void activationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx, float alpha, float beta) {
        OpChecks.activationBackward(this, x, dy, dx);
        check(CpuNative.activation_backward_cpu(kind.code, x.data(), dy.data(), dx.data(), x.numel(), alpha, beta));
    }

    // ---- convolution

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor bias, Tensor y, Conv2dGeometry g) {
        OpChecks.conv2dForward(this, x, w, bias, y, g);
        check(CpuNative.conv2d_forward_cpu(x.data(), w.data(), bias == null ? null : bias.data(), y.data(),
                g.n(), g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.strideH(), g.strideW(),
                g.padTop(), g.padLeft(), g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(), g.groups()));
    }

    @Override
    public void conv2dForwardActivation(Tensor x, Tensor w, Tensor bias, Tensor y, Conv2dGeometry g,
            Activation kind, float alpha, float beta) {
        OpChecks.conv2dForwardActivation(this, x, w, bias, y, g, kind);
        check(CpuNative.conv2d_forward_act_cpu(x.data(), w.data(), bias == null ? null : bias.data(), y.data(),
                g.n(), g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.strideH(), g.strideW(),
                g.padTop(), g.padLeft(), g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(), g.groups(),
                kind.code, alpha, beta));
    }

    @Override
    public void conv2dForwardSum(Tensor x, Tensor w, Tensor bias, Tensor z, Tensor y, Conv2dGeometry g,
            Activation kind, float alpha, float beta) {
        OpChecks.conv2dForwardSum(this, x, w, bias, z, y, g, kind);
        check(CpuNative.conv2d_forward_sum_cpu(x.data(), w.data(), bias == null ? null : bias.data(), z.data(),
                y.data(), g.n(), g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.strideH(), g.strideW(),
                g.padTop(), g.padLeft(), g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(), g.groups(),
                kind == null ? -1 : kind.code, alpha, beta));
    }

    @Override
    public void conv2dForwardChannels(Tensor x, Tensor w, Tensor bias, Tensor z, int[] channels, Tensor y,
            Conv2dGeometry g, Activation kind, float alpha, float beta) {
        float[] ch = OpChecks.conv2dForwardChannels(this, x, w, bias, z, channels, y, g, kind);
        try (FloatPointer cp = new FloatPointer(ch)) {
            check(CpuNative.conv2d_forward_channels_cpu(x.data(), w.data(), bias == null ? null : bias.data(),
                    z == null ? null : z.data(), cp, y.data(), g.n(), g.c(), g.h(), g.w(), g.k(), g.r(), g.s(),
                    g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.padBottom(), g.padRight(), g.dilationH(),
                    g.dilationW(), g.groups(), kind == null ? -1 : kind.code, alpha, beta));
        }
    }

    @Override
    public void conv2dForwardPrologue(Tensor x, Tensor scale, Tensor shift, Activation preKind, float preAlpha,
            float preBeta, Tensor w, Tensor bias, Tensor y, Conv2dGeometry g, Activation kind, float alpha, float beta) {
        OpChecks.conv2dForwardPrologue(this, x, scale, shift, preKind, w, bias, y, g, kind);
        check(CpuNative.conv2d_forward_pre_cpu(x.data(), scale.data(), shift == null ? null : shift.data(),
                preKind == null ? -1 : preKind.code, preAlpha, preBeta, w.data(), bias == null ? null : bias.data(),
                y.data(), g.n(), g.c(), g.h(), g.w(), g.k(), kind == null ? -1 : kind.code, alpha, beta));
    }

    /**
     * True unless the system property {@code salient.cpu.convPrologue} is {@code false} (read at each
     * plan step, for side-by-side measurements: the map then runs as its own pass, with the same bits).
     */
    @Override
    public boolean fusesConvPrologue() {
        return !"false".equals(System.getProperty("salient.cpu.convPrologue"));
    }

    @Override
    public void conv2dPointwiseDepthwise(Tensor x, Tensor w1, Tensor b1, Activation act1, float alpha1, float beta1,
            Tensor w2, Tensor b2, Tensor y, Conv2dGeometry pw, Conv2dGeometry dw, Activation act2, float alpha2,
            float beta2) {
        OpChecks.conv2dPointwiseDepthwise(this, x, w1, b1, act1, w2, b2, y, pw, dw, act2);
        check(CpuNative.conv2d_pointwise_depthwise_cpu(x.data(), w1.data(), b1 == null ? null : b1.data(),
                act1 == null ? -1 : act1.code, alpha1, beta1, w2.data(), b2 == null ? null : b2.data(), y.data(), pw.n(),
                pw.c(), pw.h(), pw.w(), pw.k(), dw.strideH(), act2 == null ? -1 : act2.code, alpha2, beta2));
    }

    /**
     * Where the native pair runs in bands (AVX-512, planes of 56x56 and more), unless the system property
     * {@code salient.cpu.pointwiseDepthwise} is {@code false} (read at each plan step, for side-by-side
     * measurements: the two convs then run one after the other, with the same bits).
     */
    @Override
    public boolean fusesPointwiseDepthwise(Conv2dGeometry pw, Conv2dGeometry dw) {
        return convPairsOn() && CpuNative.conv2d_pointwise_depthwise_applies_cpu(pw.n(), pw.c(), pw.h(), pw.w(), pw.k(), dw.strideH()) == 1;
    }

    @Override
    public void conv2dDepthwisePointwise(Tensor x, Tensor w1, Tensor b1, Activation act1, float alpha1, float beta1,
            Tensor w2, Tensor b2, Tensor y, Conv2dGeometry dw, Conv2dGeometry pw, Activation act2, float alpha2,
            float beta2) {
        OpChecks.conv2dDepthwisePointwise(this, x, w1, b1, act1, w2, b2, y, dw, pw, act2);
        check(CpuNative.conv2d_depthwise_pointwise_cpu(x.data(), w1.data(), b1 == null ? null : b1.data(),
                act1 == null ? -1 : act1.code, alpha1, beta1, w2.data(), b2 == null ? null : b2.data(), y.data(), dw.n(),
                dw.c(), dw.h(), dw.w(), dw.strideH(), pw.k(), act2 == null ? -1 : act2.code, alpha2, beta2));
    }

    private static boolean convPairsOn() {
        return !"false".equals(System.getProperty("salient.cpu.pointwiseDepthwise"));
    }

    /** As {@link #fusesPointwiseDepthwise}, under the same system property. */
    @Override
    public boolean fusesDepthwisePointwise(Conv2dGeometry dw, Conv2dGeometry pw) {
        return convPairsOn() && CpuNative.conv2d_depthwise_pointwise_applies_cpu(dw.n(), dw.c(), dw.h(), dw.w(), dw.strideH(), pw.k()) == 1;
    }

    @Override
    public void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g) {
        OpChecks.conv2dBackwardData(this, dy, w, dx, g);
        convBackwardData(dy, w, dx, g, null, null);
    }

    /** The sum and the mask applied to each part of dx as the product writes it, while it is in cache. */
    @Override
    public void conv2dBackwardDataRelu(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g, Tensor reluOut, Tensor sum) {
        OpChecks.conv2dBackwardDataRelu(this, dy, w, dx, g, reluOut, sum);
        convBackwardData(dy, w, dx, g, reluOut, sum);
    }

    /** The data gradient, through the Relu whose output is reluOut (or none) with the sum (or none). */
    private void convBackwardData(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g, Tensor reluOut, Tensor sum) {
        check(CpuNative.conv2d_backward_data_relu_cpu(dy.data(), w.data(), dx.data(), reluOut == null ? null : reluOut.data(),
                sum == null ? null : sum.data(),
                g.n(), g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.strideH(), g.strideW(),
                g.padTop(), g.padLeft(), g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(), g.groups()));
    }

    // ---- 3-D convolution and pooling

    @Override
    public void conv3dForward(Tensor x, Tensor w, Tensor bias, Tensor y, Conv3dGeometry g) {
        OpChecks.conv3dForward(this, x, w, bias, y, g);
        check(CpuNative.conv3d_forward_cpu(x.data(), w.data(), bias == null ? null : bias.data(), y.data(), g.abi(),
                -1, 0f, 0f));
    }

    @Override
    public void conv3dForwardActivation(Tensor x, Tensor w, Tensor bias, Tensor y, Conv3dGeometry g,
            Activation kind, float alpha, float beta) {
        OpChecks.conv3dForwardActivation(this, x, w, bias, y, g, kind);
        check(CpuNative.conv3d_forward_cpu(x.data(), w.data(), bias == null ? null : bias.data(), y.data(), g.abi(),
                kind.code, alpha, beta));
    }

    @Override
    public void conv3dForwardSum(Tensor x, Tensor w, Tensor bias, Tensor z, Tensor y, Conv3dGeometry g,
            Activation kind, float alpha, float beta) {
        OpChecks.conv3dForwardSum(this, x, w, bias, z, y, g, kind);
        check(CpuNative.conv3d_forward_sum_cpu(x.data(), w.data(), bias == null ? null : bias.data(), z.data(),
                y.data(), g.abi(), kind == null ? -1 : kind.code, alpha, beta));
    }

    @Override
    public void conv3dBackwardData(Tensor dy, Tensor w, Tensor dx, Conv3dGeometry g) {
        OpChecks.conv3dBackwardData(this, dy, w, dx, g);
        check(CpuNative.conv3d_backward_data_cpu(dy.data(), w.data(), dx.data(), g.abi()));
    }

    @Override
    public void maxPool3dForward(Tensor x, Tensor y, Pool3dGeometry g) {
        OpChecks.pool3dForward(this, "maxPool3dForward", x, y, g);
        check(CpuNative.maxpool3d_forward_cpu(x.data(), y.data(), g.abi()));
    }

    @Override
    public void maxPool3dBackward(Tensor x, Tensor dy, Tensor dx, Pool3dGeometry g) {
        OpChecks.pool3dBackward(this, "maxPool3dBackward", x, dy, dx, g);
        check(CpuNative.maxpool3d_backward_cpu(x.data(), dy.data(), dx.data(), g.abi()));
    }

    @Override
    public void avgPool3dForward(Tensor x, Tensor y, Pool3dGeometry g) {
        OpChecks.pool3dForward(this, "avgPool3dForward", x, y, g);
        check(CpuNative.avgpool3d_forward_cpu(x.data(), y.data(), g.abi(), g.countIncludePad() ? 1 : 0));
    }

    @Override
    public void avgPool3dBackward(Tensor dy, Tensor dx, Pool3dGeometry g) {
        OpChecks.pool3dBackward(this, "avgPool3dBackward", null, dy, dx, g);
        check(CpuNative.avgpool3d_backward_cpu(dy.data(), dx.data(), g.abi(), g.countIncludePad() ? 1 : 0));
    }

    // ---- pooling

    @Override
    public void maxPool2dForward(Tensor x, Tensor y, Pool2dGeometry g) {
        OpChecks.maxPool2dForward(this, x, y, g);
        check(CpuNative.maxpool2d_forward_cpu(x.data(), y.data(), g.n(), g.c(), g.h(), g.w(), g.kernelH(),
                g.kernelW(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.padBottom(), g.padRight(),
                g.dilationH(), g.dilationW(), g.outH(), g.outW()));
    }

    @Override
    public void maxPool2dBackward(Tensor x, Tensor dy, Tensor dx, Pool2dGeometry g) {
        OpChecks.maxPool2dBackward(this, x, dy, dx, g);
        maxPoolBackward(x, dy, dx, g, false);
    }

    /** In one pass: windows whose winner is ≤ 0 route nothing. */
    @Override
    public void maxPool2dBackwardRelu(Tensor x, Tensor dy, Tensor dx, Pool2dGeometry g) {
        OpChecks.maxPool2dBackward(this, x, dy, dx, g);
        maxPoolBackward(x, dy, dx, g, true);
    }

    private void maxPoolBackward(Tensor x, Tensor dy, Tensor dx, Pool2dGeometry g, boolean relu) {
        check(CpuNative.maxpool2d_backward_relu_cpu(x.data(), dy.data(), dx.data(), g.n(), g.c(), g.h(), g.w(),
                g.kernelH(), g.kernelW(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.padBottom(),
                g.padRight(), g.dilationH(), g.dilationW(), g.outH(), g.outW(), relu ? 1 : 0));
    }

    @Override
    public void avgPool2dForward(Tensor x, Tensor y, Pool2dGeometry g) {
        OpChecks.avgPool2dForward(this, x, y, g);
        check(CpuNative.avgpool2d_forward_cpu(x.data(), y.data(), g.n(), g.c(), g.h(), g.w(), g.kernelH(),
                g.kernelW(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.padBottom(), g.padRight(),
                g.dilationH(), g.dilationW(), g.outH(), g.outW(), g.countIncludePad() ? 1 : 0));
    }

    @Override
    public void avgPool2dBackward(Tensor dy, Tensor dx, Pool2dGeometry g) {
        OpChecks.avgPool2dBackward(this, dy, dx, g);
        check(CpuNative.avgpool2d_backward_cpu(dy.data(), dx.data(), g.n(), g.c(), g.h(), g.w(), g.kernelH(),
                g.kernelW(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.padBottom(), g.padRight(),
                g.dilationH(), g.dilationW(), g.outH(), g.outW(), g.countIncludePad() ? 1 : 0));
    }

    // ---- broadcasting elementwise

    @Override
    public void preluForward(Tensor x, Tensor slope, Tensor y) {
        OpChecks.preluForward(this, x, slope, y);
        check(CpuNative.prelu_forward_cpu(x.data(), x.shape(), x.rank(), slope.data(), slope.shape(),
                slope.rank(), y.data()));
    }

    @Override
    public void preluBackward(Tensor x, Tensor slope, Tensor dy, Tensor dx) {
        OpChecks.preluBackward(this, x, slope, dy, dx);
        check(CpuNative.prelu_backward_cpu(x.data(), x.shape(), x.rank(), slope.data(), slope.shape(),
                slope.rank(), dy.data(), dx.data()));
    }

    @Override
    public void binary(BinaryOp op, Tensor a, Tensor b, Tensor y) {
        OpChecks.binary(this, op, a, b, y);
        check(CpuNative.binary_forward_cpu(op.code, a.data(), a.shape(), a.rank(), b.data(), b.shape(), b.rank(),
                y.data(), y.shape(), y.rank()));
    }

    @Override
    public void reduceSumTo(Tensor src, Tensor dst) {
        OpChecks.reduceSumTo(this, src, dst);
        check(CpuNative.reduce_sum_to_cpu(src.data(), src.shape(), src.rank(), dst.data(), dst.shape(),
                dst.rank()));
    }

    @Override
    public void channelAffine(Tensor x, Tensor scale, Tensor shift, Tensor y) {
        long[] v = OpChecks.channelAffine(this, x, scale, shift, y);
        check(CpuNative.channel_affine_cpu(x.data(), scale.data(), shift == null ? null : shift.data(), y.data(),
                v[0], v[1], v[2]));
    }

    @Override
    public void channelAffineActivation(Tensor x, Tensor scale, Tensor shift, Tensor y, Activation kind, float alpha,
            float beta) {
        long[] v = OpChecks.channelAffineActivation(this, x, scale, shift, y, kind);
        check(CpuNative.channel_affine_act_cpu(x.data(), scale.data(), shift == null ? null : shift.data(), y.data(),
                v[0], v[1], v[2], kind.code, alpha, beta));
    }

    @Override
    public void axpby(float alpha, Tensor x, float beta, Tensor y) {
        OpChecks.axpby(this, x, y);
        check(CpuNative.axpby_cpu(alpha, x.data(), beta, y.data(), x.numel()));
    }

    // ---- dense

    @Override
    public void gemm(Tensor a, Tensor b, Tensor c, Tensor y, boolean transA, boolean transB, float alpha, float beta) {
        long[] v = OpChecks.gemm(this, a, b, c, y, transA, transB);
        check(CpuNative.gemm_cpu(a.data(), b.data(), c == null ? null : c.data(), v[3], v[4], y.data(), v[0], v[1], v[2],
                transA ? 1 : 0, transB ? 1 : 0, alpha, beta));
    }

    /** The numpy matmul output shape of a and b (1-D operands promoted, then their added axis dropped). */
    public static long[] matmulShape(long[] a, long[] b) {
        return OpChecks.matmulShape(a, b);
    }

    @Override
    public void matmul(Tensor a, Tensor b, Tensor y) {
        OpChecks.MatmulArgs v = OpChecks.matmul(this, a, b, y);
        check(CpuNative.matmul_cpu(a.data(), v.aBatch(), b.data(), v.bBatch(), v.batchRank(), y.data(), v.m(), v.n(), v.k()));
    }

    // ---- softmax

    @Override
    public void softmaxForward(Tensor x, Tensor y, long outer, long dim, long inner) {
        OpChecks.softmaxForward(this, x, y, outer, dim, inner);
        check(CpuNative.softmax_forward_cpu(x.data(), y.data(), outer, dim, inner));
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, long outer, long dim, long inner) {
        OpChecks.softmaxBackward(this, y, dy, dx, outer, dim, inner);
        check(CpuNative.softmax_backward_cpu(y.data(), dy.data(), dx.data(), outer, dim, inner));
    }

    // ---- concat / slice

    @Override
    public void concat(List<Tensor> xs, int axis, Tensor y) {
        long[] v = OpChecks.concat(this, xs, axis, y);
        int ax = (int) v[0];
        long offset = 0;
        for (Tensor x : xs) {
            if (x.numel() > 0)
                check(CpuNative.concat_forward_cpu(x.data(), y.data(), v[1], x.dim(ax), y.dim(ax), v[2], offset));
            offset += x.dim(ax);
        }
    }

    @Override
    public void sliceAxis(Tensor src, int axis, long offset, Tensor dst) {
        long[] v = OpChecks.sliceAxis(this, src, axis, offset, dst);
        int ax = (int) v[0];
        if (dst.numel() == 0) return;
        check(CpuNative.slice_axis_cpu(src.data(), dst.data(), v[1], src.dim(ax), dst.dim(ax), v[2], offset));
    }

    // ---- CAM family and resizes (native/cpu/cam.cpp)

    @Override
    public void gradcamWeights(CamWeighting kind, Tensor a, Tensor g, Tensor w) {
        long p = OpChecks.gradcamWeights(this, a, g, w);
        check(CpuNative.gradcam_weights_cpu(kind.code, a.data(), g.data(), w.data(), (int) a.dim(0), (int) a.dim(1), p));
    }

    @Override
    public void camCombine(CamCombine mode, Tensor a, Tensor wg, Tensor cam) {
        long p = OpChecks.camCombine(this, mode, a, wg, cam);
        check(CpuNative.cam_combine_cpu(mode.code, a.data(), wg.data(), cam.data(), (int) a.dim(0), (int) a.dim(1), p));
    }

    @Override
    public void camFinish(Tensor cam, Tensor out) {
        OpChecks.camFinish(this, cam, out);
        check(CpuNative.cam_finish_cpu(cam.data(), out.data(), (int) cam.dim(0), (int) cam.dim(1), (int) cam.dim(2),
                (int) out.dim(1), (int) out.dim(2)));
    }

    @Override
    public void bilinearResize(Tensor x, Tensor y) {
        OpChecks.resize(this, "bilinear resize", x, y);
        check(CpuNative.bilinear_resize_cpu(x.data(), y.data(), Math.toIntExact(x.dim(0) * x.dim(1)), (int) x.dim(2),
                (int) x.dim(3), (int) y.dim(2), (int) y.dim(3)));
    }

    @Override
    public void nearestResize(Tensor x, Tensor y) {
        OpChecks.resize(this, "nearest resize", x, y);
        check(CpuNative.nearest_resize_cpu(x.data(), y.data(), Math.toIntExact(x.dim(0) * x.dim(1)), (int) x.dim(2),
                (int) x.dim(3), (int) y.dim(2), (int) y.dim(3)));
    }

    // ---- primitives (native/cpu/blend.cpp, rows.cpp, random.cpp)

    @Override
    public void maskedBlend(Tensor x, Tensor b, Tensor m, Tensor y) {
        long[] v = OpChecks.maskedBlend(this, x, b, m, y);
        check(CpuNative.masked_blend_cpu(x.data(), b.data(), m.data(), y.data(), v[0], v[1], v[2], v[3], v[4]));
    }

    @Override
    public boolean fusesCoalitionConv() {
        return true;
    }

    @Override
    public void coalitionConvPrepare(Tensor x, Tensor b, int[] labels, Tensor w, Tensor bias, Conv2dGeometry g, int[] segs,
            int slots, Tensor part, Tensor bout) {
        OpChecks.coalitionConvPrepare(this, x, b, labels, w, bias, g, segs, slots, part, bout);
        try (org.bytedeco.javacpp.IntPointer lp = new org.bytedeco.javacpp.IntPointer(labels);
                org.bytedeco.javacpp.IntPointer sp = new org.bytedeco.javacpp.IntPointer(segs)) {
            check(CpuNative.coalition_conv_prepare_cpu(x.data(), b == null ? null : b.data(), lp, w.data(),
                    bias == null ? null : bias.data(), sp, part.data(), bout.data(), g.c(), g.h(), g.w(), g.k(), g.r(), g.s(),
                    g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.outH(), g.outW(), slots));
        }
    }

    @Override
    public void coalitionConv(int[] segs, int slots, Tensor part, Tensor bout, float[] design, int m, int count,
            Activation act, float lo, float hi, int[] pool, Tensor y, long first, long step) {
        long rowFloats = OpChecks.coalitionConv(this, segs, slots, part, bout, design, m, count, act, lo, hi, pool, y, first, step);
        int k = (int) part.dim(1), oh = (int) part.dim(2), ow = (int) part.dim(3);
        int code = act == null ? 0 : act == Activation.RELU ? 1 : 2;
        int[] q = pool == null ? new int[8] : pool;
        try (org.bytedeco.javacpp.IntPointer sp = new org.bytedeco.javacpp.IntPointer(segs);
                FloatPointer dp = new FloatPointer(design)) {
            FloatPointer yp = new FloatPointer(y.data()).position(first * rowFloats);
            check(CpuNative.coalition_conv_cpu(sp, part.data(), bout.data(), dp, yp, k, oh, ow, slots, m, count,
                    step * rowFloats, code, lo, hi, q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]));
        }
    }

    @Override
    public void weightedSum(Tensor g, float[] w, Tensor acc) {
        OpChecks.weightedSum(this, g, w, acc);
        try (FloatPointer wp = new FloatPointer(w)) {
            check(CpuNative.weighted_sum_cpu(g.data(), wp, acc.data(), w.length, acc.numel()));
        }
    }

    @Override
    public void reduceRows(Reduction op, Tensor x, Tensor y) {
        long[] v = OpChecks.reduceRows(this, x, y);
        check(CpuNative.reduce_rows_cpu(op.code, x.data(), y.data(), v[0], v[1]));
    }

    @Override
    public void secantBackward(Tensor x, Tensor y, Tensor dy, Tensor dx, float eps, Activation own) {
        long h = OpChecks.secantBackward(this, x, y, dy, dx, eps, own);
        check(CpuNative.secant_backward_cpu(x.data(), y.data(), dy.data(), dx.data(), h, eps,
                own == null ? -1 : own.code));
    }

    @Override
    public long secantReluHalf(Tensor x, Tensor y, Tensor dy, Tensor dx, float eps) {
        long[] v = OpChecks.secantReluHalf(this, x, y, dy, dx, eps);
        long[] straddles = new long[1];
        check(CpuNative.secant_relu_half_cpu(x.data(), y.data(), dy.data(), dx.data(), v[0], eps, v[1], v[2], straddles));
        return straddles[0];
    }

    @Override
    public void stabilizedDivide(Tensor r, Tensor z, Tensor y, float eps) {
        long n = OpChecks.stabilizedDivide(this, r, z, y, eps);
        check(CpuNative.stab_divide_cpu(r.data(), z.data(), y.data(), n, eps));
    }

    @Override
    public void normShares(Tensor a, Tensor b, Tensor r, Tensor da, Tensor db, float eps) {
        long n = OpChecks.normShares(this, a, b, r, da, db, eps);
        check(CpuNative.norm_shares_cpu(a.data(), b.data(), r.data(), da == null ? null : da.data(), db == null ? null : db.data(),
                n, eps));
    }

    @Override
    public void argsortRows(Tensor x, Tensor order, Tensor rank) {
        long[] v = OpChecks.argsortRows(this, x, order, rank);
        check(CpuNative.argsort_rows_cpu(x.data(), order.data(), rank.data(), v[0], v[1]));
    }

    @Override
    public void randomNormal(long seed, long offset, Tensor y) {
        OpChecks.randomNormal(this, offset, y);
        check(CpuNative.random_normal_cpu(seed, offset, y.data(), y.numel()));
    }

    // ---- feature visualisation (native/cpu/resample.cpp, adam.cpp)

    @Override
    public void cropPad(Tensor x, int[] offsets, float fill, Tensor y) {
        long[] v = OpChecks.cropPad(this, x, offsets, y);
        float[] o = new float[offsets.length];
        for (int i = 0; i < o.length; i++) o[i] = offsets[i];
        try (FloatPointer op = new FloatPointer(o)) {
            check(CpuNative.crop_pad_cpu(x.data(), op, fill, y.data(), v[0], v[1], v[2], v[3], v[4], v[5]));
        }
    }

    @Override
    public void affineResampleForward(Tensor x, float[] theta, Tensor y) {
        long[] v = OpChecks.affineResample(this, x, theta, y, false);
        try (FloatPointer tp = new FloatPointer(theta)) {
            check(CpuNative.affine_resample_forward_cpu(x.data(), tp, y.data(), v[0], v[1], v[2], v[3], v[4], v[5]));
        }
    }

    @Override
    public void affineResampleBackward(Tensor dy, float[] theta, Tensor dx) {
        long[] v = OpChecks.affineResample(this, dx, theta, dy, true);
        try (FloatPointer tp = new FloatPointer(theta)) {
            check(CpuNative.affine_resample_backward_cpu(dy.data(), tp, dx.data(), v[0], v[1], v[2], v[3], v[4], v[5]));
        }
    }

    @Override
    public void redirectedReluBackward(Tensor x, Tensor dy, Tensor dx) {
        OpChecks.redirectedReluBackward(this, x, dy, dx);
        if (x.numel() == 0) return;
        check(CpuNative.redirected_relu_backward_cpu(x.data(), dy.data(), dx.data(), x.dim(0), x.numel() / x.dim(0)));
    }

    @Override
    public void dftRows(Tensor x, Tensor y, boolean inverse) {
        long[] v = OpChecks.dftRows(this, x, y);
        check(CpuNative.dft_rows_cpu(x.data(), y.data(), v[0], v[1], v[2], inverse ? 1 : -1));
    }

    @Override
    public void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, int step) {
        float[] bc = OpChecks.adamStep(this, p, g, m, v, lr, beta1, beta2, eps, step);
        check(CpuNative.adam_step_cpu(p.data(), g.data(), m.data(), v.data(), p.numel(), beta1, beta2, eps, bc[0], bc[1]));
    }
}
