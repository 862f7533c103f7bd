package dev.salient.explain.relevance;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Baselines;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.Driver;
import dev.salient.explain.core.Expansion;
import dev.salient.model.Model;
import java.util.List;

/**
 * DeepLiftShap as Captum's: DeepLIFT (Rescale rule, {@link DeepLift}) of every input against
 * every baseline of a distribution of M ≥ 2 images, averaged over the baselines. The
 * (inputs × baselines) pairs go through the driver in chunks under the memory budget, never
 * M full copies of the batch at once. Each row sums to y_t(x) − mean_j y_t(b_j); the gap is
 * reported as the row's delta.
 * <pre>{@code
 * Attribution a = new DeepLiftShap(model, Baselines.parse("refs.npy", 0)).explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class DeepLiftShap extends Explainer {
    public static final MethodSpec SPEC = new MethodSpec("deepliftshap", MethodSpec.Family.RELEVANCE,
            Attribution.Layout.INPUT, "mean over the baselines `b_j` of DeepLIFT `(x-b_j) * m_j` (`--baselines`, M >= 2)",
            List.of(Baselines.OPTION, MethodOption.SEED), DeepLiftShap::new, DeepLiftShap::summationToDelta);

    private final Baselines baselines;

    public DeepLiftShap(Model model, Baselines baselines) {
        super(model);
        this.baselines = baselines;
    }

    /** From spec options: --baselines (required), --seed (for uniform:M). */
    public DeepLiftShap(Model model, MethodOptions o) {
        this(model, Baselines.parse(o.get(Baselines.OPTION), o.get(MethodOption.SEED)));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        Tensor refs = batch.rank() == 4 ? baselines.build(backend, batch.shape()) : null;
        long row = batch.rank() == 4 ? batch.numel() / batch.dim(0) : 0;
        int m = baselines.count();
        return new ReferencePairs(inputName(), new ReferencePairs.References() {
            @Override
            public int count() {
                return m;
            }

            @Override
            public void write(Backend b, int j, int image, Tensor dst, long offset) {
                b.copyRange(refs, j * row, dst, offset, row);
            }

            @Override
            public boolean shared() {
                return true;
            }

            @Override
            public void close() {
                if (refs != null) refs.close();
            }
        }, (int) batch.dim(0)) {
            /** The gap per row: Σ attr − (y_t(x) − mean_j y_t(b_j)), the logits from the pairs' forward passes. */
            @Override
            public Attribution complete(Backend b, Attribution a) {
                return Summation.withDeltas(a, referenceLogits(), (int) batch.dim(0));
            }
        };
    }

    /** mean_j y(b_j), tiled for n images: (n, classes). */
    private float[] meanRefLogits(Backend b, Tensor refs, int n) {
        int m = (int) refs.dim(0);
        float[] l = Driver.forwardChunked(model, b, refs, m);
        int nc = l.length / m;
        float[] out = new float[n * nc];
        for (int c = 0; c < nc; c++) {
            double s = 0;
            for (int j = 0; j < m; j++) s += l[j * nc + c];
            for (int i = 0; i < n; i++) out[i * nc + c] = (float) (s / m);
        }
        return out;
    }

    /** Summation to delta: each row sums to y_t(x) − mean_j y_t(b_j) within 1e-4 of their magnitudes. */
    private static String summationToDelta(Explainer e, Backend b, Tensor x, Attribution a) {
        DeepLiftShap d = (DeepLiftShap) e;
        int n = (int) x.dim(0);
        float[] fx;
        float[] fb;
        try (Tensor refs = d.baselines.build(b, x.shape()); Tensor lx = d.model.forward(b, x)) {
            fx = lx.toArray();
            fb = d.meanRefLogits(b, refs, n);
        }
        return Summation.check(a, fx, fb, n, 1e-4);
    }
}
