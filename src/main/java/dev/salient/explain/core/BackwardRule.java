package dev.salient.explain.core;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.model.ops.Op;

/**
 * A vector-Jacobian product for one op: writes dIn[i] (preallocated, overwritten)
 * for every non-null slot from the op's inputs, outputs and output gradients.
 * The default rule of every op is its own {@link Op#backward}; modified rules
 * (guided backprop, deconvnet, and later LRP or DeepLIFT) replace it per op type.
 */
@FunctionalInterface
public interface BackwardRule {
    void apply(Op op, Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn);
}
