package dev.salient.explain.perturbation;

import dev.salient.explain.Explainer;

/**
 * A method whose features are {@link Segments}: the CLI resolves them per batch (SLIC on the
 * decoded pixels), runs the method on the resolved map and writes that map beside the output.
 */
public interface Segmented {
    /** The segments as the options gave them. */
    Segments segments();

    /**
     * The same method, with the same options and memory budget, over other segments, for a batch
     * whose first image is image {@code firstImage} of a longer run: seeded methods draw the
     * random numbers of image i of the batch as those of image firstImage + i, so a run's
     * results do not depend on how it is cut into batches.
     */
    Explainer withSegments(Segments segments, int firstImage);
}
