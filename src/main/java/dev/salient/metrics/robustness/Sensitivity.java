package dev.salient.metrics.robustness;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.Target;

/**
 * Captum's sensitivity-max (Yeh et al., NeurIPS 2019; Captum 0.8.0 metrics/_core/sensitivity.py):
 * n perturbed inputs x + U(−r, r) (r = 0.02, n = 10), each explained again by the same method
 * for the same target, and SENS = max_j ‖e(x_j) − e(x)‖_F / ‖e(x)‖_F (denominator 1 when
 * ‖e(x)‖ = 0). The uniform draws are Φ(z) of the backend's Philox normals z (seeded; offsets a
 * function of the image index), mapped to (−r, r), or a test's draws; the n perturbed inputs
 * are explained as one batch through the method's driver.
 */
public final class Sensitivity {
    private Sensitivity() {}

    /** Uniform draws in (0,1) (n·C·H·W) for one image. */
    public static float[] draws(Backend b, long seed, int image, int n, long perImage) {
        float[] z = Infidelity.draws(b, seed, image, n, perImage);
        for (int i = 0; i < z.length; i++) z[i] = (float) phi(z[i]);
        return z;
    }

    /** The standard normal CDF (Φ(z) = erfc(−z/√2)/2), to double precision. */
    static double phi(double z) {
        return 0.5 * erfc(-z / Math.sqrt(2));
    }

    /** erfc by its continued-fraction-free Chebyshev fit (Numerical Recipes erfcc, relative error < 1.2e-7). */
    static double erfc(double x) {
        double z = Math.abs(x), t = 1 / (1 + 0.5 * z);
        double r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
                + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }

    /**
     * SENS of one image x (1,C,H,W) whose explanation is {@code e} (the method's raw values),
     * given uniform draws u in (0,1) (n·C·H·W).
     */
    public static double evaluate(Backend b, Explainer ex, Tensor x, float[] e, int target, float[] u, int n,
            double radius) {
        int c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3);
        float[] delta = new float[u.length];
        for (int i = 0; i < u.length; i++) delta[i] = (float) (radius * (2 * u[i] - 1));
        Attribution a;
        try (Tensor dt = b.upload(delta, n, c, h, w); Tensor px = b.allocate(n, c, h, w)) {
            b.binary(BinaryOp.ADD, x, dt, px);
            int[] t = new int[n];
            java.util.Arrays.fill(t, target);
            a = ex.explain(b, px, Target.perImage(t));
        }
        double en = 0;
        for (float v : e) en += (double) v * v;
        en = Math.sqrt(en);
        double worst = 0;
        for (int j = 0; j < n; j++) {
            float[] r = a.row(j);
            double d = 0;
            for (int i = 0; i < e.length; i++) d += ((double) r[i] - e[i]) * ((double) r[i] - e[i]);
            worst = Math.max(worst, Math.sqrt(d) / (en > 0 ? en : 1));
        }
        return worst;
    }
}
