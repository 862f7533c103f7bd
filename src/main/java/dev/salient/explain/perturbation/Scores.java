package dev.salient.explain.perturbation;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.explain.core.Tape;

/** The target logits of evaluated rows, kept per image in a small tensor on the backend. */
public final class Scores {
    private Scores() {}

    /**
     * The raw logit of {@code classes[s·images + i]} in row s·images + i of the tape's
     * logits, for s in [0, count): row i of {@code acc} (images, E) gets it at column s0 + s.
     */
    public static void store(Backend b, Tape tape, int[] classes, int s0, int count, int images, Tensor acc) {
        float[] logits = tape.logits().toArray();
        int nc = (int) tape.logits().dim(1);
        int e = (int) acc.dim(1);
        float[] a = acc.toArray();
        for (int s = 0; s < count; s++)
            for (int i = 0; i < images; i++) {
                int r = s * images + i;
                a[i * e + s0 + s] = logits[r * nc + classes[r]];
            }
        try (Tensor t = b.upload(a, acc.shape())) {
            b.copy(t, acc);
        }
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
