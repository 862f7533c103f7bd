package dev.salient.explain.relevance;

import dev.salient.explain.Attribution;

/**
 * DeepLIFT's summation to delta (Shrikumar et al. 2017, eq. 1): each row's attributions
 * sum to the target's change y_t(x) − y_t(x'), the reference's logits being per image
 * (DeepLift) or the mean over the baselines (DeepLiftShap).
 */
final class Summation {
    private Summation() {}

    /** {@code a} with its deltas Σ attr − (score − y_t(x')) per row; {@code ref} holds the reference logits per image. */
    static Attribution withDeltas(Attribution a, float[] ref, int n) {
        int nc = ref.length / n;
        float[] deltas = new float[a.rows()];
        for (int r = 0; r < a.rows(); r++)
            deltas[r] = (float) (sum(a.row(r)) - ((double) a.scores()[r] - ref[a.images()[r] * nc + a.targets()[r]]));
        return new Attribution(a.values(), a.shape(), a.layout(), a.images(), a.targets(), a.scores(), deltas);
    }

    /**
     * Null when every row sums to y_t(x) − y_t(x') within {@code rtol}·(|y_t(x)| + |y_t(x')|),
     * else the first row that does not; logits per image, (n, classes).
     */
    static String check(Attribution a, float[] fx, float[] fref, int n, double rtol) {
        int nc = fx.length / n;
        for (int r = 0; r < a.rows(); r++) {
            int i = a.images()[r], c = a.targets()[r];
            double want = (double) fx[i * nc + c] - fref[i * nc + c], s = sum(a.row(r));
            double tol = rtol * (Math.abs(fx[i * nc + c]) + Math.abs(fref[i * nc + c])) + 1e-6;
            if (Math.abs(s - want) > tol)
                return "row " + r + ": attributions sum to " + s + ", y_t(x) - y_t(x') = " + want;
        }
        return null;
    }

    private static double sum(float[] v) {
        double s = 0;
        for (float x : v) s += x;
        return s;
    }
}
