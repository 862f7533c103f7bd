package dev.salient.explain.core;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;

/**
 * The mask-scoring loop shared by the forward-only methods that score masked copies of an
 * image (Score-CAM's channel masks, occlusion and feature-ablation windows, coalitions): the
 * copies are masked blends {@code base + m ⊙ (x − base)} written into the driver's evaluation
 * rows, and the target logit of every evaluated row is kept per image in a small tensor on the
 * backend, (images, E), column e for evaluation e.
 */
public final class Scorer {
    private Scorer() {}

    /** The masks of evaluations [s0, s0+count) of one image: (count, dm) on the backend, closed by the caller. */
    @FunctionalInterface
    public interface Masks {
        Tensor of(Backend b, int image, int s0, int count);
    }

    /**
     * Writes the masked copies of evaluations [s0, s0+count) of the chunk's images x (images, ...)
     * into {@code points} (count·images, ...), row s·images + i for evaluation s0 + s of image i.
     * {@code base} has x's shape or one row for all images. With {@code shared} masks every image
     * takes the masks of image 0 and the whole chunk is one blend; otherwise each image is blended
     * with its own masks.
     */
    public static void blend(Backend b, Tensor x, Tensor base, boolean shared, Masks masks, int s0, int count,
            Tensor points) {
        int n = (int) x.dim(0);
        if (shared || n == 1) {
            try (Tensor m = masks.of(b, 0, s0, count)) {
                b.maskedBlend(x, base, m, points);
            }
            return;
        }
        long row = x.numel() / n;
        boolean oneBase = base.dim(0) == 1;
        for (int i = 0; i < n; i++) {
            try (Tensor xi = Driver.rows(b, x, i, 1); Tensor bi = oneBase ? null : Driver.rows(b, base, i, 1);
                    Tensor m = masks.of(b, i, s0, count); Tensor y = b.allocate(Driver.withRows(x.shape(), count))) {
                b.maskedBlend(xi, oneBase ? base : bi, m, y);
                for (int s = 0; s < count; s++) b.copyRange(y, s * row, points, ((long) s * n + i) * row, row);
            }
        }
    }

    /**
     * Keeps the raw logit of {@code classes[s·images + i]} of evaluated row s·images + i, for s in
     * [0, count), at column s0 + s of row i of {@code acc} (images, columns), which it allocates
     * (zeros) when null, and returns it.
     */
    public static Tensor store(Backend b, Tape tape, int[] classes, int s0, int count, int images, int columns,
            Tensor acc) {
        Tensor a = acc != null ? acc : b.zeros(images, columns);
        float[] logits = tape.logits().toArray();
        int nc = (int) tape.logits().dim(1);
        int e = (int) a.dim(1);
        float[] host = a.toArray();
        for (int s = 0; s < count; s++)
            for (int i = 0; i < images; i++) {
                int r = s * images + i;
                host[i * e + s0 + s] = logits[r * nc + classes[r]];
            }
        try (Tensor t = b.upload(host, a.shape())) {
            b.copy(t, a);
        }
        return a;
    }

    /** The target logits of evaluations [s0, s0+count) of one image (a host array, row-major (count)). */
    public static float[] of(Tape tape, int[] classes, int count, int images, int image) {
        float[] logits = tape.logits().toArray();
        int nc = (int) tape.logits().dim(1);
        float[] out = new float[count];
        for (int s = 0; s < count; s++) {
            int r = s * images + image;
            out[s] = logits[r * nc + classes[r]];
        }
        return out;
    }
}
