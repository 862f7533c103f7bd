package dev.salient.model;

import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import java.util.Arrays;

/**
 * A constant tensor held on the host: a weight read from the model, or a value
 * computed at load or plan time by constant folding (shape subgraphs). Either
 * float ({@link #floats()}) or integer ({@link #longs()}); integer ONNX types
 * (int8..int64, bool) are all held as long. Large float constants (a model's
 * weights) live off the Java heap ({@link #isOffHeap()}), where the CPU backend
 * reads them in place; small ones and integers live in Java arrays.
 * Immutable by convention: never write into the arrays it returns.
 */
public final class HostTensor {
    /** Largest tensor that load/plan-time folding may create (elements). */
    public static final long MAX_FOLD_NUMEL = 1L << 24;
    /** Float constants of at least this many elements are kept off the Java heap by a model. */
    public static final int OFF_HEAP_MIN_NUMEL = 4096;

    private final long[] shape;
    private final float[] f;
    private final long[] l;
    private final NativeFloats nf;

    private HostTensor(long[] shape, float[] f, long[] l, NativeFloats nf) {
        this.shape = shape.clone();
        this.f = f;
        this.l = l;
        this.nf = nf;
        long n = Shapes.numel(shape);
        long have = f != null ? f.length : l != null ? l.length : nf.count();
        if (have != n)
            throw new SalientException("constant of shape " + Arrays.toString(shape) + " holds " + have + " values");
    }

    public static HostTensor ofFloats(float[] data, long... shape) {
        return new HostTensor(shape, data, null, null);
    }

    public static HostTensor ofLongs(long[] data, long... shape) {
        return new HostTensor(shape, null, data, null);
    }

    /**
     * A float constant off the Java heap, written once by {@code fill} through a native-order
     * byte view of its {@code numel(shape) * 4} bytes (at least one element).
     */
    public static HostTensor offHeapFloats(long[] shape, java.util.function.Consumer<java.nio.ByteBuffer> fill) {
        return new HostTensor(shape, null, null, NativeFloats.filled(Shapes.numel(shape), fill));
    }

    /** This float constant off the Java heap (a copy), or this when it is already there, integer or empty. */
    public HostTensor offHeap() {
        if (f == null || f.length == 0) return this;
        return offHeapFloats(shape, b -> b.asFloatBuffer().put(f));
    }

    /** True when the values live off the Java heap. */
    public boolean isOffHeap() {
        return nf != null;
    }

    /** The off-heap values, for a model's holds and the CPU backend (null on the heap). */
    NativeFloats nativeFloats() {
        return nf;
    }

    public static HostTensor scalar(long v) {
        return ofLongs(new long[] {v});
    }

    /** Checks a size before a folding op allocates it. */
    public static int checkedNumel(String what, long... shape) {
        long n = Shapes.numel(shape);
        if (n > MAX_FOLD_NUMEL)
            throw new SalientException(what + ": constant of shape " + Arrays.toString(shape)
                    + " exceeds the folding budget of " + MAX_FOLD_NUMEL + " elements");
        return (int) n;
    }

    public boolean isFloat() {
        return l == null;
    }

    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public int numel() {
        return f != null ? f.length : l != null ? l.length : (int) nf.count();
    }

    /**
     * The values as float (integers converted). Off-heap values are copied into a new array on
     * each call: read them through {@link #floatBuffer()} where a view will do.
     */
    public float[] floats() {
        if (f != null) return f;
        if (nf != null) {
            float[] out = new float[numel()];
            nf.values().get(out);
            return out;
        }
        float[] out = new float[l.length];
        for (int i = 0; i < l.length; i++) out[i] = l[i];
        return out;
    }

    /** A read-only view of the float values (off-heap values are not copied); integers converted. */
    public java.nio.FloatBuffer floatBuffer() {
        if (nf != null) return nf.values();
        return java.nio.FloatBuffer.wrap(floats()).asReadOnlyBuffer();
    }

    /** The values as long (floats truncated toward zero, as Cast does). */
    public long[] longs() {
        if (l != null) return l;
        float[] v = floats();
        long[] out = new long[v.length];
        for (int i = 0; i < v.length; i++) out[i] = (long) v[i];
        return out;
    }

    public double get(int i) {
        if (nf != null) {
            java.nio.FloatBuffer b = nf.values();
            if (i < 0 || i >= b.limit()) throw new IndexOutOfBoundsException("index " + i + " of " + b.limit());
            return b.get(i);
        }
        return f != null ? f[i] : l[i];
    }

    /** Same data, new shape (numel must match). */
    public HostTensor reshape(long... newShape) {
        return new HostTensor(newShape, f, l, nf);
    }

    /** A new tensor of the same kind as this one, filled by index mapping: out[i] = this[src[i]]. */
    public HostTensor gather(int[] src, long... newShape) {
        if (l == null) {
            float[] v = floats();
            float[] o = new float[src.length];
            for (int i = 0; i < src.length; i++) o[i] = v[src[i]];
            return ofFloats(o, newShape);
        }
        long[] o = new long[src.length];
        for (int i = 0; i < src.length; i++) o[i] = l[src[i]];
        return ofLongs(o, newShape);
    }

    @Override
    public String toString() {
        return (l == null ? "float" : "int") + Arrays.toString(shape);
    }
}
