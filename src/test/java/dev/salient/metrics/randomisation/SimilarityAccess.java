package dev.salient.metrics.randomisation;

/** The package-private parts of {@link Similarity}, for tests in other packages. */
public final class SimilarityAccess {
    private SimilarityAccess() {}

    public static double[] ranks(double[] v) {
        return Similarity.ranks(v);
    }

    /** The ranks by a boxed index sort with {@code Double.compare} (the plain definition). */
    public static double[] ranksBoxed(double[] v) {
        Integer[] idx = new Integer[v.length];
        for (int i = 0; i < v.length; i++) idx[i] = i;
        java.util.Arrays.sort(idx, (x, y) -> Double.compare(v[x], v[y]));
        int[] order = new int[v.length];
        for (int i = 0; i < v.length; i++) order[i] = idx[i];
        return Similarity.averageTies(v, order);
    }

    public static double[] box(double[] v, int h, int w) {
        return Similarity.box(v, h, w);
    }
}
