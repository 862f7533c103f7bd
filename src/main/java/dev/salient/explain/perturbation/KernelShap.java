package dev.salient.explain.perturbation;

import dev.salient.engine.Backend;
import dev.salient.engine.HostLinalg;
import dev.salient.engine.SalientException;
import dev.salient.explain.Attribution;
import dev.salient.explain.Baseline;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.gradient.IntegratedGradients;
import dev.salient.model.Model;
import java.util.List;

/**
 * KernelSHAP (Lundberg and Lee 2017) as Captum's KernelShap over the segments: evaluation 0
 * keeps every segment and evaluation 1 none, both with weight 10^6; each further sample draws
 * its size k ∈ [1, M−1] with probability ∝ (M−1)/(k(M−k)) (the Shapley kernel summed over the
 * coalitions of size k) and keeps the k segments with the largest of M normals, weight 1; the
 * segment values are the coefficients of a weighted linear regression with intercept
 * (scikit-learn's LinearRegression, through LAPACK). When {@code --samples} ≥ 2^M − 2, every
 * coalition is evaluated once instead, weighted by the exact kernel (M−1)/(C(M,k)·k·(M−k)),
 * and the result equals the exact Shapley values. Sample s of image i reads M+1 normals of the
 * seeded stream (see {@link Coalitions}). Output (rows, C, H, W).
 * <pre>{@code
 * Attribution a = new KernelShap(model, Segments.parse("slic"), Baseline.zeros(), 200, 0L)
 *         .explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class KernelShap extends Coalitions {
    public static final MethodOption<Integer> SAMPLES = MethodOption.SAMPLES;
    public static final int DEFAULT_SAMPLES = 200;

    public static final MethodSpec SPEC = new MethodSpec("kernelshap", MethodSpec.Family.PERTURBATION,
            Attribution.Layout.INPUT,
            "Captum KernelShap over `--segments`: all-on/all-off (weight 1e6) + Shapley-kernel sampled coalitions, "
                    + "weighted least squares; every coalition with its exact weight when `--samples` >= 2^M-2",
            List.of(Segments.OPTION, IntegratedGradients.BASELINE, SAMPLES, MethodOption.SEED), KernelShap::new,
            MethodSpec.NO_AXIOM);

    static final double ENDPOINT_WEIGHT = 1e6;

    private final int samples;

    public KernelShap(Model model, Segments segments, Baseline baseline, int samples, long seed) {
        super(model, segments, baseline, seed);
        if (samples < 1) throw new SalientException("--samples must be at least 1, got " + samples);
        this.samples = samples;
    }

    public KernelShap(Model model, MethodOptions o) {
        this(model, Segments.parse(o.get(Segments.OPTION)), Baseline.parse(o.get(IntegratedGradients.BASELINE), 0L),
                MethodOption.samplesOr(o, DEFAULT_SAMPLES), o.get(MethodOption.SEED));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    public Explainer withSegments(Segments s, int first) {
        return copied(new KernelShap(model, s, baseline, samples, seed), first);
    }

    /** Whether M segments are enumerated (--samples ≥ 2^M − 2). */
    public boolean enumerates(int m) {
        return m <= 30 && samples >= (1L << m) - 2;
    }

    @Override
    protected int evaluations(int m) {
        return enumerates(m) ? 1 << m : samples;
    }

    @Override
    protected boolean sameDesignForEveryImage() {
        return false;
    }

    @Override
    protected float[] design(Backend b, int image, int m) {
        int e = evaluations(m);
        float[] d = new float[e * m];
        java.util.Arrays.fill(d, 0, m, 1f);   // evaluation 0: all on; evaluation 1 (if any): all off
        if (enumerates(m)) {
            for (int s = 1; s < (1 << m) - 1; s++)
                for (int j = 0; j < m; j++) d[(s + 1) * m + j] = (s >> j) & 1;
            return d;
        }
        if (e <= 2) return d;
        double[] cum = new double[m];   // cumulative size probabilities, k = 1..M-1
        for (int k = 1; k < m; k++) cum[k] = cum[k - 1] + (m - 1.0) / ((double) k * (m - k));
        int dd = m + 1;
        float[] z = normals(b, image, 2, e - 2, dd);
        for (int s = 2; s < e; s++) {
            int o = (s - 2) * dd;
            double u = Rise.phi(z[o]) * cum[m - 1];
            int k = 1;
            while (k < m - 1 && u >= cum[k]) k++;
            // the k segments with the largest normals (ties by index, as a stable sort)
            int[] order = Shapley.permutation(z, o + 1, m);
            for (int t = 0; t < k; t++) d[s * m + order[m - 1 - t]] = 1f;
        }
        return d;
    }

    @Override
    protected double[] solve(int m, float[] design, float[] y, Image image) {
        int e = y.length;
        double[] x = new double[e * m], yy = new double[e], w = new double[e];
        boolean en = enumerates(m);
        // kernel weights by size for enumeration: (M-1) / (C(M,k) k (M-k))
        double[] kw = new double[m + 1];
        double comb = 1;
        for (int k = 0; k <= m; k++) {
            kw[k] = k == 0 || k == m ? ENDPOINT_WEIGHT : (m - 1.0) / (comb * k * (m - k));
            comb = comb * (m - k) / (k + 1);
        }
        for (int s = 0; s < e; s++) {
            int size = 0;
            for (int j = 0; j < m; j++) {
                x[s * m + j] = design[s * m + j];
                size += design[s * m + j] != 0 ? 1 : 0;
            }
            yy[s] = y[s];
            w[s] = size == 0 || size == m ? ENDPOINT_WEIGHT : en ? kw[size] : 1.0;
        }
        return HostLinalg.weightedLeastSquares(x, yy, w, e, m).coef();
    }
}
