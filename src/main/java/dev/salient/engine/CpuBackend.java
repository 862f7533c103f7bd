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

    @Override
    public Tensor allocate(long... shape) {
        long n = Math.max(1, Shapes.numel(shape));
        FloatPointer p = SalientNative.salient_alloc(n);
        if (p == null || p.isNull()) throw new SalientException(SalientNative.salient_last_error().getString());
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

    private static UnsupportedOperationException todo(String op) {
        return new UnsupportedOperationException("cpu backend: " + op + " not implemented");
    }

    @Override public void conv2dForward(Tensor x, Tensor w, Tensor bias, Tensor y, Conv2dGeometry g) { throw todo("conv2dForward"); }
    @Override public void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g) { throw todo("conv2dBackwardData"); }
    @Override public void maxPool2dForward(Tensor x, Tensor y, Pool2dGeometry g) { throw todo("maxPool2dForward"); }
    @Override public void maxPool2dBackward(Tensor x, Tensor dy, Tensor dx, Pool2dGeometry g) { throw todo("maxPool2dBackward"); }
    @Override public void avgPool2dForward(Tensor x, Tensor y, Pool2dGeometry g) { throw todo("avgPool2dForward"); }
    @Override public void avgPool2dBackward(Tensor dy, Tensor dx, Pool2dGeometry g) { throw todo("avgPool2dBackward"); }
    @Override public void preluForward(Tensor x, Tensor slope, Tensor y) { throw todo("preluForward"); }
    @Override public void preluBackward(Tensor x, Tensor slope, Tensor dy, Tensor dx) { throw todo("preluBackward"); }
    @Override public void binary(BinaryOp op, Tensor a, Tensor b, Tensor y) { throw todo("binary"); }
    @Override public void reduceSumTo(Tensor src, Tensor dst) { throw todo("reduceSumTo"); }
    @Override public void channelAffine(Tensor x, Tensor scale, Tensor shift, Tensor y) { throw todo("channelAffine"); }
    @Override public void axpby(float alpha, Tensor x, float beta, Tensor y) { throw todo("axpby"); }
    @Override public void gemm(Tensor a, Tensor b, Tensor c, Tensor y, boolean transA, boolean transB, float alpha, float beta) { throw todo("gemm"); }
    @Override public void matmul(Tensor a, Tensor b, Tensor y) { throw todo("matmul"); }
    @Override public void softmaxForward(Tensor x, Tensor y, long outer, long dim, long inner) { throw todo("softmaxForward"); }
    @Override public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, long outer, long dim, long inner) { throw todo("softmaxBackward"); }
    @Override public void concat(List<Tensor> xs, int axis, Tensor y) { throw todo("concat"); }
    @Override public void sliceAxis(Tensor src, int axis, long offset, Tensor dst) { throw todo("sliceAxis"); }
}
