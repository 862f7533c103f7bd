package dev.salient.engine.cuda;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.CamCombine;
import dev.salient.engine.CamWeighting;
import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.Pool2dGeometry;
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

    private static void requireShape(Tensor t, long[] expected, String what) {
        if (!Arrays.equals(t.shape(), expected))
            throw new SalientException(what + ": expected shape " + Arrays.toString(expected) + ", got "
                    + Arrays.toString(t.shape()));
    }

    private static int intDim(long v, String what) {
        if (v > Integer.MAX_VALUE) throw new SalientException(what + ": dimension " + v + " too large");
        return (int) v;
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
        if (src.numel() != dst.numel()) throw new SalientException("copy: " + src + " and " + dst + " differ in size");
        check(CudaNative.salient_cuda_copy(ptr(dst, "copy"), 0, ptr(src, "copy"), 0, src.numel()));
    }

    @Override
    public void copyRange(Tensor src, long srcOffset, Tensor dst, long dstOffset, long count) {
        if (srcOffset < 0 || dstOffset < 0 || count < 0 || srcOffset + count > src.numel()
                || dstOffset + count > dst.numel())
            throw new SalientException("copyRange: range out of bounds");
        check(CudaNative.salient_cuda_copy(ptr(dst, "copyRange"), dstOffset, ptr(src, "copyRange"), srcOffset, count));
    }

    @Override
    public void fill(Tensor t, float value) {
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

    // ---- convolution

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor bias, Tensor y, Conv2dGeometry g) {
        requireShape(x, g.inputShape(), "conv2d input");
        requireShape(w, g.weightShape(), "conv2d weight");
        if (bias != null) requireShape(bias, new long[] {g.k()}, "conv2d bias");
        requireShape(y, g.outputShape(), "conv2d output");
        check(CudaNative.conv2d_forward_cuda(ptr(x, "conv2d"), ptr(w, "conv2d"), ptrOrNull(bias, "conv2d"), ptr(y, "conv2d"),
                g.n(), g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(),
                g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(), g.groups()));
    }

    @Override
    public void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g) {
        requireShape(dy, g.outputShape(), "conv2d backward dy");
        requireShape(w, g.weightShape(), "conv2d backward weight");
        requireShape(dx, g.inputShape(), "conv2d backward dx");
        check(CudaNative.conv2d_backward_data_cuda(ptr(dy, "conv2d backward"), ptr(w, "conv2d backward"),
                ptr(dx, "conv2d backward"), g.n(), g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.strideH(), g.strideW(),
                g.padTop(), g.padLeft(), g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(), g.groups()));
    }

    // ---- pooling

    @Override
    public void maxPool2dForward(Tensor x, Tensor y, Pool2dGeometry g) {
        requireShape(x, g.inputShape(), "maxpool input");
        requireShape(y, g.outputShape(), "maxpool output");
        check(CudaNative.maxpool2d_forward_cuda(ptr(x, "maxpool"), ptr(y, "maxpool"), g.n(), g.c(), g.h(), g.w(),
                g.kernelH(), g.kernelW(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.padBottom(),
                g.padRight(), g.dilationH(), g.dilationW(), g.outH(), g.outW()));
    }

    @Override
    public void maxPool2dBackward(Tensor x, Tensor dy, Tensor dx, Pool2dGeometry g) {
        requireShape(x, g.inputShape(), "maxpool backward x");
        requireShape(dy, g.outputShape(), "maxpool backward dy");
        requireShape(dx, g.inputShape(), "maxpool backward dx");
        check(CudaNative.maxpool2d_backward_cuda(ptr(x, "maxpool backward"), ptr(dy, "maxpool backward"),
                ptr(dx, "maxpool backward"), g.n(), g.c(), g.h(), g.w(), g.kernelH(), g.kernelW(), g.strideH(),
                g.strideW(), g.padTop(), g.padLeft(), g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(),
                g.outH(), g.outW()));
    }

    @Override
    public void avgPool2dForward(Tensor x, Tensor y, Pool2dGeometry g) {
        requireShape(x, g.inputShape(), "avgpool input");
        requireShape(y, g.outputShape(), "avgpool output");
        check(CudaNative.avgpool2d_forward_cuda(ptr(x, "avgpool"), ptr(y, "avgpool"), g.n(), g.c(), g.h(), g.w(),
                g.kernelH(), g.kernelW(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(), g.padBottom(),
                g.padRight(), g.dilationH(), g.dilationW(), g.outH(), g.outW(), g.countIncludePad() ? 1 : 0));
    }

    @Override
    public void avgPool2dBackward(Tensor dy, Tensor dx, Pool2dGeometry g) {
        requireShape(dy, g.outputShape(), "avgpool backward dy");
        requireShape(dx, g.inputShape(), "avgpool backward dx");
        check(CudaNative.avgpool2d_backward_cuda(ptr(dy, "avgpool backward"), ptr(dx, "avgpool backward"), g.n(), g.c(),
                g.h(), g.w(), g.kernelH(), g.kernelW(), g.strideH(), g.strideW(), g.padTop(), g.padLeft(),
                g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(), g.outH(), g.outW(),
                g.countIncludePad() ? 1 : 0));
    }

    // ---- elementwise

    @Override
    public void activationForward(Activation kind, Tensor x, Tensor y, float alpha, float beta) {
        requireShape(y, x.shape(), "activation");
        check(CudaNative.activation_forward_cuda(kind.code, ptr(x, "activation"), ptr(y, "activation"), x.numel(), alpha, beta));
    }

    @Override
    public void activationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx, float alpha, float beta) {
        requireShape(dy, x.shape(), "activation backward dy");
        requireShape(dx, x.shape(), "activation backward dx");
        check(CudaNative.activation_backward_cuda(kind.code, ptr(x, "activation backward"), ptr(dy, "activation backward"),
                ptr(dx, "activation backward"), x.numel(), alpha, beta));
    }

    @Override
    public void preluForward(Tensor x, Tensor slope, Tensor y) {
        requireShape(y, x.shape(), "prelu");
        long[] xs = x.shape(), ss = slope.shape();
        check(CudaNative.prelu_forward_cuda(ptr(x, "prelu"), xs, xs.length, ptr(slope, "prelu"), ss, ss.length, ptr(y, "prelu")));
    }

    @Override
    public void preluBackward(Tensor x, Tensor slope, Tensor dy, Tensor dx) {
        requireShape(dy, x.shape(), "prelu backward dy");
        requireShape(dx, x.shape(), "prelu backward dx");
        long[] xs = x.shape(), ss = slope.shape();
        check(CudaNative.prelu_backward_cuda(ptr(x, "prelu backward"), xs, xs.length, ptr(slope, "prelu backward"), ss,
                ss.length, ptr(dy, "prelu backward"), ptr(dx, "prelu backward")));
    }

    @Override
    public void binary(BinaryOp op, Tensor a, Tensor b, Tensor y) {
        long[] as = a.shape(), bs = b.shape(), ys = y.shape();
        requireShape(y, Shapes.broadcast(as, bs), "binary " + op.name().toLowerCase());
        check(CudaNative.binary_forward_cuda(op.code, ptr(a, "binary"), as, as.length, ptr(b, "binary"), bs, bs.length,
                ptr(y, "binary"), ys, ys.length));
    }

    @Override
    public void reduceSumTo(Tensor src, Tensor dst) {
        long[] ss = src.shape(), ds = dst.shape();
        if (!Arrays.equals(Shapes.broadcast(ss, ds), ss))
            throw new SalientException("reduceSumTo: " + Arrays.toString(ds) + " does not broadcast to " + Arrays.toString(ss));
        check(CudaNative.reduce_sum_to_cuda(ptr(src, "reduceSumTo"), ss, ss.length, ptr(dst, "reduceSumTo"), ds, ds.length));
    }

    @Override
    public void channelAffine(Tensor x, Tensor scale, Tensor shift, Tensor y) {
        requireShape(y, x.shape(), "channelAffine");
        if (x.rank() < 2) throw new SalientException("channelAffine: input " + x + " has no channel axis");
        long outer = x.dim(0), channels = x.dim(1);
        long inner = outer * channels == 0 ? 0 : x.numel() / (outer * channels);
        requireShape(scale, new long[] {channels}, "channelAffine scale");
        if (shift != null) requireShape(shift, new long[] {channels}, "channelAffine shift");
        check(CudaNative.channel_affine_cuda(ptr(x, "channelAffine"), ptr(scale, "channelAffine"),
                ptrOrNull(shift, "channelAffine"), ptr(y, "channelAffine"), outer, channels, inner));
    }

    @Override
    public void axpby(float alpha, Tensor x, float beta, Tensor y) {
        if (x.numel() != y.numel()) throw new SalientException("axpby: " + x + " and " + y + " differ in size");
        check(CudaNative.axpby_cuda(alpha, ptr(x, "axpby"), beta, ptr(y, "axpby"), x.numel()));
    }

    // ---- dense

    @Override
    public void gemm(Tensor a, Tensor b, Tensor c, Tensor y, boolean transA, boolean transB, float alpha, float beta) {
        if (a.rank() != 2 || b.rank() != 2) throw new SalientException("gemm: operands must be 2-D, got " + a + " and " + b);
        long m = transA ? a.dim(1) : a.dim(0), k = transA ? a.dim(0) : a.dim(1);
        long kb = transB ? b.dim(1) : b.dim(0), n = transB ? b.dim(0) : b.dim(1);
        if (k != kb) throw new SalientException("gemm: inner dimensions " + k + " and " + kb + " differ");
        requireShape(y, new long[] {m, n}, "gemm output");
        long cRows = 1, cCols = 1;
        if (c != null) {
            if (c.rank() > 2) throw new SalientException("gemm: C must have rank <= 2, got " + c);
            if (c.rank() == 1) cCols = c.dim(0);
            if (c.rank() == 2) {
                cRows = c.dim(0);
                cCols = c.dim(1);
            }
        }
        check(CudaNative.gemm_cuda(ptr(a, "gemm"), ptr(b, "gemm"), ptrOrNull(c, "gemm"), cRows, cCols, ptr(y, "gemm"), m, n,
                k, transA ? 1 : 0, transB ? 1 : 0, alpha, beta));
    }

    @Override
    public void matmul(Tensor a, Tensor b, Tensor y) {
        long[] as = a.shape(), bs = b.shape();
        if (as.length == 0 || bs.length == 0) throw new SalientException("matmul: scalar operands are not allowed");
        boolean aVec = as.length == 1, bVec = bs.length == 1;
        long[] a2 = aVec ? new long[] {1, as[0]} : as;
        long[] b2 = bVec ? new long[] {bs[0], 1} : bs;
        long m = a2[a2.length - 2], k = a2[a2.length - 1], kb = b2[b2.length - 2], n = b2[b2.length - 1];
        if (k != kb) throw new SalientException("matmul: inner dimensions " + k + " and " + kb + " differ for "
                + Arrays.toString(as) + " @ " + Arrays.toString(bs));
        long[] ab = Arrays.copyOf(a2, a2.length - 2), bb = Arrays.copyOf(b2, b2.length - 2);
        long[] batch = Shapes.broadcast(ab, bb);
        int rank = batch.length;
        long[] aPad = pad(ab, rank), bPad = pad(bb, rank);
        long[] out = Arrays.copyOf(batch, rank + 2);
        int len = rank;
        if (!aVec) out[len++] = m;
        if (!bVec) out[len++] = n;
        requireShape(y, Arrays.copyOf(out, len), "matmul output");
        check(CudaNative.matmul_cuda(ptr(a, "matmul"), aPad, ptr(b, "matmul"), bPad, rank, ptr(y, "matmul"), m, n, k));
    }

    private static long[] pad(long[] s, int rank) {
        long[] r = new long[rank];
        Arrays.fill(r, 1);
        System.arraycopy(s, 0, r, rank - s.length, s.length);
        return r;
    }

    @Override
    public void softmaxForward(Tensor x, Tensor y, long outer, long dim, long inner) {
        checkView(x, outer, dim, inner, "softmax");
        requireShape(y, x.shape(), "softmax output");
        check(CudaNative.softmax_forward_cuda(ptr(x, "softmax"), ptr(y, "softmax"), outer, dim, inner));
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, long outer, long dim, long inner) {
        checkView(y, outer, dim, inner, "softmax backward");
        requireShape(dy, y.shape(), "softmax backward dy");
        requireShape(dx, y.shape(), "softmax backward dx");
        check(CudaNative.softmax_backward_cuda(ptr(y, "softmax backward"), ptr(dy, "softmax backward"),
                ptr(dx, "softmax backward"), outer, dim, inner));
    }

    private static void checkView(Tensor t, long outer, long dim, long inner, String what) {
        if (outer < 0 || dim < 0 || inner < 0 || Math.multiplyExact(Math.multiplyExact(outer, dim), inner) != t.numel())
            throw new SalientException(what + ": view (" + outer + "," + dim + "," + inner + ") does not match " + t);
    }

    // ---- concat / slice

    @Override
    public void concat(List<Tensor> xs, int axis, Tensor y) {
        int rank = y.rank();
        int ax = axis < 0 ? axis + rank : axis;
        if (ax < 0 || ax >= rank) throw new SalientException("concat: axis " + axis + " out of range for " + y);
        long[] ys = y.shape();
        long outer = 1, inner = 1;
        for (int i = 0; i < ax; i++) outer *= ys[i];
        for (int i = ax + 1; i < rank; i++) inner *= ys[i];
        long total = 0;
        for (Tensor x : xs) {
            long[] s = x.shape();
            if (s.length != rank) throw new SalientException("concat: " + x + " and output " + y + " differ in rank");
            for (int i = 0; i < rank; i++)
                if (i != ax && s[i] != ys[i])
                    throw new SalientException("concat: " + x + " does not match output " + y + " off axis " + ax);
            total += s[ax];
        }
        if (total != ys[ax]) throw new SalientException("concat: inputs fill " + total + " of " + ys[ax] + " along axis " + ax);
        long offset = 0;
        for (Tensor x : xs) {
            long xa = x.dim(ax);
            check(CudaNative.concat_forward_cuda(ptr(x, "concat"), ptr(y, "concat"), outer, xa, ys[ax], inner, offset));
            offset += xa;
        }
    }

    @Override
    public void sliceAxis(Tensor src, int axis, long offset, Tensor dst) {
        int rank = src.rank();
        int ax = axis < 0 ? axis + rank : axis;
        if (ax < 0 || ax >= rank || dst.rank() != rank) throw new SalientException("sliceAxis: axis " + axis + " invalid for " + src + " -> " + dst);
        long[] ss = src.shape(), ds = dst.shape();
        long outer = 1, inner = 1;
        for (int i = 0; i < rank; i++) {
            if (i != ax && ss[i] != ds[i]) throw new SalientException("sliceAxis: " + dst + " does not match " + src + " off axis " + ax);
            if (i < ax) outer *= ss[i];
            if (i > ax) inner *= ss[i];
        }
        check(CudaNative.slice_axis_cuda(ptr(src, "sliceAxis"), ptr(dst, "sliceAxis"), outer, ss[ax], ds[ax], inner, offset));
    }

    // ---- attribution (CAM family and Integrated Gradients)

    private static long planeSize(Tensor a, String what) {
        if (a.rank() != 4) throw new SalientException(what + ": expected (N,K,h,w), got " + a);
        return a.dim(2) * a.dim(3);
    }

    @Override
    public void gradcamWeights(CamWeighting kind, Tensor a, Tensor g, Tensor w) {
        long p = planeSize(a, "gradcam weights");
        requireShape(g, a.shape(), "gradcam weights: gradient");
        requireShape(w, new long[] {a.dim(0), a.dim(1)}, "gradcam weights: output");
        check(CudaNative.gradcam_weights_cuda(kind.code, ptr(a, "gradcam weights"), ptr(g, "gradcam weights"),
                ptr(w, "gradcam weights"), intDim(a.dim(0), "gradcam weights"), intDim(a.dim(1), "gradcam weights"), p));
    }

    @Override
    public void camCombine(CamCombine mode, Tensor a, Tensor wg, Tensor cam) {
        long p = planeSize(a, "cam combine");
        if (mode == CamCombine.WEIGHTED) requireShape(wg, new long[] {a.dim(0), a.dim(1)}, "cam combine: weights");
        else requireShape(wg, a.shape(), "cam combine: gradient");
        requireShape(cam, new long[] {a.dim(0), a.dim(2), a.dim(3)}, "cam combine: output");
        check(CudaNative.cam_combine_cuda(mode.code, ptr(a, "cam combine"), ptr(wg, "cam combine"), ptr(cam, "cam combine"),
                intDim(a.dim(0), "cam combine"), intDim(a.dim(1), "cam combine"), p));
    }

    @Override
    public void camFinish(Tensor cam, Tensor out) {
        if (cam.rank() != 3 || out.rank() != 3 || cam.dim(0) != out.dim(0))
            throw new SalientException("cam finish: expected (N,h,w) -> (N,H,W), got " + cam + " -> " + out);
        check(CudaNative.cam_finish_cuda(ptr(cam, "cam finish"), ptr(out, "cam finish"), intDim(cam.dim(0), "cam finish"),
                intDim(cam.dim(1), "cam finish"), intDim(cam.dim(2), "cam finish"), intDim(out.dim(1), "cam finish"),
                intDim(out.dim(2), "cam finish")));
    }

    @Override
    public void bilinearResize(Tensor x, Tensor y) {
        if (x.rank() != 4 || y.rank() != 4 || x.dim(0) != y.dim(0) || x.dim(1) != y.dim(1))
            throw new SalientException("bilinear resize: expected (N,C,h,w) -> (N,C,H,W), got " + x + " -> " + y);
        check(CudaNative.bilinear_resize_cuda(ptr(x, "bilinear resize"), ptr(y, "bilinear resize"),
                intDim(x.dim(0) * x.dim(1), "bilinear resize"), intDim(x.dim(2), "bilinear resize"),
                intDim(x.dim(3), "bilinear resize"), intDim(y.dim(2), "bilinear resize"), intDim(y.dim(3), "bilinear resize")));
    }

    @Override
    public void nearestResize(Tensor x, Tensor y) {
        if (x.rank() != 4 || y.rank() != 4 || x.dim(0) != y.dim(0) || x.dim(1) != y.dim(1))
            throw new SalientException("nearest resize: expected (N,C,h,w) -> (N,C,H,W), got " + x + " -> " + y);
        check(CudaNative.nearest_resize_cuda(ptr(x, "nearest resize"), ptr(y, "nearest resize"),
                intDim(x.dim(0) * x.dim(1), "nearest resize"), intDim(x.dim(2), "nearest resize"),
                intDim(x.dim(3), "nearest resize"), intDim(y.dim(2), "nearest resize"), intDim(y.dim(3), "nearest resize")));
    }

    /** The S step coefficients go to the device once per chunk (S floats), not once per step. */
    @Override
    public void igInterpolate(Tensor x, Tensor b, float[] alphas, Tensor y) {
        requireShape(b, x.shape(), "ig interpolate: baseline");
        if (alphas.length == 0 || x.rank() == 0) throw new SalientException("ig interpolate: no steps or no batch axis");
        long[] ys = x.shape();
        ys[0] *= alphas.length;
        requireShape(y, ys, "ig interpolate: output");
        try (Tensor a = upload(alphas, alphas.length)) {
            check(CudaNative.ig_interpolate_cuda(ptr(x, "ig interpolate"), ptr(b, "ig interpolate"), a.data(),
                    ptr(y, "ig interpolate"), alphas.length, intDim(x.dim(0), "ig interpolate"), x.numel() / x.dim(0)));
        }
    }

    @Override
    public void igAccumulate(Tensor g, float[] weights, Tensor acc) {
        if (weights.length == 0 || acc.rank() == 0) throw new SalientException("ig accumulate: no steps or no batch axis");
        long[] gs = acc.shape();
        gs[0] *= weights.length;
        requireShape(g, gs, "ig accumulate: gradients");
        try (Tensor w = upload(weights, weights.length)) {
            check(CudaNative.ig_accumulate_cuda(ptr(g, "ig accumulate"), w.data(), ptr(acc, "ig accumulate"), weights.length,
                    intDim(acc.dim(0), "ig accumulate"), acc.numel() / acc.dim(0)));
        }
    }
}
