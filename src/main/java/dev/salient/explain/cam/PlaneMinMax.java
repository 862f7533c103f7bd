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
        rows(b, TensorViews.reshaped(m, m.dim(0) * m.dim(1), m.dim(2) * m.dim(3)), 1e-7f);
    }

    /**
     * Normalises every row of m (R,L) in place: (m − min) / (eps + (max − min)), as Score-CAM's
     * masks (eps 1e-8, pytorch-grad-cam and torch-cam) and the CAM finish (eps 1e-7).
     */
    static void rows(Backend b, Tensor m, float eps) {
        long r = m.dim(0);
        try (Tensor max = b.allocate(r, 1); Tensor min = b.allocate(r, 1); Tensor e = b.upload(new float[] {eps}, 1, 1)) {
            b.reduceRows(Reduction.MAX, m, TensorViews.reshaped(max, r));
            b.reduceRows(Reduction.MIN, m, TensorViews.reshaped(min, r));
            b.binary(BinaryOp.SUB, m, min, m);            // m - min
            b.binary(BinaryOp.SUB, max, min, max);        // max - min
            b.binary(BinaryOp.ADD, max, e, max);          // eps + (max - min)
            b.binary(BinaryOp.DIV, m, max, m);
        }
    }
}
