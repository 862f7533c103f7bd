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

    /**
     * Whether the rule reads the forward values of its op's data inputs ({@code in}). A tape keeps
     * a value only when a rule that will walk it reads it; a rule that does not gets null, or the
     * value when another rule made the tape keep it.
     */
    default boolean readsInputs() {
        return true;
    }

    /**
     * Whether the rule reads its op's outputs ({@code out}). Where no rule reads an output, the
     * tape does not keep it, and the forward may run the op with its successor fused (a Conv and
     * its Relu) without writing it at all.
     */
    default boolean readsOutputs() {
        return true;
    }

    /** {@code rule}, declared not to read its op's outputs ({@link #readsOutputs}). */
    static BackwardRule inputsOnly(BackwardRule rule) {
        return new BackwardRule() {
            @Override
            public void apply(Op op, Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
                rule.apply(op, b, in, out, dOut, dIn);
            }

            @Override
            public boolean readsInputs() {
                return rule.readsInputs();
            }

            @Override
            public boolean readsOutputs() {
                return false;
            }
        };
    }
}
