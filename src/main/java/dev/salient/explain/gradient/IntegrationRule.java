package dev.salient.explain.gradient;

import dev.salient.engine.SalientException;

/**
 * The integration rules of Integrated Gradients, exactly as Captum defines them.
 * {@link #alphas(int)} are the interpolation points on [0,1] and
 * {@link #weights(int)} the step sizes that multiply the gradient at each point.
 * <ul>
 *   <li>{@code gausslegendre} (default): Gauss-Legendre nodes and weights mapped from [-1,1] to [0,1];
 *   <li>{@code riemann_left}, {@code riemann_right}, {@code riemann_middle}: step 1/n;
 *   <li>{@code riemann_trapezoid}: points linspace(0,1,n), steps 1/n halved at both ends (Captum's rule).
 * </ul>
 * Every rule needs at least 2 steps and at most {@link #MAX_STEPS}.
 */
public enum IntegrationRule {
    GAUSS_LEGENDRE("gausslegendre"),
    RIEMANN_LEFT("riemann_left"),
    RIEMANN_RIGHT("riemann_right"),
    RIEMANN_MIDDLE("riemann_middle"),
    RIEMANN_TRAPEZOID("riemann_trapezoid");

    public final String id;

    IntegrationRule(String id) {
        this.id = id;
    }

    public static IntegrationRule parse(String s) {
        for (IntegrationRule r : values()) if (r.id.equals(s) || r.name().equalsIgnoreCase(s)) return r;
        throw new SalientException("unknown integration rule '" + s
                + "' (use gausslegendre, riemann_left, riemann_right, riemann_middle or riemann_trapezoid)");
    }

    /**
     * Most integration steps: every step is a forward and backward pass per image, and
     * Gauss-Legendre nodes cost O(n) each (all 10000 in about a second on one core).
     */
    public static final int MAX_STEPS = 10_000;

    private static void checkSteps(int n) {
        if (n < 2) throw new SalientException("integration needs at least 2 steps, got " + n);
        if (n > MAX_STEPS) throw new SalientException("--steps " + n + " is over the maximum of " + MAX_STEPS + " integration steps");
    }

    public double[] alphas(int n) {
        checkSteps(n);
        double[] a = new double[n];
        switch (this) {
            case GAUSS_LEGENDRE -> {
                double[] x = gaussLegendre(n)[0];
                for (int i = 0; i < n; i++) a[i] = 0.5 * (x[i] + 1);
            }
            case RIEMANN_LEFT -> linspace(a, 0, 1 - 1.0 / n);
            case RIEMANN_RIGHT -> linspace(a, 1.0 / n, 1);
            case RIEMANN_MIDDLE -> linspace(a, 1.0 / (2 * n), 1 - 1.0 / (2 * n));
            case RIEMANN_TRAPEZOID -> linspace(a, 0, 1);
        }
        return a;
    }

    public double[] weights(int n) {
        checkSteps(n);
        double[] w = new double[n];
        if (this == GAUSS_LEGENDRE) {
            double[] gw = gaussLegendre(n)[1];
            for (int i = 0; i < n; i++) w[i] = 0.5 * gw[i];
        } else {
            java.util.Arrays.fill(w, 1.0 / n);
            if (this == RIEMANN_TRAPEZOID) {
                w[0] /= 2;
                w[n - 1] /= 2;
            }
        }
        return w;
    }

    private static void linspace(double[] a, double lo, double hi) {
        int n = a.length;
        for (int i = 0; i < n; i++) a[i] = n == 1 ? lo : lo + (hi - lo) * i / (n - 1);
    }

    private static volatile double[][] lastGaussLegendre; // alphas and weights of one run ask for the same n

    /**
     * Gauss-Legendre nodes (ascending) and weights on [-1,1], as
     * numpy.polynomial.legendre.leggauss returns them: Newton iteration on the
     * three-term Legendre recurrence (O(n) per evaluation) from Tricomi's
     * asymptotic initial guess, which converges in 2-4 steps for every n.
     */
    static double[][] gaussLegendre(int n) {
        double[][] last = lastGaussLegendre;
        if (last != null && last[0].length == n) return new double[][] {last[0].clone(), last[1].clone()};
        double[] x = new double[n], w = new double[n];
        double corr = 1 - 1.0 / (8.0 * n * n) + 1.0 / (8.0 * n * n * n);
        // recurrence coefficients P_j = a_j z P_{j-1} - b_j P_{j-2}: no division in the O(n) loop
        double[] ca = new double[n + 1], cb = new double[n + 1];
        for (int j = 1; j <= n; j++) {
            ca[j] = (2.0 * j - 1) / j;
            cb[j] = (j - 1.0) / j;
        }
        for (int i = 0; i < (n + 1) / 2; i++) {
            // Tricomi: the i-th largest root ~ (1 - 1/(8n^2) + 1/(8n^3)) cos(pi (4i+3) / (4n+2))
            double z = corr * Math.cos(Math.PI * (i + 0.75) / (n + 0.5));
            double prev = Double.POSITIVE_INFINITY;
            for (int it = 0; it < 50; it++) {
                double[] pd = legendre(n, z, ca, cb);
                double dz = pd[0] / pd[1];
                z -= dz;
                // converged once a step is at rounding level or no longer shrinks
                if (Math.abs(dz) <= 4 * Math.ulp(1.0) || Math.abs(dz) >= prev) break;
                prev = Math.abs(dz);
            }
            double dp = legendre(n, z, ca, cb)[1];
            x[i] = -z;
            x[n - 1 - i] = z;
            w[i] = w[n - 1 - i] = 2 / ((1 - z * z) * dp * dp);
        }
        lastGaussLegendre = new double[][] {x.clone(), w.clone()};
        return new double[][] {x, w};
    }

    /** P_n(z) and P_n'(z) by the recurrence j P_j = (2j-1) z P_{j-1} - (j-1) P_{j-2}. */
    private static double[] legendre(int n, double z, double[] ca, double[] cb) {
        double p0 = 1, p1 = 0;
        for (int j = 1; j <= n; j++) {
            double p2 = p1;
            p1 = p0;
            p0 = ca[j] * z * p1 - cb[j] * p2;
        }
        return new double[] {p0, n * (z * p0 - p1) / (z * z - 1)};
    }
}
