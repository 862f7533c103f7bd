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
 * LIME (Ribeiro et al. 2016) as Captum's Lime with its defaults over the segments: each sample
 * keeps each segment with probability 0.5 (segment j of sample s of image i is kept when normal
 * j of the sample's M is negative; see {@link Coalitions}), is weighted by the exponential kernel
 * {@code exp(−d²/(2w²))} of the cosine distance {@code d = 1 − cos(x, x_s)} in model-input space
 * ({@code --kernel-width} w, default 1), and the segment values are the coefficients of a weighted
 * Lasso with intercept ({@code --lasso-alpha}, default 0.01; scikit-learn's objective
 * {@code Σ w_s (y_s − b − z_s·β)² / (2 Σ w) + α|β|₁}, solved by coordinate descent).
 * Output (rows, C, H, W).
 * <pre>{@code
 * Attribution a = new Lime(model, Segments.parse("slic"), Baseline.zeros(), 200, 1.0, 0.01, 0L)
 *         .explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class Lime extends Coalitions {
    public static final MethodOption<Integer> SAMPLES = MethodOption.SAMPLES;
    public static final int DEFAULT_SAMPLES = 200;
    public static final MethodOption<Float> KERNEL_WIDTH = MethodOption.floatIn("--kernel-width", "W", 1.0f, Float.MIN_NORMAL,
            Float.MAX_VALUE, "Width of LIME's exponential kernel on the cosine distance (default: 1.0).");
    public static final MethodOption<Float> ALPHA = MethodOption.floatIn("--lasso-alpha", "A", 0.01f, 0f, Float.MAX_VALUE,
            "L1 weight of LIME's Lasso (default: 0.01).");

    public static final MethodSpec SPEC = new MethodSpec("lime", MethodSpec.Family.PERTURBATION, Attribution.Layout.INPUT,
            "Captum Lime over `--segments`: Bernoulli(0.5) coalitions, `exp(-d^2/2w^2)` of the cosine distance, "
                    + "weighted Lasso (alpha 0.01)",
            List.of(Segments.OPTION, IntegratedGradients.BASELINE, SAMPLES, KERNEL_WIDTH, ALPHA, MethodOption.SEED),
            Lime::new, MethodSpec.NO_AXIOM);

    private final int samples;
    private final double width, alpha;

    public Lime(Model model, Segments segments, Baseline baseline, int samples, double kernelWidth, double alpha, long seed) {
        super(model, segments, baseline, seed);
        if (samples < 1) throw new SalientException("--samples must be at least 1, got " + samples);
        if (!(kernelWidth > 0) || !Double.isFinite(kernelWidth))
            throw new SalientException("--kernel-width must be positive, got " + kernelWidth);
        if (!(alpha >= 0) || !Double.isFinite(alpha)) throw new SalientException("--lasso-alpha must be >= 0, got " + alpha);
        this.samples = samples;
        this.width = kernelWidth;
        this.alpha = alpha;
    }

    public Lime(Model model, MethodOptions o) {
        this(model, Segments.parse(o.get(Segments.OPTION)), Baseline.parse(o.get(IntegratedGradients.BASELINE), 0L),
                MethodOption.samplesOr(o, DEFAULT_SAMPLES), o.get(KERNEL_WIDTH), o.get(ALPHA), o.get(MethodOption.SEED));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    public Explainer withSegments(Segments s, int first) {
        return copied(new Lime(model, s, baseline, samples, width, alpha, seed), first);
    }

    @Override
    protected int evaluations(int m) {
        return samples;
    }

    @Override
    protected boolean sameDesignForEveryImage() {
        return false;
    }

    @Override
    protected float[] design(Backend b, int image, int m) {
        float[] z = normals(b, image, 0, samples, m);
        float[] d = new float[samples * m];
        for (int i = 0; i < d.length; i++) d[i] = z[i] < 0 ? 1f : 0f;
        return d;
    }

    @Override
    protected double[] solve(int m, float[] design, float[] y, Image image) {
        double[][] p = image.segmentProducts();   // per segment Σx², Σxb, Σb²
        double xx = 0;
        for (int j = 0; j < m; j++) xx += p[0][j];
        double nx = Math.max(Math.sqrt(xx), 1e-8);
        double[] x = new double[samples * m], yy = new double[samples], w = new double[samples];
        for (int s = 0; s < samples; s++) {
            // x_s = z ⊙ x + (1 − z) ⊙ b per segment: x·x_s and |x_s|² from the segment sums
            double dot = 0, ss = 0;
            for (int j = 0; j < m; j++) {
                boolean keep = design[s * m + j] != 0;
                x[s * m + j] = keep ? 1 : 0;
                dot += keep ? p[0][j] : p[1][j];
                ss += keep ? p[0][j] : p[2][j];
            }
            double cos = dot / (nx * Math.max(Math.sqrt(ss), 1e-8));
            double d = 1 - cos;
            w[s] = Math.exp(-d * d / (2 * width * width));
            yy[s] = y[s];
        }
        return HostLinalg.weightedLasso(x, yy, w, samples, m, alpha).coef();
    }
}
