package dev.salient.explain.core;

/**
 * A backward rule whose input gradient is its output gradient, element for element (LRP's
 * Pass on activations): the tape hands the output gradient on to the input instead of
 * calling the rule to copy it, when nothing else holds either.
 */
@FunctionalInterface
public interface PassThrough extends BackwardRule {}
