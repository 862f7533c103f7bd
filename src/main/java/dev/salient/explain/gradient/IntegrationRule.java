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
 * Every rule needs at least 2 steps.
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

    private static void checkSteps(int n) {
        if (n < 2) throw new SalientException("integration needs at least 2 steps, got " + n);
        if (n > 100_000) throw new SalientException("integration steps " + n + " exceed the limit of 100000");
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

    /**
     * Gauss-Legendre nodes (ascending) and weights on [-1,1], by Newton iteration on
     * the Legendre recurrence, as numpy.polynomial.legendre.leggauss returns them.
     */
    static double[][] gaussLegendre(int n) {
        double[] x = new double[n], w = new double[n];
        for (int i = 0; i < (n + 1) / 2; i++) {
            double z = Math.cos(Math.PI * (i + 0.75) / (n + 0.5));
            double dp = 0;
            for (int it = 0; it < 100; it++) {
                double p0 = 1, p1 = 0;
                for (int j = 1; j <= n; j++) {
                    double p2 = p1;
                    p1 = p0;
                    p0 = ((2.0 * j - 1) * z * p1 - (j - 1.0) * p2) / j;
                }
                dp = n * (z * p0 - p1) / (z * z - 1);
                double dz = p0 / dp;
                z -= dz;
                if (Math.abs(dz) < 1e-15) break;
            }
            // recompute derivative at the converged root
            double p0 = 1, p1 = 0;
            for (int j = 1; j <= n; j++) {
                double p2 = p1;
                p1 = p0;
                p0 = ((2.0 * j - 1) * z * p1 - (j - 1.0) * p2) / j;
            }
            dp = n * (z * p0 - p1) / (z * z - 1);
            x[i] = -z;
            x[n - 1 - i] = z;
            w[i] = w[n - 1 - i] = 2 / ((1 - z * z) * dp * dp);
        }
        return new double[][] {x, w};
    }
}
