package dev.salient.engine;

import java.util.Arrays;
import org.bytedeco.javacpp.FloatPointer;

/**
 * A dense float32 tensor in row-major (NCHW for images) layout, living in the
 * memory of the {@link Backend} that allocated it: off-heap host memory for
 * {@code cpu}, device memory for {@code cuda}. Close it (or let the owner close
 * it) to free the memory; a closed tensor rejects further use.
 *
 * <p>Not thread-safe: a tensor is written by one thread at a time.
 */
public final class Tensor implements AutoCloseable {
    private final Backend backend;
    private final long[] shape;
    private final long numel;
    private final boolean borrowed;
    private final Object owner; // what a borrowed tensor's memory belongs to, kept reachable with it
    private FloatPointer data;

    /** Used by backends only: wraps memory the backend has allocated and will free. */
    public Tensor(Backend backend, FloatPointer data, long... shape) {
        this(backend, data, false, null, shape);
    }

    private Tensor(Backend backend, FloatPointer data, boolean borrowed, Object owner, long... shape) {
        this.backend = backend;
        this.shape = shape.clone();
        this.numel = Shapes.numel(shape);
        this.data = data;
        this.borrowed = borrowed;
        this.owner = owner;
    }

    /**
     * A tensor over memory that someone else owns and frees (a model's weights, read in place by
     * the CPU backend): {@link #close} only drops this tensor's reference, it never frees. The
     * tensor keeps {@code owner} reachable, so memory freed once its owner is unreachable outlives it.
     */
    public static Tensor borrowed(Backend backend, FloatPointer data, Object owner, long... shape) {
        return new Tensor(backend, data, true, owner, shape);
    }

    /** The owner of a borrowed tensor's memory (see {@link #borrowed}); null for a tensor that owns its memory. */
    public Object owner() {
        return owner;
    }

    public Backend backend() {
        return backend;
    }

    /** The shape; a fresh copy. */
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int axis) {
        int a = axis < 0 ? axis + shape.length : axis;
        if (a < 0 || a >= shape.length)
            throw new SalientException("axis " + axis + " is out of range for a tensor of shape " + Shapes.str(shape)
                    + (shape.length < 2 ? " (expected logits of shape (N, classes))" : ""));
        return shape[a];
    }

    public long numel() {
        return numel;
    }

    /** The raw pointer (host or device, per backend). Throws if closed. */
    public FloatPointer data() {
        if (data == null) throw new IllegalStateException("tensor " + Arrays.toString(shape) + " is closed");
        return data;
    }

    public boolean isClosed() {
        return data == null;
    }

    /** Copies the contents to a new Java array (downloads from the device if needed). */
    public float[] toArray() {
        return backend.download(this);
    }

    @Override
    public void close() {
        if (data != null) {
            if (!borrowed) backend.free(data);
            data = null;
        }
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape) + "@" + backend.name();
    }
}
