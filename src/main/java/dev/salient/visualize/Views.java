package dev.salient.visualize;

import dev.salient.engine.Tensor;
import dev.salient.engine.Shapes;
import dev.salient.engine.SalientException;

/** Reshaped views of a tensor's memory. A view is never closed: only its owner frees the memory. */
final class Views {
    private Views() {}

    static Tensor view(Tensor t, long... shape) {
        if (Shapes.numel(shape) != t.numel())
            throw new SalientException("view: " + t + " cannot be seen as " + Shapes.str(shape));
        return new Tensor(t.backend(), t.data(), shape);
    }
}
