package dev.salient.explain;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Pool2dGeometry;
import dev.salient.engine.Tensor;

/**
 * Min-max normalisation of every (h,w) plane of an (N,C,h,w) tensor, as pytorch-grad-cam's
 * scale_cam_image: m = (m − min) / (1e-7 + max(m − min)), one pass (not scale-invariant:
 * the 1e-7 matters for planes of tiny range, as it does there). Composed from primitives:
 * the plane max and min are global max pools of m and −m.
 */
final class PlaneMinMax {
    private PlaneMinMax() {}

    /** Normalises m (N,C,h,w) in place. */
    static void apply(Backend b, Tensor m) {
        int n = (int) m.dim(0), c = (int) m.dim(1), h = (int) m.dim(2), w = (int) m.dim(3);
        Pool2dGeometry g = Pool2dGeometry.global(n, c, h, w);
        try (Tensor max = b.allocate(n, c, 1, 1); Tensor negMin = b.allocate(n, c, 1, 1); Tensor neg = b.zeros(m.shape());
                Tensor eps = b.upload(new float[] {1e-7f}, 1)) {
            b.maxPool2dForward(m, max, g);
            b.axpby(-1f, m, 0f, neg);
            b.maxPool2dForward(neg, negMin, g);
            b.binary(BinaryOp.ADD, m, negMin, m);          // m - min
            b.binary(BinaryOp.ADD, max, negMin, max);      // max - min
            b.binary(BinaryOp.ADD, max, eps, max);         // 1e-7 + (max - min)
            b.binary(BinaryOp.DIV, m, max, m);
        }
    }
}
