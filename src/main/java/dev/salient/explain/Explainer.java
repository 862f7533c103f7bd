package dev.salient.explain;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.core.Driver;
import dev.salient.explain.core.Expansion;
import dev.salient.model.Model;

/**
 * Base of every attribution method: the model, its {@link MethodSpec}, and the
 * memory budget under which {@link Driver} splits expanded batches (IG steps,
 * noise samples, top-k maps) into chunks.
 *
 * <p>Thread safety: an explainer holds only configuration (its options and the
 * budget); everything a call computes, including the budget the out-of-memory
 * split shrinks, is local to the call. One explainer may serve several threads
 * at once; set the budget before sharing it.
 */
public abstract class Explainer {
    /** Default budget for the activations and gradients of one chunk: 1 GiB. */
    public static final long DEFAULT_MEMORY_BUDGET = 1L << 30;

    protected final Model model;
    private volatile long memoryBudget = DEFAULT_MEMORY_BUDGET;

    protected Explainer(Model model) {
        if (model.inputs().size() != 1)
            throw new SalientException("attribution needs a model with one input; this one has " + model.inputs().size());
        this.model = model;
    }

    /** The method's spec (name, family, layout, options). */
    public abstract MethodSpec spec();

    /** The method's CLI name, e.g. "gradcam". */
    public String name() {
        return spec().name();
    }

    public Model model() {
        return model;
    }

    /**
     * How this method expands the batch into evaluations and reduces them, for one
     * call; methods that do not run through {@link Driver} override {@link #explain} and
     * {@link #explainRows} instead.
     */
    protected Expansion expansion(Backend b, Tensor batch) {
        throw new UnsupportedOperationException(name() + " does not run through the evaluation driver");
    }

    /** Explains a batch (N,C,H,W) living on {@code backend} for the given target. */
    public Attribution explain(Backend backend, Tensor batch, Target target) {
        spec().requireSpatialRank(batch.shape());
        try (Expansion e = expansion(backend, batch)) {
            return Driver.explain(name(), model, backend, batch, target, e, spec().layout(), memoryBudget);
        }
    }

    /**
     * The output rows on the backend for explicit classes (per image, k of them):
     * row {@code i·k + j} explains image i for {@code classes[i][j]}. For wrappers
     * such as {@link dev.salient.explain.gradient.NoiseTunnel}; the caller owns the values.
     */
    public Driver.Rows explainRows(Backend backend, Tensor batch, int[][] classes) {
        spec().requireSpatialRank(batch.shape());
        try (Expansion e = expansion(backend, batch)) {
            return Driver.rows(name(), model, backend, batch, null, classes, e, memoryBudget);
        }
    }

    /** Bytes that one chunk's activations and gradients may take (default 1 GiB). Configuration: set it before sharing. */
    public Explainer memoryBudget(long bytes) {
        if (bytes <= 0) throw new SalientException("memory budget must be positive, got " + bytes);
        this.memoryBudget = bytes;
        return this;
    }

    public long memoryBudget() {
        return memoryBudget;
    }

    protected final String inputName() {
        return model.inputs().get(0).name();
    }
}
