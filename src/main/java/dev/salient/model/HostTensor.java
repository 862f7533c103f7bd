package dev.salient.model;

import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import java.util.Arrays;

/**
 * A small constant tensor held on the Java heap: a weight read from the model,
 * or a value computed at load or plan time by constant folding (shape
 * subgraphs). Either float ({@link #floats()}) or integer ({@link #longs()});
 * integer ONNX types (int8..int64, bool) are all held as long. Immutable by
 * convention: never write into the arrays it returns.
 */
public final class HostTensor {
    /** Largest tensor that load/plan-time folding may create (elements). */
    public static final long MAX_FOLD_NUMEL = 1L << 24;

    private final long[] shape;
    private final float[] f;
    private final long[] l;

    private HostTensor(long[] shape, float[] f, long[] l) {
        this.shape = shape.clone();
        this.f = f;
        this.l = l;
        long n = Shapes.numel(shape);
        if ((f != null ? f.length : l.length) != n)
            throw new SalientException("constant of shape " + Arrays.toString(shape) + " holds "
                    + (f != null ? f.length : l.length) + " values");
    }

    public static HostTensor ofFloats(float[] data, long... shape) {
        return new HostTensor(shape, data, null);
    }

    public static HostTensor ofLongs(long[] data, long... shape) {
        return new HostTensor(shape, null, data);
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
        return f != null;
    }

    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public int numel() {
        return f != null ? f.length : l.length;
    }

    /** The values as float (integers converted). */
    public float[] floats() {
        if (f != null) return f;
        float[] out = new float[l.length];
        for (int i = 0; i < l.length; i++) out[i] = l[i];
        return out;
    }

    /** The values as long (floats truncated toward zero, as Cast does). */
    public long[] longs() {
        if (l != null) return l;
        long[] out = new long[f.length];
        for (int i = 0; i < f.length; i++) out[i] = (long) f[i];
        return out;
    }

    public double get(int i) {
        return f != null ? f[i] : l[i];
    }

    /** Same data, new shape (numel must match). */
    public HostTensor reshape(long... newShape) {
        return new HostTensor(newShape, f, l);
    }

    /** A new tensor of the same kind as this one, filled by index mapping: out[i] = this[src[i]]. */
    public HostTensor gather(int[] src, long... newShape) {
        if (f != null) {
            float[] o = new float[src.length];
            for (int i = 0; i < src.length; i++) o[i] = f[src[i]];
            return ofFloats(o, newShape);
        }
        long[] o = new long[src.length];
        for (int i = 0; i < src.length; i++) o[i] = l[src[i]];
        return ofLongs(o, newShape);
    }

    @Override
    public String toString() {
        return (f != null ? "float" : "int") + Arrays.toString(shape);
    }
}
