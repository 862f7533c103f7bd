package dev.salient.model.ops;

import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import java.util.Arrays;

/**
 * Reshaped views of backend memory. A view shares its owner's memory and must
 * never be closed: only the owner frees it. Used for 1-D convolutions seen as
 * 2-D, legacy broadcasting and the executor's buffer pool.
 */
public final class TensorViews {
    private TensorViews() {}

    public static Tensor view(Tensor owner, long... shape) {
        long n = Shapes.numel(shape);
        if (n > owner.numel())
            throw new SalientException("view " + Arrays.toString(shape) + " larger than " + owner);
        if (Arrays.equals(owner.shape(), shape)) return owner;
        return new Tensor(owner.backend(), owner.data(), shape);
    }

    /** A view of {@code owner}'s memory from element {@code offset} on (the executor's arena). */
    public static Tensor viewAt(Tensor owner, long offset, long... shape) {
        if (offset == 0) return view(owner, shape);
        long n = Shapes.numel(shape);
        if (offset < 0 || n > owner.numel() - offset)
            throw new SalientException("view " + Arrays.toString(shape) + " at " + offset + " outside " + owner);
        return new Tensor(owner.backend(), owner.data().getPointer(offset), shape);
    }
}
