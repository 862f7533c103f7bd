package dev.salient.explain;

import dev.salient.engine.SalientException;
import java.util.Arrays;

/**
 * Which logit to explain, per image. The target is always the raw logit (never the
 * softmax). {@link #top1()} is the default.
 * <pre>{@code
 * Target.top1();                 // the predicted class of each image
 * Target.index(281);             // class 281 for every image
 * Target.perImage(3, 7, 7);      // one class per image
 * Target.topK(3);                // the 3 best classes: one map per (image, class)
 * }</pre>
 */
public final class Target {
    private enum Kind { TOP_K, INDEX, PER_IMAGE }

    private final Kind kind;
    private final int k;
    private final int[] classes;

    private Target(Kind kind, int k, int[] classes) {
        this.kind = kind;
        this.k = k;
        this.classes = classes;
    }

    public static Target top1() {
        return new Target(Kind.TOP_K, 1, null);
    }

    public static Target topK(int k) {
        if (k < 1) throw new SalientException("top-k target needs k >= 1, got " + k);
        return new Target(Kind.TOP_K, k, null);
    }

    public static Target index(int cls) {
        return new Target(Kind.INDEX, 1, new int[] {cls});
    }

    public static Target perImage(int... classes) {
        return new Target(Kind.PER_IMAGE, 1, classes.clone());
    }

    /** Parses the CLI form: "top1", "topK" (e.g. top3), "K" or "K1,K2,..." (one per image). */
    public static Target parse(String s) {
        String t = s.trim().toLowerCase();
        try {
            if (t.startsWith("top")) return topK(Integer.parseInt(t.substring(3)));
            if (t.contains(",")) return perImage(Arrays.stream(t.split(",")).mapToInt(v -> Integer.parseInt(v.trim())).toArray());
            return index(Integer.parseInt(t));
        } catch (NumberFormatException e) {
            throw new SalientException("bad target '" + s + "' (use top1, topK, a class index or indices K1,K2,...)");
        }
    }

    /** Maps per image. */
    public int mapsPerImage() {
        return kind == Kind.TOP_K ? k : 1;
    }

    /**
     * Resolves the classes against logits (n, classes): returns (n, mapsPerImage)
     * class indices, throwing SalientException for an out-of-range class.
     */
    public int[][] resolve(float[] logits, int n, int numClasses) {
        int[][] out = new int[n][];
        for (int i = 0; i < n; i++) {
            switch (kind) {
                case TOP_K -> {
                    if (k > numClasses) throw new SalientException("top-" + k + " target but the model has only " + numClasses + " classes");
                    out[i] = topK(logits, i * numClasses, numClasses, k);
                }
                case INDEX -> out[i] = new int[] {checkClass(classes[0], numClasses)};
                case PER_IMAGE -> {
                    if (classes.length != n)
                        throw new SalientException("got " + classes.length + " per-image targets for " + n + " images");
                    out[i] = new int[] {checkClass(classes[i], numClasses)};
                }
            }
        }
        return out;
    }

    private static int checkClass(int c, int numClasses) {
        if (c < 0 || c >= numClasses)
            throw new SalientException("target class " + c + " is out of range: the model has " + numClasses + " classes (0.." + (numClasses - 1) + ")");
        return c;
    }

    /** Indices of the k largest values, largest first; ties keep the lower index first. */
    static int[] topK(float[] v, int off, int len, int k) {
        int[] idx = new int[k];
        boolean[] used = new boolean[len];
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int c = 0; c < len; c++) {
                if (used[c]) continue;
                if (best < 0 || v[off + c] > v[off + best]) best = c;
            }
            used[best] = true;
            idx[j] = best;
        }
        return idx;
    }

    @Override
    public String toString() {
        return switch (kind) {
            case TOP_K -> "top" + k;
            case INDEX -> Integer.toString(classes[0]);
            case PER_IMAGE -> Arrays.toString(classes);
        };
    }
}
