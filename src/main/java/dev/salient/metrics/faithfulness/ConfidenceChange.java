package dev.salient.metrics.faithfulness;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.metrics.MapView;
import dev.salient.metrics.Scorer;

/**
 * Average Drop and Increase in Confidence (Chattopadhay et al., Grad-CAM++, WACV 2018, §5.1),
 * with torch-cam's ClassificationMetric as the peer: O is the score of the image times the
 * explanation map, {@code x ⊙ map} (the map in [0,1] broadcast over channels; an input-shaped
 * map is first reduced to its pixel map and min-max normalised), Y the score of the image.
 * Average Drop is the mean of max(0, Y − O)/Y (a fraction; the paper prints it in %),
 * Increase in Confidence the fraction of images with O > Y. Scores are softmax probabilities
 * unless {@code --scores logits} (torch-cam's default, which divides by Y + 1e-7; here by Y).
 * Win% (the fraction of images on which a method's drop is the lowest of the methods compared,
 * ties counting for each) is computed across methods by the evaluation.
 */
public final class ConfidenceChange {
    private ConfidenceChange() {}

    /** {Y, O} for one image x (1,C,H,W) and one map. */
    public static float[] scores(Scorer s, Tensor x, MapView map, int target, Scorer.Type type) {
        Backend b = s.backend();
        int c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3);
        float[] m = map.unit();
        float[] out = new float[2];
        try (Tensor mt = b.upload(m, 1, h * w); Tensor zero = b.zeros(x.shape())) {
            float[] sc = s.scores(new long[] {c, h, w}, 2, target, type, (bb, s0, cnt, rows) -> {
                for (int i = 0; i < cnt; i++) {
                    int k = s0 + i;
                    if (k == 0) bb.copyRange(x, 0, rows, (long) i * c * h * w, (long) c * h * w);
                    else try (Tensor one = bb.allocate(1, c, h, w)) {
                        bb.maskedBlend(x, zero, mt, one);
                        bb.copyRange(one, 0, rows, (long) i * c * h * w, (long) c * h * w);
                    }
                }
            });
            out[0] = sc[0];
            out[1] = sc[1];
        }
        return out;
    }

    public static double drop(float y, float o) {
        return Math.max(0.0, (double) y - o) / y;
    }

    public static double increase(float y, float o) {
        return o > y ? 1.0 : 0.0;
    }
}
