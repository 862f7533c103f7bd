package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Reduction;
import dev.salient.engine.Tensor;

/**
 * Min-max normalisation of every (h,w) plane of an (N,C,h,w) tensor, as pytorch-grad-cam's
 * scale_cam_image: m = (m − min) / (1e-7 + max(m − min)), one pass (not scale-invariant:
 * the 1e-7 matters for planes of tiny range, as it does there). Composed from the row
 * reductions and broadcast binary ops.
 */
final class PlaneMinMax {
    private PlaneMinMax() {}

    /** Normalises m (N,C,h,w) in place. */
    static void apply(Backend b, Tensor m) {
        long n = m.dim(0), c = m.dim(1), h = m.dim(2), w = m.dim(3);
        Tensor rows = TensorViews.reshaped(m, n * c, h * w);
        try (Tensor max = b.allocate(n, c, 1, 1); Tensor min = b.allocate(n, c, 1, 1);
                Tensor eps = b.upload(new float[] {1e-7f}, 1)) {
            b.reduceRows(Reduction.MAX, rows, TensorViews.reshaped(max, n * c));
            b.reduceRows(Reduction.MIN, rows, TensorViews.reshaped(min, n * c));
            b.binary(BinaryOp.SUB, m, min, m);            // m - min
            b.binary(BinaryOp.SUB, max, min, max);        // max - min
            b.binary(BinaryOp.ADD, max, eps, max);        // 1e-7 + (max - min)
            b.binary(BinaryOp.DIV, m, max, m);
        }
    }
}
