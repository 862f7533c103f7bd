package dev.salient.metrics.randomisation;

/** The package-private parts of {@link Similarity}, for tests in other packages. */
public final class SimilarityAccess {
    private SimilarityAccess() {}

    public static double[] ranks(double[] v) {
        return Similarity.ranks(v);
    }

    public static double[] ranksBoxed(double[] v) {
        return Similarity.ranksBoxed(v);
    }

    public static double[] box(double[] v, int h, int w) {
        return Similarity.box(v, h, w);
    }
}
