package dev.salient.visualize;

import dev.salient.engine.Tensor;

/**
 * How an image batch (N,C,H,W) is parametrised for optimisation: the free values and the
 * linear map from them to the image, with its adjoint. Image n's initial values are a
 * function of the seed and of its objective index alone, so a batch gives the same images
 * whatever its size.
 */
interface ImageParam extends AutoCloseable {
    /** The free values (owned by this object); Adam updates them in place. */
    Tensor values();

    /**
     * Fills values() with N(0, sd²) draws: image n takes elements
     * {@code [index[n]·per, (index[n]+1)·per)} of the seeded Philox stream.
     */
    void init(long seed, long[] index, float sd);

    /** y (N,C,H,W) = the image of values(). */
    void forward(Tensor y);

    /** dValues = the adjoint of forward applied to dy (N,C,H,W); dValues is overwritten. */
    void backward(Tensor dy, Tensor dValues);

    /** Shared init: per-image rows of Philox normals scaled by sd. */
    static void normalRows(Tensor v, long seed, long[] index, float sd) {
        var b = v.backend();
        long per = v.numel() / index.length;
        for (int n = 0; n < index.length; n++) {
            try (Tensor row = b.allocate(per)) {
                b.randomNormal(seed, index[n] * per, row);
                b.axpby(sd, row, 0f, row);
                b.copyRange(row, 0, v, n * per, per);
            }
        }
    }

    @Override
    void close();
}
