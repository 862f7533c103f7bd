package dev.salient.explain.gradient;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Baseline;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.Target;
import dev.salient.explain.core.Driver;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Integrated Gradients (Sundararajan et al. 2017, arXiv:1703.01365) exactly as
 * Captum's IntegratedGradients with multiply_by_inputs:
 * {@code (x − x')·Σ_k w_k ∂y_t/∂x|_{x'+α_k(x−x')}}, input-shaped. Each image
 * expands into its steps; the driver chunks them under the memory budget, the
 * points are a masked blend of x' and x on the backend and the weighted
 * gradients are summed there, step by step. The convergence delta
 * {@code Σ attr − (y_t(x) − y_t(x'))} is reported per row.
 * <pre>{@code
 * var ig = new IntegratedGradients(model);
 * Attribution a = ig.explain(Engine.cpu(), batch, Target.top1(), IntegratedGradients.Options.steps(50));
 * float delta = a.deltas()[0];
 * }</pre>
 */
public final class IntegratedGradients extends Explainer {
    public static final MethodOption<Integer> STEPS = MethodOption.intAtLeast("--steps", "N", 50, 1,
            "Integration steps (default: 50).");
    public static final MethodOption<IntegrationRule> INTEGRATION = MethodOption.of("--integration", "RULE",
            IntegrationRule.GAUSS_LEGENDRE, IntegrationRule::parse,
            "Integration rule: gausslegendre (default), riemann_left, riemann_right, riemann_middle, riemann_trapezoid.")
            .reportedAs(r -> r.id);
    /** The baseline in its CLI form; {@code uniform} takes its seed from {@link MethodOption#SEED}. */
    public static final MethodOption<String> BASELINE = MethodOption.of("--baseline", "B", "zeros", s -> {
        Baseline.parse(s, 0L);
        return s;
    }, "Baseline x': zeros (default), constant:V, uniform[:SEED], blur[:SIGMA], or an NPY file.");

    public static final MethodSpec SPEC = MethodSpec.gradient("ig",
            "`(x-x') * sum_k w_k dy_t/dx at x'+a_k(x-x')`; rules `gausslegendre` (default), "
                    + "`riemann_left/right/middle/trapezoid` as Captum; convergence delta reported",
            IntegratedGradients::new)
            .withOptions(STEPS, INTEGRATION, BASELINE, MethodOption.SEED)
            .withAxiom(IntegratedGradients::completeness)
            .withVolumes();

    /** Steps (default 50), rule (default Gauss-Legendre) and baseline (default zeros). */
    public record Options(int steps, IntegrationRule rule, Baseline baseline) {
        public static Options defaults() {
            return new Options(50, IntegrationRule.GAUSS_LEGENDRE, Baseline.zeros());
        }

        public static Options steps(int n) {
            return defaults().withSteps(n);
        }

        public Options withSteps(int n) {
            return new Options(n, rule, baseline);
        }

        public Options withRule(IntegrationRule r) {
            return new Options(steps, r, baseline);
        }

        public Options withBaseline(Baseline b) {
            return new Options(steps, rule, b);
        }
    }

    private final Options options;

    public IntegratedGradients(Model model) {
        this(model, Options.defaults());
    }

    public IntegratedGradients(Model model, Options options) {
        super(model);
        options.rule().alphas(options.steps());
        this.options = options;
    }

    /** From spec options: --steps, --integration, --baseline, --seed. */
    public IntegratedGradients(Model model, MethodOptions o) {
        this(model, new Options(o.get(STEPS), o.get(INTEGRATION), Baseline.parse(o.get(BASELINE), o.get(MethodOption.SEED))));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    public Options options() {
        return options;
    }

    /** Explains with other options than this explainer's. */
    public Attribution explain(Backend b, Tensor batch, Target target, Options o) {
        return new IntegratedGradients(model, o).memoryBudget(memoryBudget()).explain(b, batch, target);
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        if (batch.rank() != 4 && batch.rank() != 5) return new Steps(backend, batch, null);
        return new Steps(backend, batch, options.baseline().build(backend, batch));
    }

    /** The steps of every image: points x' + α_k (x − x'), reduced as Σ_k w_k g_k, times (x − x'). */
    private final class Steps implements Expansion {
        private final Tensor base;
        private final float[] alphas, weights;
        private final String in = inputName();

        Steps(Backend b, Tensor batch, Tensor base) {
            this.base = base;
            double[] a = options.rule().alphas(options.steps()), w = options.rule().weights(options.steps());
            alphas = new float[a.length];
            weights = new float[w.length];
            for (int i = 0; i < a.length; i++) {
                alphas[i] = (float) a[i];
                weights[i] = (float) w[i];
            }
        }

        @Override
        public Set<String> wrt() {
            return Set.of(in);
        }

        @Override
        public int perImage() {
            return options.steps();
        }

        @Override
        public long[] rowShape(long[] inputShape) {
            return Arrays.copyOfRange(inputShape, 1, inputShape.length);
        }

        @Override
        public Chunk begin(Backend b, Tensor x, int firstImage) {
            Tensor bi = Driver.rows(b, base, firstImage, x.dim(0));
            return new Chunk() {
                @Override
                public void expand(Backend bb, int s0, int count, Tensor points) {
                    // points = x' + alpha (x - x'): a masked blend with one scalar mask per step
                    try (Tensor m = bb.upload(Arrays.copyOfRange(alphas, s0, s0 + count), count, 1)) {
                        bb.maskedBlend(x, bi, m, points);
                    }
                }

                @Override
                public Tensor accumulate(Backend bb, Tape tape, List<Map<String, Tensor>> grads, int s0, int count, Tensor acc) {
                    Tensor a = acc != null ? acc : bb.zeros(x.shape());
                    bb.weightedSum(grads.get(0).get(in), Arrays.copyOfRange(weights, s0, s0 + count), a);
                    return a;
                }

                @Override
                public Tensor finish(Backend bb, Tensor acc) {
                    // attr = (x - x') * acc
                    try (Tensor diff = bb.allocate(x.shape())) {
                        bb.binary(BinaryOp.SUB, x, bi, diff);
                        bb.binary(BinaryOp.MUL, diff, acc, acc);
                    }
                    return acc;
                }

                @Override
                public void close() {
                    bi.close();
                }
            };
        }

        /** The convergence delta per row: Σ attr − (y_t(x) − y_t(x')), y_t(x) being the row's score. */
        @Override
        public Attribution complete(Backend b, Attribution a) {
            int n = (int) base.dim(0);
            float[] fb = Driver.forwardChunked(model, b, base, n);
            int nc = fb.length / n;
            float[] deltas = new float[a.rows()];
            int row = a.rowSize();
            float[] v = a.values();
            for (int r = 0; r < a.rows(); r++) {
                double sum = 0;
                for (int e = r * row; e < (r + 1) * row; e++) sum += v[e];
                int img = a.images()[r], cl = a.targets()[r];
                deltas[r] = (float) (sum - ((double) a.scores()[r] - fb[img * nc + cl]));
            }
            return new Attribution(v, a.shape(), a.layout(), a.images(), a.targets(), a.scores(), deltas);
        }

        @Override
        public void close() {
            if (base != null) base.close();
        }
    }

    /** Completeness: the reported delta is Σ attr − (y_t(x) − y_t(x')), recomputed from two forward passes. */
    private static String completeness(Explainer e, Backend b, Tensor x, Attribution a) {
        IntegratedGradients ig = (IntegratedGradients) e;
        if (a.deltas() == null) return "no convergence deltas";
        float[] fx, fb;
        try (Tensor base = ig.options.baseline().build(b, x); Tensor lx = ig.model.forward(b, x);
                Tensor lb = ig.model.forward(b, base)) {
            fx = lx.toArray();
            fb = lb.toArray();
        }
        int nc = fx.length / (int) x.dim(0);
        for (int r = 0; r < a.rows(); r++) {
            double s = 0;
            for (float v : a.row(r)) s += v;
            int i = a.images()[r], c = a.targets()[r];
            double expected = s - ((double) fx[i * nc + c] - fb[i * nc + c]);
            if (Math.abs(expected - a.deltas()[r]) > 1e-5 * (1 + Math.abs(s)))
                return "row " + r + ": delta " + a.deltas()[r] + ", recomputed " + expected;
        }
        return null;
    }
}
