package dev.salient.explain.cam;

import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;

/** Reshaped views of a tensor: same memory, another shape (as torch's {@code view}). */
final class TensorViews {
    private TensorViews() {}

    /**
     * A view of {@code t} with {@code shape} (same element count). The view shares t's
     * memory: never close it, and do not use it after t is closed.
     */
    static Tensor reshaped(Tensor t, long... shape) {
        if (Shapes.numel(shape) != t.numel())
            throw new SalientException("cannot view " + t + " as " + Shapes.str(shape));
        return new Tensor(t.backend(), t.data(), shape);
    }
}
