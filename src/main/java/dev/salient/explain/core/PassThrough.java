package dev.salient.explain.core;

/**
 * A backward rule whose input gradient is its output gradient, element for element (LRP's
 * Pass on activations): the tape hands the output gradient on to the input instead of
 * calling the rule to copy it, when nothing else holds either. It reads no forward value, so
 * the tape keeps none for it.
 */
@FunctionalInterface
public interface PassThrough extends BackwardRule {
    /** The input gradient is the output gradient: no forward value is read. */
    @Override
    default boolean readsInputs() {
        return false;
    }

    @Override
    default boolean readsOutputs() {
        return false;
    }
}
