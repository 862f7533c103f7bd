package dev.salient.io;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import java.util.Arrays;
import java.util.List;

/**
 * A float32 array on the Java heap in row-major (C) order: what {@link Npy}
 * reads and writes and what {@link Images} decodes into, before it is uploaded
 * to a {@link Backend}. Immutable shape; the data array is shared, not copied.
 */
public record NdArray(long[] shape, float[] data) {

    public NdArray {
        shape = shape.clone();
        long n = Shapes.numel(shape);
        if (n != data.length)
            throw new SalientException(data.length + " values do not fill shape " + Arrays.toString(shape));
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int axis) {
        return shape[axis < 0 ? axis + shape.length : axis];
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Rows {@code [from, to)} of the first axis, copied. */
    public NdArray sliceFirst(long from, long to) {
        if (shape.length == 0 || from < 0 || to > shape[0] || from > to)
            throw new SalientException("slice [" + from + ", " + to + ") outside shape " + Arrays.toString(shape));
        int row = (int) (data.length / Math.max(1, shape[0]));
        long[] s = shape.clone();
        s[0] = to - from;
        return new NdArray(s, Arrays.copyOfRange(data, (int) from * row, (int) to * row));
    }

    /** Concatenates arrays along the first axis; the other dims must agree. */
    public static NdArray concatFirst(List<NdArray> parts) {
        if (parts.isEmpty()) throw new SalientException("nothing to concatenate");
        long[] s = parts.get(0).shape;
        long rows = 0;
        long total = 0;
        for (NdArray p : parts) {
            if (p.shape.length != s.length || !Arrays.equals(p.shape, 1, s.length, s, 1, s.length))
                throw new SalientException("cannot stack shapes " + Arrays.toString(s) + " and " + Arrays.toString(p.shape));
            rows += p.shape[0];
            total += p.data.length;
        }
        if (total > Integer.MAX_VALUE - 8) throw new SalientException("batch of " + total + " values is too large");
        float[] out = new float[(int) total];
        int at = 0;
        for (NdArray p : parts) {
            System.arraycopy(p.data, 0, out, at, p.data.length);
            at += p.data.length;
        }
        long[] shape = s.clone();
        shape[0] = rows;
        return new NdArray(shape, out);
    }

    /** Index of the first NaN or infinite value, or -1. */
    public int firstNonFinite() {
        for (int i = 0; i < data.length; i++) if (!Float.isFinite(data[i])) return i;
        return -1;
    }

    /** Uploads to a new tensor of the backend; the caller owns it. */
    public Tensor upload(Backend backend) {
        return backend.upload(data, shape);
    }

    /** Downloads a tensor into a heap array. */
    public static NdArray of(Tensor t) {
        return new NdArray(t.shape(), t.toArray());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NdArray a && Arrays.equals(shape, a.shape) && Arrays.equals(data, a.data);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(shape) + Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return "NdArray" + Arrays.toString(shape);
    }
}
