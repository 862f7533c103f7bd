package dev.salient.engine.cuda;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.CamCombine;
import dev.salient.engine.CamWeighting;
import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.Conv3dGeometry;
import dev.salient.engine.OpChecks;
import dev.salient.engine.PairedRows;
import dev.salient.engine.Pool2dGeometry;
import dev.salient.engine.Pool3dGeometry;
import dev.salient.engine.Reduction;
import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;

/**
 * The CUDA engine ({@code kernels/}): every op of {@link Backend} as a kernel launch on
 * device memory. Tensors live on the device; data crosses to the host only in
 * {@link #upload}, {@link #download} and {@link Tensor#toArray()}. Device memory comes
 * from a size-bucketed pool, returned to the driver on {@link #close()}. A CUDA error
 * becomes a {@link SalientException} carrying the CUDA error string; running out of
 * device memory a {@link DeviceOutOfMemoryException}.
 *
 * <pre>{@code
 * if (CudaBackend.isAvailable()) try (Backend gpu = CudaBackend.create()) { ... }
 * else System.out.println(CudaBackend.unavailableReason());
 * }</pre>
 *
 * <p>Kernels run in issue order on the device's default stream; ops may be called from
 * several threads (launches serialise on the device).
 */
public final class CudaBackend implements Backend {

    private final DevicePool pool = new DevicePool();
    private final int device;
    private final String description;

    private CudaBackend(int device, String description) {
        this.device = device;
        this.description = description;
    }

    // ---- discovery

    /** True when the CUDA library loads and at least one device answers; never throws. */
    public static boolean isAvailable() {
        return CudaRuntime.probe().available();
    }

    /** Why {@link #isAvailable()} is false (one line), or "" when it is true. */
    public static String unavailableReason() {
        return CudaRuntime.probe().reason();
    }

    /** Device 0 in words ("NVIDIA H100 80GB HBM3, sm_90, 79.2 GiB, 132 SMs"), or null without one. */
    public static String deviceDescription() {
        return CudaRuntime.probe().device();
    }

    /**
     * True when this process runs the kernels under the CPU emulation ({@code SALIENT_CUDA=emulate}):
     * for tests, which it proves indexing, bounds, barriers and results for, never speed or hardware.
     */
    public static boolean isEmulated() {
        return CudaRuntime.EMULATE;
    }

    /**
     * Caps the device memory the engine holds (0 removes the cap): allocations beyond it fail
     * as on a full device. Lets the out-of-memory paths run on any device, emulated or real.
     */
    public static void setMemoryLimit(long bytes) {
        if (!isAvailable()) throw new SalientException("cuda: " + unavailableReason());
        check(CudaNative.salient_cuda_set_memory_limit(bytes));
    }

    /**
     * A backend on device 0. Throws SalientException naming the reason (no runtime library,
     * no device, driver too old) when CUDA is not available.
     */
    public static CudaBackend create() {
        CudaRuntime.Probe p = CudaRuntime.probe();
        if (!p.available()) throw new SalientException("cuda: " + p.reason());
        check(CudaNative.salient_cuda_set_device(0));
        return new CudaBackend(0, p.device());
    }

    private static CudaBackend shared;

    /**
     * The process-wide backend on device 0 (what {@code Engine.forName("cuda")} hands out),
     * created on first use; closing it is a no-op, its pool lives as long as the process.
     * Throws like {@link #create()} when CUDA is not available.
     */
    public static synchronized CudaBackend shared() {
        if (shared == null) {
            shared = create();
            shared.sharedInstance = true;
        }
        return shared;
    }

    private boolean sharedInstance;

    @Override
    public String name() {
        return "cuda";
    }

    /** The device in words. */
    public String device() {
        return description;
    }

    /** Bytes held by live tensors (size classes, not requests). */
    public long liveBytes() {
        return pool.liveBytes();
    }

    /** Bytes kept in the pool for reuse. */
    public long cachedBytes() {
        return pool.cachedBytes();
    }

    /** Returns the pool's cached blocks to the driver. */
    public void trim() {
        pool.trim();
    }

    // ---- checks

    static void check(int rc) {
        if (rc == 0) return;
        String msg = CudaNative.salient_cuda_last_error().getString();
        if (rc == -2) throw new DeviceOutOfMemoryException(msg);
        throw new SalientException(msg);
    }

    private FloatPointer ptr(Tensor t, String what) {
        if (t == null) throw new SalientException(what + ": tensor is null");
        if (t.backend() != this)
            throw new SalientException(what + ": " + t + " belongs to the " + t.backend().name() + " backend, not this cuda backend");
        if (pool.isClosed()) throw new SalientException(what + ": the cuda backend is closed");
        return t.data();
    }

    private FloatPointer ptrOrNull(Tensor t, String what) {
        return t == null ? null : ptr(t, what);
    }

    private static int intDim(long v, String what) {
        return OpChecks.intDim(v, what);
    }

    // ---- memory

    @Override
    public Tensor allocate(long... shape) {
        long n = Math.max(1, Shapes.numel(shape));
        if (pool.isClosed()) throw new SalientException("allocate: the cuda backend is closed");
        return new Tensor(this, pool.allocate(n), shape);
    }

    @Override
    public Tensor upload(float[] host, long... shape) {
        if (Shapes.numel(shape) != host.length)
            throw new SalientException("upload: " + host.length + " values do not fill shape " + Arrays.toString(shape));
        Tensor t = allocate(shape);
        try {
            check(CudaNative.salient_cuda_upload(t.data(), 0, host, host.length));
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
        return t;
    }

    @Override
    public float[] download(Tensor t) {
        FloatPointer p = ptr(t, "download");
        long n = t.numel();
        if (n > Integer.MAX_VALUE - 8) throw new SalientException("download: tensor too large for a Java array");
        float[] out = new float[(int) n];
        check(CudaNative.salient_cuda_download(out, p, 0, n));
        return out;
    }

    @Override
    public void free(FloatPointer p) {
        pool.release(p);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        OpChecks.copy(this, src, dst);
        check(CudaNative.salient_cuda_copy(ptr(dst, "copy"), 0, ptr(src, "copy"), 0, src.numel()));
    }

    @Override
    public void copyRange(Tensor src, long srcOffset, Tensor dst, long dstOffset, long count) {
        OpChecks.copyRange(this, src, srcOffset, dst, dstOffset, count);
        check(CudaNative.salient_cuda_copy(ptr(dst, "copyRange"), dstOffset, ptr(src, "copyRange"), srcOffset, count));
    }

    @Override
    public void fill(Tensor t, float value) {
        OpChecks.fill(this, t);
        check(CudaNative.fill_cuda(ptr(t, "fill"), t.numel(), value));
    }

    @Override
    public void synchronize() {
        check(CudaNative.salient_cuda_synchronize());
    }

    /** Frees every device block of this backend (tensors still open become unusable); no-op for {@link #shared()}. */
    @Override
    public void close() {
        if (!sharedInstance) pool.close();
    }

    // ---- convolution (every op: OpChecks first, the same checks as every engine)

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor bias, Tensor y, Conv2dGeometry g) {
        OpChecks.conv2dForward(this, x, w, bias, y, g);
        check(CudaNative.conv2d_forward_cuda(ptr(x, "conv2d"), ptr(w, "conv2d"), ptrOrNull(bias, "conv2d"), ptr(y, "conv2d"),
                g.n(), g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(),
                g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(), g.groups()));
    }

    /** The composed path: the conv kernel, then the activation kernel in place. */
    @Override
    public void conv2dForwardActivation(Tensor x, Tensor w, Tensor bias, Tensor y, Conv2dGeometry g,
            Activation kind, float alpha, float beta) {
        OpChecks.conv2dForwardActivation(this, x, w, bias, y, g, kind);
        conv2dForward(x, w, bias, y, g);
        activationForward(kind, y, y, alpha, beta);
    }

    @Override
    public void conv2dForwardSum(Tensor x, Tensor w, Tensor bias, Tensor z, Tensor y, Conv2dGeometry g,
            Activation kind, float alpha, float beta) {
        OpChecks.conv2dForwardSum(this, x, w, bias, z, y, g, kind);
        conv2dForward(x, w, bias, y, g);
        Backend.addThenActivate(this, y, z, kind, alpha, beta);
    }

    /** One kernel (kernels/conv2d.cu), the CPU's bits; the channels go to the device once per call. */
    @Override
    public void conv2dForwardChannels(Tensor x, Tensor w, Tensor bias, Tensor z, int[] channels, Tensor y,
            Conv2dGeometry g, Activation kind, float alpha, float beta) {
        float[] ch = OpChecks.conv2dForwardChannels(this, x, w, bias, z, channels, y, g, kind);
        try (Tensor ct = upload(ch, ch.length)) {
            check(CudaNative.conv2d_forward_channels_cuda(ptr(x, "conv2dForwardChannels"), ptr(w, "conv2dForwardChannels"),
                    ptrOrNull(bias, "conv2dForwardChannels"), ptrOrNull(z, "conv2dForwardChannels"),
                    ct.data(), ptr(y, "conv2dForwardChannels"), g.n(), g.c(), g.h(), g.w(), g.k(), g.r(), g.s(),
                    g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.padBottom(), g.padRight(), g.dilationH(),
                    g.dilationW(), g.groups(), kind == null ? -1 : kind.code, alpha, beta));
        }
    }

    /** Composed: the affine map (and its activation) into a temporary, then the conv (plans do not fuse it here). */
    @Override
    public void conv2dForwardPrologue(Tensor x, Tensor scale, Tensor shift, Activation preKind, float preAlpha,
            float preBeta, Tensor w, Tensor bias, Tensor y, Conv2dGeometry g, Activation kind, float alpha, float beta) {
        OpChecks.conv2dForwardPrologue(this, x, scale, shift, preKind, w, bias, y, g, kind);
        Backend.composePrologue(this, x, scale, shift, preKind, preAlpha, preBeta, w, bias, y, g, kind, alpha, beta);
    }

    /** Composed: the expansion into a temporary, then the depthwise conv (plans do not fuse them here). */
    @Override
    public void conv2dPointwiseDepthwise(Tensor x, Tensor w1, Tensor b1, Activation act1, float alpha1, float beta1,
            Tensor w2, Tensor b2, Tensor y, Conv2dGeometry pw, Conv2dGeometry dw, Activation act2, float alpha2,
            float beta2) {
        OpChecks.conv2dPointwiseDepthwise(this, x, w1, b1, act1, w2, b2, y, pw, dw, act2);
        Backend.composeConvPair(this, x, w1, b1, act1, alpha1, beta1, w2, b2, y, pw, dw, act2, alpha2, beta2);
    }

    /** Composed: the depthwise conv into a temporary, then the pointwise conv (plans do not fuse them here). */
    @Override
    public void conv2dDepthwisePointwise(Tensor x, Tensor w1, Tensor b1, Activation act1, float alpha1, float beta1,
            Tensor w2, Tensor b2, Tensor y, Conv2dGeometry dw, Conv2dGeometry pw, Activation act2, float alpha2,
            float beta2) {
        OpChecks.conv2dDepthwisePointwise(this, x, w1, b1, act1, w2, b2, y, dw, pw, act2);
        Backend.composeConvPair(this, x, w1, b1, act1, alpha1, beta1, w2, b2, y, dw, pw, act2, alpha2, beta2);
    }

    @Override
    public void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g) {
        OpChecks.conv2dBackwardData(this, dy, w, dx, g);
        check(CudaNative.conv2d_backward_data_cuda(ptr(dy, "conv2d backward"), ptr(w, "conv2d backward"),
                ptr(dx, "conv2d backward"), g.n(), g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.strideH(), g.strideW(),
                g.padTop(), g.padLeft(), g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(), g.groups()));
    }

    /** The data gradient's kernel, the sum's, then the Relu's mask in place. */
    @Override
    public void conv2dBackwardDataRelu(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g, Tensor reluOut, Tensor sum) {
        OpChecks.conv2dBackwardDataRelu(this, dy, w, dx, g, reluOut, sum);
        conv2dBackwardData(dy, w, dx, g);
        if (sum != null) axpby(1f, sum, 1f, dx);
        activationBackward(Activation.RELU, reluOut, dx, dx, 0f, 0f);
    }

    // ---- pooling

    // ---- 3-D convolution and pooling

    @Override
    public void conv3dForward(Tensor x, Tensor w, Tensor bias, Tensor y, Conv3dGeometry g) {
        OpChecks.conv3dForward(this, x, w, bias, y, g);
        check(CudaNative.conv3d_forward_cuda(ptr(x, "conv3d"), ptr(w, "conv3d"), ptrOrNull(bias, "conv3d"),
                ptr(y, "conv3d"), g.abi(), -1, 0f, 0f));
    }

    @Override
    public void conv3dForwardActivation(Tensor x, Tensor w, Tensor bias, Tensor y, Conv3dGeometry g,
            Activation kind, float alpha, float beta) {
        OpChecks.conv3dForwardActivation(this, x, w, bias, y, g, kind);
        check(CudaNative.conv3d_forward_cuda(ptr(x, "conv3d"), ptr(w, "conv3d"), ptrOrNull(bias, "conv3d"),
                ptr(y, "conv3d"), g.abi(), kind.code, alpha, beta));
    }

    @Override
    public void conv3dForwardSum(Tensor x, Tensor w, Tensor bias, Tensor z, Tensor y, Conv3dGeometry g,
            Activation kind, float alpha, float beta) {
        OpChecks.conv3dForwardSum(this, x, w, bias, z, y, g, kind);
        conv3dForward(x, w, bias, y, g);
        Backend.addThenActivate(this, y, z, kind, alpha, beta);
    }

    @Override
    public void conv3dBackwardData(Tensor dy, Tensor w, Tensor dx, Conv3dGeometry g) {
        OpChecks.conv3dBackwardData(this, dy, w, dx, g);
        check(CudaNative.conv3d_backward_data_cuda(ptr(dy, "conv3d backward"), ptr(w, "conv3d backward"),
                ptr(dx, "conv3d backward"), g.abi()));
    }

    @Override
    public void maxPool3dForward(Tensor x, Tensor y, Pool3dGeometry g) {
        OpChecks.pool3dForward(this, "maxPool3dForward", x, y, g);
        check(CudaNative.maxpool3d_forward_cuda(ptr(x, "maxpool3d"), ptr(y, "maxpool3d"), g.abi()));
    }

    @Override
    public void maxPool3dBackward(Tensor x, Tensor dy, Tensor dx, Pool3dGeometry g) {
        OpChecks.pool3dBackward(this, "maxPool3dBackward", x, dy, dx, g);
        check(CudaNative.maxpool3d_backward_cuda(ptr(x, "maxpool3d backward"), ptr(dy, "maxpool3d backward"),
                ptr(dx, "maxpool3d backward"), g.abi()));
    }

    @Override
    public void avgPool3dForward(Tensor x, Tensor y, Pool3dGeometry g) {
        OpChecks.pool3dForward(this, "avgPool3dForward", x, y, g);
        check(CudaNative.avgpool3d_forward_cuda(ptr(x, "avgpool3d"), ptr(y, "avgpool3d"), g.abi(),
                g.countIncludePad() ? 1 : 0));
    }

    @Override
    public void avgPool3dBackward(Tensor dy, Tensor dx, Pool3dGeometry g) {
        OpChecks.pool3dBackward(this, "avgPool3dBackward", null, dy, dx, g);
        check(CudaNative.avgpool3d_backward_cuda(ptr(dy, "avgpool3d backward"), ptr(dx, "avgpool3d backward"),
                g.abi(), g.countIncludePad() ? 1 : 0));
    }

    @Override
    public void maxPool2dForward(Tensor x, Tensor y, Pool2dGeometry g) {
        OpChecks.maxPool2dForward(this, x, y, g);
        check(CudaNative.maxpool2d_forward_cuda(ptr(x, "maxpool"), ptr(y, "maxpool"), g.n(), g.c(), g.h(), g.w(),
                g.kernelH(), g.kernelW(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.padBottom(),
                g.padRight(), g.dilationH(), g.dilationW(), g.outH(), g.outW()));
    }

    @Override
    public void maxPool2dBackward(Tensor x, Tensor dy, Tensor dx, Pool2dGeometry g) {
        OpChecks.maxPool2dBackward(this, x, dy, dx, g);
        check(CudaNative.maxpool2d_backward_cuda(ptr(x, "maxpool backward"), ptr(dy, "maxpool backward"),
                ptr(dx, "maxpool backward"), g.n(), g.c(), g.h(), g.w(), g.kernelH(), g.kernelW(), g.strideH(),
                g.strideW(), g.padTop(), g.padLeft(), g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(),
                g.outH(), g.outW()));
    }

    /** The pool's backward kernel, then the Relu's mask in place. */
    @Override
    public void maxPool2dBackwardRelu(Tensor x, Tensor dy, Tensor dx, Pool2dGeometry g) {
        OpChecks.maxPool2dBackward(this, x, dy, dx, g);
        maxPool2dBackward(x, dy, dx, g);
        activationBackward(Activation.RELU, x, dx, dx, 0f, 0f);
    }

    @Override
    public void avgPool2dForward(Tensor x, Tensor y, Pool2dGeometry g) {
        OpChecks.avgPool2dForward(this, x, y, g);
        check(CudaNative.avgpool2d_forward_cuda(ptr(x, "avgpool"), ptr(y, "avgpool"), g.n(), g.c(), g.h(), g.w(),
                g.kernelH(), g.kernelW(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.padBottom(),
                g.padRight(), g.dilationH(), g.dilationW(), g.outH(), g.outW(), g.countIncludePad() ? 1 : 0));
    }

    @Override
    public void avgPool2dBackward(Tensor dy, Tensor dx, Pool2dGeometry g) {
        OpChecks.avgPool2dBackward(this, dy, dx, g);
        check(CudaNative.avgpool2d_backward_cuda(ptr(dy, "avgpool backward"), ptr(dx, "avgpool backward"), g.n(), g.c(),
                g.h(), g.w(), g.kernelH(), g.kernelW(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(),
                g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(), g.outH(), g.outW(),
                g.countIncludePad() ? 1 : 0));
    }

    // ---- elementwise

    @Override
    public void activationForward(Activation kind, Tensor x, Tensor y, float alpha, float beta) {
        OpChecks.activationForward(this, x, y);
        check(CudaNative.activation_forward_cuda(kind.code, ptr(x, "activation"), ptr(y, "activation"), x.numel(), alpha, beta));
    }

    @Override
    public void activationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx, float alpha, float beta) {
        OpChecks.activationBackward(this, x, dy, dx);
        check(CudaNative.activation_backward_cuda(kind.code, ptr(x, "activation backward"), ptr(dy, "activation backward"),
                ptr(dx, "activation backward"), x.numel(), alpha, beta));
    }

    @Override
    public void preluForward(Tensor x, Tensor slope, Tensor y) {
        OpChecks.preluForward(this, x, slope, y);
        long[] xs = x.shape(), ss = slope.shape();
        check(CudaNative.prelu_forward_cuda(ptr(x, "prelu"), xs, xs.length, ptr(slope, "prelu"), ss, ss.length, ptr(y, "prelu")));
    }

    @Override
    public void preluBackward(Tensor x, Tensor slope, Tensor dy, Tensor dx) {
        OpChecks.preluBackward(this, x, slope, dy, dx);
        long[] xs = x.shape(), ss = slope.shape();
        check(CudaNative.prelu_backward_cuda(ptr(x, "prelu backward"), xs, xs.length, ptr(slope, "prelu backward"), ss,
                ss.length, ptr(dy, "prelu backward"), ptr(dx, "prelu backward")));
    }

    @Override
    public void binary(BinaryOp op, Tensor a, Tensor b, Tensor y) {
        OpChecks.binary(this, op, a, b, y);
        long[] as = a.shape(), bs = b.shape(), ys = y.shape();
        check(CudaNative.binary_forward_cuda(op.code, ptr(a, "binary"), as, as.length, ptr(b, "binary"), bs, bs.length,
                ptr(y, "binary"), ys, ys.length));
    }

    @Override
    public void reduceSumTo(Tensor src, Tensor dst) {
        OpChecks.reduceSumTo(this, src, dst);
        long[] ss = src.shape(), ds = dst.shape();
        check(CudaNative.reduce_sum_to_cuda(ptr(src, "reduceSumTo"), ss, ss.length, ptr(dst, "reduceSumTo"), ds, ds.length));
    }

    @Override
    public void channelAffine(Tensor x, Tensor scale, Tensor shift, Tensor y) {
        long[] v = OpChecks.channelAffine(this, x, scale, shift, y);
        check(CudaNative.channel_affine_cuda(ptr(x, "channelAffine"), ptr(scale, "channelAffine"),
                ptrOrNull(shift, "channelAffine"), ptr(y, "channelAffine"), v[0], v[1], v[2]));
    }

    @Override
    public void channelAffineActivation(Tensor x, Tensor scale, Tensor shift, Tensor y, Activation kind, float alpha,
            float beta) {
        OpChecks.channelAffineActivation(this, x, scale, shift, y, kind);
        channelAffine(x, scale, shift, y);
        activationForward(kind, y, y, alpha, beta);
    }

    @Override
    public void axpby(float alpha, Tensor x, float beta, Tensor y) {
        OpChecks.axpby(this, x, y);
        check(CudaNative.axpby_cuda(alpha, ptr(x, "axpby"), beta, ptr(y, "axpby"), x.numel()));
    }

    // ---- dense

    @Override
    public void gemm(Tensor a, Tensor b, Tensor c, Tensor y, boolean transA, boolean transB, float alpha, float beta) {
        long[] v = OpChecks.gemm(this, a, b, c, y, transA, transB);
        check(CudaNative.gemm_cuda(ptr(a, "gemm"), ptr(b, "gemm"), ptrOrNull(c, "gemm"), v[3], v[4], ptr(y, "gemm"), v[0],
                v[1], v[2], transA ? 1 : 0, transB ? 1 : 0, alpha, beta));
    }

    @Override
    public void matmul(Tensor a, Tensor b, Tensor y) {
        OpChecks.MatmulArgs v = OpChecks.matmul(this, a, b, y);
        check(CudaNative.matmul_cuda(ptr(a, "matmul"), v.aBatch(), ptr(b, "matmul"), v.bBatch(), v.batchRank(),
                ptr(y, "matmul"), v.m(), v.n(), v.k()));
    }

    @Override
    public void softmaxForward(Tensor x, Tensor y, long outer, long dim, long inner) {
        OpChecks.softmaxForward(this, x, y, outer, dim, inner);
        check(CudaNative.softmax_forward_cuda(ptr(x, "softmax"), ptr(y, "softmax"), outer, dim, inner));
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, long outer, long dim, long inner) {
        OpChecks.softmaxBackward(this, y, dy, dx, outer, dim, inner);
        check(CudaNative.softmax_backward_cuda(ptr(y, "softmax backward"), ptr(dy, "softmax backward"),
                ptr(dx, "softmax backward"), outer, dim, inner));
    }

    // ---- concat / slice

    @Override
    public void concat(List<Tensor> xs, int axis, Tensor y) {
        long[] v = OpChecks.concat(this, xs, axis, y);
        int ax = (int) v[0];
        long offset = 0;
        for (Tensor x : xs) {
            long xa = x.dim(ax);
            if (x.numel() > 0)
                check(CudaNative.concat_forward_cuda(ptr(x, "concat"), ptr(y, "concat"), v[1], xa, y.dim(ax), v[2], offset));
            offset += xa;
        }
    }

    @Override
    public void sliceAxis(Tensor src, int axis, long offset, Tensor dst) {
        long[] v = OpChecks.sliceAxis(this, src, axis, offset, dst);
        int ax = (int) v[0];
        if (dst.numel() == 0) return;
        check(CudaNative.slice_axis_cuda(ptr(src, "sliceAxis"), ptr(dst, "sliceAxis"), v[1], src.dim(ax), dst.dim(ax), v[2],
                offset));
    }

    // ---- CAM family and resizes

    @Override
    public void gradcamWeights(CamWeighting kind, Tensor a, Tensor g, Tensor w) {
        long p = OpChecks.gradcamWeights(this, a, g, w);
        check(CudaNative.gradcam_weights_cuda(kind.code, ptr(a, "gradcam weights"), ptr(g, "gradcam weights"),
                ptr(w, "gradcam weights"), intDim(a.dim(0), "gradcam weights"), intDim(a.dim(1), "gradcam weights"), p));
    }
    @Override
    public void camCombine(CamCombine mode, Tensor a, Tensor wg, Tensor cam) {
        long p = OpChecks.camCombine(this, mode, a, wg, cam);
        check(CudaNative.cam_combine_cuda(mode.code, ptr(a, "cam combine"), ptr(wg, "cam combine"), ptr(cam, "cam combine"),
                intDim(a.dim(0), "cam combine"), intDim(a.dim(1), "cam combine"), p));
    }

    @Override
    public void camFinish(Tensor cam, Tensor out) {
        OpChecks.camFinish(this, cam, out);
        check(CudaNative.cam_finish_cuda(ptr(cam, "cam finish"), ptr(out, "cam finish"), intDim(cam.dim(0), "cam finish"),
                intDim(cam.dim(1), "cam finish"), intDim(cam.dim(2), "cam finish"), intDim(out.dim(1), "cam finish"),
                intDim(out.dim(2), "cam finish")));
    }

    @Override
    public void bilinearResize(Tensor x, Tensor y) {
        OpChecks.resize(this, "bilinear resize", x, y);
        check(CudaNative.bilinear_resize_cuda(ptr(x, "bilinear resize"), ptr(y, "bilinear resize"),
                intDim(x.dim(0) * x.dim(1), "bilinear resize"), intDim(x.dim(2), "bilinear resize"),
                intDim(x.dim(3), "bilinear resize"), intDim(y.dim(2), "bilinear resize"), intDim(y.dim(3), "bilinear resize")));
    }

    @Override
    public void nearestResize(Tensor x, Tensor y) {
        OpChecks.resize(this, "nearest resize", x, y);
        check(CudaNative.nearest_resize_cuda(ptr(x, "nearest resize"), ptr(y, "nearest resize"),
                intDim(x.dim(0) * x.dim(1), "nearest resize"), intDim(x.dim(2), "nearest resize"),
                intDim(x.dim(3), "nearest resize"), intDim(y.dim(2), "nearest resize"), intDim(y.dim(3), "nearest resize")));
    }

    // ---- primitives (kernels/blend.cu, rows.cu, random.cu); small coefficient arrays go to the device once per call

    @Override
    public void maskedBlend(Tensor x, Tensor b, Tensor m, Tensor y) {
        long[] v = OpChecks.maskedBlend(this, x, b, m, y);
        check(CudaNative.masked_blend_cuda(ptr(x, "maskedBlend"), ptr(b, "maskedBlend"), ptr(m, "maskedBlend"),
                ptr(y, "maskedBlend"), v[0], v[1], v[2], v[3], v[4]));
    }

    @Override
    public boolean fusesCoalitionConv() {
        return true;
    }

    /** One kernel (kernels/coalition.cu), the CPU's bits; the labels and slot segments go to the device as floats. */
    @Override
    public void coalitionConvPrepare(Tensor x, Tensor b, int[] labels, Tensor w, Tensor bias, Conv2dGeometry g, int[] segs,
            int slots, Tensor part, Tensor bout) {
        OpChecks.coalitionConvPrepare(this, x, b, labels, w, bias, g, segs, slots, part, bout);
        try (Tensor lt = upload(asFloats(labels), labels.length); Tensor st = upload(asFloats(segs), segs.length)) {
            check(CudaNative.coalition_conv_prepare_cuda(ptr(x, "coalitionConvPrepare"), ptrOrNull(b, "coalitionConvPrepare"),
                    lt.data(), ptr(w, "coalitionConvPrepare"), ptrOrNull(bias, "coalitionConvPrepare"), st.data(),
                    ptr(part, "coalitionConvPrepare"), ptr(bout, "coalitionConvPrepare"), g.c(), g.h(), g.w(), g.k(), g.r(),
                    g.s(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.outH(), g.outW(), slots));
        }
    }

    @Override
    public void coalitionConv(int[] segs, int slots, Tensor part, Tensor bout, float[] design, int m, int count,
            Activation act, float lo, float hi, int[] pool, Tensor y, long first, long step) {
        long row = OpChecks.coalitionConv(this, segs, slots, part, bout, design, m, count, act, lo, hi, pool, y, first, step);
        int[] q = pool == null ? new int[8] : pool;
        try (Tensor st = upload(asFloats(segs), segs.length); Tensor dt = upload(design, design.length)) {
            check(CudaNative.coalition_conv_cuda(st.data(), ptr(part, "coalitionConv"), ptr(bout, "coalitionConv"), dt.data(),
                    ptr(y, "coalitionConv"), (int) part.dim(1), (int) part.dim(2), (int) part.dim(3), slots, m, count, first,
                    step, row, act == null ? 0 : act == Activation.RELU ? 1 : 2, lo, hi, q[0], q[1], q[2], q[3], q[4], q[5],
                    q[6], q[7]));
        }
    }

    private static float[] asFloats(int[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = v[i];
        return f;
    }

    @Override
    public void weightedSum(Tensor g, float[] w, Tensor acc) {
        OpChecks.weightedSum(this, g, w, acc);
        try (Tensor wt = upload(w, w.length)) {
            check(CudaNative.weighted_sum_cuda(ptr(g, "weightedSum"), wt.data(), ptr(acc, "weightedSum"), w.length, acc.numel()));
        }
    }

    @Override
    public void reduceRows(Reduction op, Tensor x, Tensor y) {
        long[] v = OpChecks.reduceRows(this, x, y);
        check(CudaNative.reduce_rows_cuda(op.code, ptr(x, "reduceRows"), ptr(y, "reduceRows"), v[0], v[1]));
    }

    @Override
    public void secantBackward(Tensor x, Tensor y, Tensor dy, Tensor dx, float eps, Activation own) {
        long h = OpChecks.secantBackward(this, x, y, dy, dx, eps, own);
        check(CudaNative.secant_backward_cuda(ptr(x, "secantBackward"), ptr(y, "secantBackward"), ptr(dy, "secantBackward"),
                ptr(dx, "secantBackward"), h, eps, own == null ? -1 : own.code));
    }

    /**
     * Composed: dy in both halves and x, y in the paired layout, the paired kernel on all rows, then
     * the halves compared and the first kept. Returns 1 where they differ, else 0.
     */
    @Override
    public long secantReluHalf(Tensor x, Tensor y, Tensor dy, Tensor dx, float eps) {
        long[] v = OpChecks.secantReluHalf(this, x, y, dy, dx, eps);
        long h = v[0], repeat = v[1], row = v[2];
        boolean compact = repeat > 1;
        Tensor x2 = compact ? PairedRows.paired(this, x, h, repeat, row, 2 * h) : x;
        Tensor y2 = compact ? PairedRows.paired(this, y, h, repeat, row, 2 * h) : y;
        try (Tensor dy2 = allocate(2 * h); Tensor dx2 = allocate(2 * h)) {
            copyRange(dy, 0, dy2, 0, h);
            copyRange(dy, 0, dy2, h, h);
            secantBackward(x2, y2, dy2, dx2, eps, Activation.RELU);
            copyRange(dx2, 0, dx, 0, h);
            return PairedRows.halvesEqual(this, dx2, h) ? 0 : 1;
        } finally {
            if (compact) {
                x2.close();
                y2.close();
            }
        }
    }

    @Override
    public void stabilizedDivide(Tensor r, Tensor z, Tensor y, float eps) {
        long n = OpChecks.stabilizedDivide(this, r, z, y, eps);
        check(CudaNative.stab_divide_cuda(ptr(r, "stabilizedDivide"), ptr(z, "stabilizedDivide"), ptr(y, "stabilizedDivide"), n,
                eps));
    }

    @Override
    public void normShares(Tensor a, Tensor b, Tensor r, Tensor da, Tensor db, float eps) {
        long n = OpChecks.normShares(this, a, b, r, da, db, eps);
        check(CudaNative.norm_shares_cuda(ptr(a, "normShares"), ptr(b, "normShares"), ptr(r, "normShares"),
                da == null ? null : ptr(da, "normShares"), db == null ? null : ptr(db, "normShares"), n, eps));
    }

    @Override
    public void argsortRows(Tensor x, Tensor order, Tensor rank) {
        long[] v = OpChecks.argsortRows(this, x, order, rank);
        check(CudaNative.argsort_rows_cuda(ptr(x, "argsortRows"), ptr(order, "argsortRows"), ptr(rank, "argsortRows"),
                v[0], v[1]));
    }

    @Override
    public void randomNormal(long seed, long offset, Tensor y) {
        OpChecks.randomNormal(this, offset, y);
        check(CudaNative.random_normal_cuda(seed, offset, ptr(y, "randomNormal"), y.numel()));
    }

    // ---- feature visualisation (kernels/resample.cu, adam.cu); offsets and maps go to the device once per call

    @Override
    public void cropPad(Tensor x, int[] offsets, float fill, Tensor y) {
        long[] v = OpChecks.cropPad(this, x, offsets, y);
        float[] o = new float[offsets.length];
        for (int i = 0; i < o.length; i++) o[i] = offsets[i];
        try (Tensor ot = upload(o, o.length)) {
            check(CudaNative.crop_pad_cuda(ptr(x, "cropPad"), ot.data(), fill, ptr(y, "cropPad"), v[0], v[1], v[2], v[3], v[4],
                    v[5]));
        }
    }

    @Override
    public void affineResampleForward(Tensor x, float[] theta, Tensor y) {
        long[] v = OpChecks.affineResample(this, x, theta, y, false);
        try (Tensor tt = upload(theta, theta.length)) {
            check(CudaNative.affine_resample_forward_cuda(ptr(x, "affineResampleForward"), tt.data(),
                    ptr(y, "affineResampleForward"), v[0], v[1], v[2], v[3], v[4], v[5]));
        }
    }

    @Override
    public void affineResampleBackward(Tensor dy, float[] theta, Tensor dx) {
        long[] v = OpChecks.affineResample(this, dx, theta, dy, true);
        try (Tensor tt = upload(theta, theta.length)) {
            check(CudaNative.affine_resample_backward_cuda(ptr(dy, "affineResampleBackward"), tt.data(),
                    ptr(dx, "affineResampleBackward"), v[0], v[1], v[2], v[3], v[4], v[5]));
        }
    }

    @Override
    public void redirectedReluBackward(Tensor x, Tensor dy, Tensor dx) {
        OpChecks.redirectedReluBackward(this, x, dy, dx);
        if (x.numel() == 0) return;
        long n = x.dim(0), per = x.numel() / n;
        // composed from the engine's kernels: t = dy where x < 0 (or NaN) via relu's mask on -x
        try (Tensor neg = allocate(x.shape()); Tensor relu = allocate(x.shape()); Tensor mag = allocate(n)) {
            axpby(-1f, x, 0f, neg); //                                          neg = -x
            activationBackward(Activation.RELU, neg, dy, relu, 0f, 0f); //      relu = dy where x < 0
            axpby(1f, dy, -1f, relu); //                                        relu = dy where x >= 0: relu_grad
            activationForward(Activation.ABS, relu, dx, 0f, 0f);
            reduceRows(Reduction.MAX, new Tensor(this, dx.data(), n, per), mag);
            float[] m = mag.toArray();
            activationForward(Activation.RELU, dy, dx, 0f, 0f); //              dx = relu(dy)
            activationBackward(Activation.RELU, neg, dx, dx, 0f, 0f); //        dx = relu(dy) where x < 0
            binary(BinaryOp.SUB, dy, dx, dx); //                                dx = redirected
            for (int i = 0; i < n; i++)
                if (m[i] > 0) copyRange(relu, i * per, dx, i * per, per);
        }
    }

    @Override
    public void dftRows(Tensor x, Tensor y, boolean inverse) {
        long[] v = OpChecks.dftRows(this, x, y);
        check(CudaNative.dft_rows_cuda(ptr(x, "dftRows"), ptr(y, "dftRows"), v[0], v[1], v[2], inverse ? 1 : -1));
    }

    @Override
    public void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, int step) {
        float[] bc = OpChecks.adamStep(this, p, g, m, v, lr, beta1, beta2, eps, step);
        check(CudaNative.adam_step_cuda(ptr(p, "adamStep"), ptr(g, "adamStep"), ptr(m, "adamStep"), ptr(v, "adamStep"),
                p.numel(), beta1, beta2, eps, bc[0], bc[1]));
    }
}
