package dev.salient.explain.relevance;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Baseline;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.gradient.IntegratedGradients;
import dev.salient.model.Model;
import java.util.List;

/**
 * DeepLIFT with the Rescale rule (Shrikumar et al. 2017, arXiv:1704.02685), exactly as
 * Captum's DeepLift: the input and its baseline x' run as one batch, every nonlinearity
 * and max pooling of the graph takes the Rescale multiplier Δout/Δin (the plain gradient
 * where |Δin| < 1e-10, Captum's max-pool rule; see {@link RescaleRules}), and the result is
 * {@code (x − x')·multipliers}, input-shaped. Unlike Captum, a ReLU applied functionally or
 * reused by several layers gets the rule at each use: every application is its own ONNX
 * node. Each row reports its summation-to-delta gap {@code Σ attr − (y_t(x) − y_t(x'))}.
 * <pre>{@code
 * Attribution a = new DeepLift(model, Baseline.zeros()).explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class DeepLift extends Explainer {
    public static final MethodSpec SPEC = new MethodSpec("deeplift", MethodSpec.Family.RELEVANCE, Attribution.Layout.INPUT,
            "`(x-x') * m`, m the Rescale multipliers `dy*Δout/Δin` (gradient where `|Δin|<1e-10`) on every "
                    + "nonlinearity, Captum's max-pool rule; summation-to-delta gap reported",
            List.of(IntegratedGradients.BASELINE, MethodOption.SEED), DeepLift::new, DeepLift::summationToDelta);

    private final Baseline baseline;

    public DeepLift(Model model, Baseline baseline) {
        super(model);
        this.baseline = baseline;
    }

    /** From spec options: --baseline (default zeros), --seed (for a uniform baseline). */
    public DeepLift(Model model, MethodOptions o) {
        this(model, Baseline.parse(o.get(IntegratedGradients.BASELINE), o.get(MethodOption.SEED)));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    public Baseline baseline() {
        return baseline;
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        Tensor base = batch.rank() == 4 ? baseline.build(backend, batch) : null;
        long row = batch.rank() == 4 ? batch.numel() / batch.dim(0) : 0;
        return new ReferencePairs(inputName(), new ReferencePairs.References() {
            @Override
            public int count() {
                return 1;
            }

            @Override
            public void write(Backend b, int j, int image, Tensor dst, long offset) {
                b.copyRange(base, image * row, dst, offset, row);
            }

            @Override
            public boolean shared() {
                return baseline.sameForEveryImage();
            }

            @Override
            public void close() {
                if (base != null) base.close();
            }
        }, (int) batch.dim(0)) {
            /** The gap per row: Σ attr − (y_t(x) − y_t(x')), both logits from the pairs' forward pass. */
            @Override
            public Attribution complete(Backend b, Attribution a) {
                return Summation.withDeltas(a, referenceLogits(), (int) batch.dim(0));
            }
        };
    }

    /**
     * Summation to delta: each row sums to y_t(x) − y_t(x') within 1e-4 of |y_t(x)| + |y_t(x')|,
     * from two forward passes of the model.
     */
    private static String summationToDelta(Explainer e, Backend b, Tensor x, Attribution a) {
        DeepLift d = (DeepLift) e;
        float[] fx, fb;
        try (Tensor base = d.baseline.build(b, x); Tensor lx = d.model.forward(b, x); Tensor lb = d.model.forward(b, base)) {
            fx = lx.toArray();
            fb = lb.toArray();
        }
        return Summation.check(a, fx, fb, (int) x.dim(0), 1e-4);
    }
}
