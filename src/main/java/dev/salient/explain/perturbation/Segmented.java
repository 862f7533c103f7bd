package dev.salient.explain.perturbation;

import dev.salient.explain.Explainer;

/**
 * A method whose features are {@link Segments}: the CLI resolves them per batch (SLIC on the
 * decoded pixels), runs the method on the resolved map and writes that map beside the output.
 */
public interface Segmented {
    /** The segments as the options gave them. */
    Segments segments();

    /** The same method, with the same options and memory budget, over other segments. */
    Explainer withSegments(Segments segments);
}
