package dev.salient.metrics.robustness;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Reduction;
import dev.salient.engine.Tensor;
import dev.salient.metrics.MapView;
import dev.salient.metrics.Scorer;

/**
 * Captum's infidelity (Yeh et al., NeurIPS 2019; Captum 0.8.0 metrics/_core/infidelity.py)
 * with the Gaussian perturbation of Captum's tutorial: I_j ~ N(0, σ²) on every input element
 * (σ = 0.003), the perturbed input x − I_j, and
 * INFD = (1/n) Σ_j (Σ a·I_j − (f(x) − f(x − I_j)))², n perturbations (10). f is the target's
 * raw logit, the quantity the attribution explains. A CAM-shaped map (H,W) is broadcast over
 * the channels. With {@code normalize}, β = E[a·b]/E[a²] scales the attribution term first
 * (Captum's {@code normalize=True}). The perturbations come from the backend's Philox stream
 * (seeded; offsets a function of the image index) or from a test's draws; the perturbed
 * inputs, products and sums run on the backend, the forwards in chunks under the budget.
 */
public final class Infidelity {
    private Infidelity() {}

    /** Standard normal draws (n, C, H, W) for one image: a function of seed and image index. */
    public static float[] draws(Backend b, long seed, int image, int n, long perImage) {
        try (Tensor t = b.allocate((long) n * perImage)) {
            b.randomNormal(seed, (long) image * n * perImage, t);
            return t.toArray();
        }
    }

    /** The infidelity of one image x (1,C,H,W) given the standard normal draws z (n·C·H·W). */
    public static double evaluate(Scorer s, Tensor x, MapView map, int target, float[] z, int n, double sigma,
            boolean normalize) {
        Backend b = s.backend();
        int c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3);
        long d = (long) c * h * w;
        float[] noise = new float[z.length];
        for (int i = 0; i < z.length; i++) noise[i] = (float) (sigma * z[i]);
        float[] dot, fx, fp;
        try (Tensor it = b.upload(noise, n, c, h, w); Tensor pert = b.allocate(n, c, h, w);
                Tensor a = map.channels() == c ? b.upload(map.raw(), 1, c, h, w) : b.upload(map.pixels(), 1, 1, h, w);
                Tensor prod = b.allocate(n, c, h, w); Tensor sums = b.allocate(n)) {
            b.binary(BinaryOp.SUB, x, it, pert);
            b.binary(BinaryOp.MUL, a, it, prod);
            b.reduceRows(Reduction.SUM, prod, sums);
            dot = sums.toArray();
            int[] t = new int[n];
            java.util.Arrays.fill(t, target);
            fp = s.scores(pert, t, Scorer.Type.LOGIT);
            fx = s.scores(x, new int[] {target}, Scorer.Type.LOGIT);
        }
        double[] ai = new double[n], bi = new double[n];
        for (int j = 0; j < n; j++) {
            ai[j] = dot[j];
            bi[j] = (double) fx[0] - fp[j];
        }
        double beta = 1;
        if (normalize) {
            double ab = 0, aa = 0;
            for (int j = 0; j < n; j++) {
                ab += ai[j] * bi[j];
                aa += ai[j] * ai[j];
            }
            beta = aa > 0 ? ab / aa : 0;
        }
        double infd = 0;
        for (int j = 0; j < n; j++) infd += (beta * ai[j] - bi[j]) * (beta * ai[j] - bi[j]);
        return infd / n;
    }
}
