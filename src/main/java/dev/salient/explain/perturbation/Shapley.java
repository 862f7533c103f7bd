package dev.salient.explain.perturbation;

import dev.salient.engine.Backend;
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
 * Shapley values of the segments (Shapley 1953) for the target's raw logit, a player
 * being present as the input and absent as the baseline:
 * {@code φ_j = Σ_{S ⊆ N∖{j}} |S|!(M−|S|−1)!/M! · (f(S ∪ {j}) − f(S))}.
 * <ul>
 *   <li>exact, by evaluating all 2^M coalitions, when 2^M ≤ {@code --max-evals} (default 2^14);
 *   <li>otherwise Captum's ShapleyValueSampling: {@code --samples} random permutations
 *       (default 25), each adding the segments one at a time to the baseline, φ_j the mean of
 *       f(after) − f(before) over the permutations (1 + samples·M forward passes). Permutation s
 *       of image i orders the segments by d = M normals of the seeded stream (see {@link Coalitions}).
 * </ul>
 * {@code --exact} asks for enumeration and fails in one line when 2^M does not fit.
 * Output (rows, C, H, W), each element its segment's value.
 * <pre>{@code
 * Attribution a = new Shapley(model, Segments.parse("slic"), Baseline.zeros(), 25, 0L, 1 << 14, false)
 *         .explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class Shapley extends Coalitions {
    public static final MethodOption<Integer> SAMPLES = MethodOption.SAMPLES;
    public static final int DEFAULT_SAMPLES = 25;
    public static final MethodOption<Integer> MAX_EVALS = MethodOption.intAtLeast("--max-evals", "N", 1 << 14, 1,
            "Enumerate all 2^M coalitions when 2^M is at most N, else sample permutations (default: 16384).");
    public static final MethodOption<Boolean> EXACT = MethodOption.of("--exact", "true|false", false, s -> {
        if (s.isEmpty() || s.equals("true")) return true;
        if (s.equals("false")) return false;
        throw new SalientException("--exact takes no value (or true/false), got '" + s + "'");
    }, "Exact Shapley values by enumeration only; fail if 2^M exceeds --max-evals (default: false).");

    public static final MethodSpec SPEC = new MethodSpec("shapley", MethodSpec.Family.PERTURBATION,
            Attribution.Layout.INPUT,
            "Shapley values of `--segments`: exact over all 2^M coalitions when 2^M <= `--max-evals`, else Captum "
                    + "ShapleyValueSampling (`--samples` permutations)",
            List.of(Segments.OPTION, IntegratedGradients.BASELINE, SAMPLES, MAX_EVALS, EXACT, MethodOption.SEED),
            Shapley::new, MethodSpec.NO_AXIOM);

    private final int samples, maxEvals;
    private final boolean exact;

    public Shapley(Model model, Segments segments, Baseline baseline, int samples, long seed, int maxEvals, boolean exact) {
        super(model, segments, baseline, seed);
        if (samples < 1) throw new SalientException("--samples must be at least 1, got " + samples);
        if (maxEvals < 1) throw new SalientException("--max-evals must be at least 1, got " + maxEvals);
        this.samples = samples;
        this.maxEvals = maxEvals;
        this.exact = exact;
    }

    public Shapley(Model model, MethodOptions o) {
        this(model, Segments.parse(o.get(Segments.OPTION)), Baseline.parse(o.get(IntegratedGradients.BASELINE), 0L),
                MethodOption.samplesOr(o, DEFAULT_SAMPLES), o.get(MethodOption.SEED), o.get(MAX_EVALS), o.get(EXACT));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    public Explainer withSegments(Segments s, int first) {
        return copied(new Shapley(model, s, baseline, samples, seed, maxEvals, exact), first);
    }

    /** Whether M segments are enumerated (2^M ≤ --max-evals). */
    public boolean enumerates(int m) {
        return m <= 30 && (1 << m) <= maxEvals;
    }

    @Override
    protected int evaluations(int m) {
        if (enumerates(m)) return 1 << m;
        if (exact)
            throw new SalientException("shapley --exact needs 2^" + m + " evaluations per image for " + m
                    + " segments, more than --max-evals " + maxEvals + " (use fewer segments or a larger --max-evals)");
        long e = 1 + (long) samples * m;
        if (e > Integer.MAX_VALUE) throw new SalientException("shapley: " + samples + " permutations of " + m + " segments are too many evaluations");
        return (int) e;
    }

    @Override
    protected boolean sameDesignForEveryImage() {
        return false;
    }

    @Override
    protected float[] design(Backend b, int image, int m) {
        if (enumerates(m)) {
            int e = 1 << m;
            float[] d = new float[e * m];
            for (int s = 0; s < e; s++)
                for (int j = 0; j < m; j++) d[s * m + j] = (s >> j) & 1;
            return d;
        }
        float[] d = new float[evaluations(m) * m];   // evaluation 0: the baseline
        float[] z = normals(b, image, 0, samples, m);
        for (int s = 0; s < samples; s++) {
            int[] perm = permutation(z, s * m, m);
            int row = 1 + s * m;
            for (int t = 0; t < m; t++) {
                if (t > 0) System.arraycopy(d, (row + t - 1) * m, d, (row + t) * m, m);
                d[(row + t) * m + perm[t]] = 1f;
            }
        }
        return d;
    }

    /** The segments ordered by their normals z[off .. off+m) (ascending, ties by index): a uniform permutation. */
    static int[] permutation(float[] z, int off, int m) {
        Integer[] idx = new Integer[m];
        for (int j = 0; j < m; j++) idx[j] = j;
        java.util.Arrays.sort(idx, (a, c) -> Float.compare(z[off + a], z[off + c]));
        int[] out = new int[m];
        for (int j = 0; j < m; j++) out[j] = idx[j];
        return out;
    }

    @Override
    protected double[] solve(int m, float[] design, float[] y, Image image) {
        double[] phi = new double[m];
        if (enumerates(m)) {
            // w(s) = s!(M-s-1)!/M! = 1 / (M · C(M-1, s))
            double[] w = new double[m];
            double comb = 1;
            for (int s = 0; s < m; s++) {
                w[s] = 1.0 / (m * comb);
                comb = comb * (m - 1 - s) / (s + 1);
            }
            for (int e = 0; e < (1 << m); e++) {
                int size = Integer.bitCount(e);
                for (int j = 0; j < m; j++)
                    if ((e >> j & 1) == 0) phi[j] += w[size] * ((double) y[e | (1 << j)] - y[e]);
            }
            return phi;
        }
        for (int s = 0; s < samples; s++) {
            int row = 1 + s * m;
            for (int t = 0; t < m; t++) {
                int before = t == 0 ? 0 : row + t - 1;
                int j = -1;
                for (int k = 0; k < m; k++)
                    if (design[(row + t) * m + k] != (t == 0 ? 0f : design[before * m + k])) j = k;
                phi[j] += (double) y[row + t] - y[before];
            }
        }
        for (int j = 0; j < m; j++) phi[j] /= samples;
        return phi;
    }
}
