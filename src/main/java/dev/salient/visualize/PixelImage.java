package dev.salient.visualize;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;

/** Lucent's {@code pixel_image}: the image is the values themselves (N,C,H,W). */
final class PixelImage implements ImageParam {
    private final Tensor values;

    PixelImage(Backend b, long n, long c, long h, long w) {
        values = b.zeros(n, c, h, w);
    }

    @Override
    public Tensor values() {
        return values;
    }

    @Override
    public void init(long seed, long[] index, float sd) {
        ImageParam.normalRows(values, seed, index, sd);
    }

    @Override
    public void forward(Tensor y) {
        values.backend().copy(values, y);
    }

    @Override
    public void backward(Tensor dy, Tensor dValues) {
        values.backend().copy(dy, dValues);
    }

    @Override
    public void close() {
        values.close();
    }
}
