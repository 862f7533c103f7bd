package dev.salient.explain;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import dev.salient.model.Plan;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;

/**
 * Base of every attribution method: the model, the memory budget under which
 * expanded batches (IG steps, noise samples, top-k maps) are split into chunks,
 * and the shared plumbing. Subclasses are stateless apart from their options and
 * may be shared between threads.
 */
public abstract class Explainer {
    /** Default budget for the activations and gradients of one chunk: 1 GiB. */
    public static final long DEFAULT_MEMORY_BUDGET = 1L << 30;

    protected final Model model;
    protected long memoryBudget = DEFAULT_MEMORY_BUDGET;

    protected Explainer(Model model) {
        if (model.inputs().size() != 1)
            throw new SalientException("attribution needs a model with one input; this one has " + model.inputs().size());
        this.model = model;
    }

    /** The method's CLI name, e.g. "gradcam". */
    public abstract String name();

    /** Explains a batch (N,C,H,W) living on {@code backend} for the given target. */
    public abstract Attribution explain(Backend backend, Tensor batch, Target target);

    /** Bytes that one chunk's activations and gradients may take (default 1 GiB). */
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

    /**
     * Runs {@code work}; if the backend runs out of memory, halves the memory budget
     * (so the chunks shrink) and runs it again, down to one row per chunk. Then the
     * error says that one image does not fit.
     */
    protected final <T> T splittingOnOutOfMemory(java.util.function.Supplier<T> work) {
        long saved = memoryBudget;
        try {
            while (true) {
                try {
                    return work.get();
                } catch (dev.salient.engine.OutOfDeviceMemoryException e) {
                    if (memoryBudget <= 1)
                        throw new SalientException(name() + ": one image does not fit in device memory (" + e.getMessage() + ")");
                    memoryBudget = Math.max(1, memoryBudget / 4);
                }
            }
        } finally {
            memoryBudget = saved;
        }
    }

    /** Checks the batch: 4-D (N,C,H,W), finite values. */
    protected static void checkBatch(Tensor batch) {
        if (batch.rank() != 4)
            throw new SalientException("attribution expects an (N,C,H,W) batch, got shape " + Shapes.str(batch.shape()));
    }

    /**
     * How many rows (forward + backward evaluations of one image) fit the budget:
     * per row, the executor's buffers plus the activations a tape keeps between
     * {@code wrt} and the output and their gradients (counted from the plan at
     * batch 1), with 50% headroom for transients.
     */
    protected int rowsPerChunk(Backend backend, long[] batchShape, Set<String> wrt) {
        long[] one = batchShape.clone();
        one[0] = 1;
        long perRow = Tape.floatsPerRow(model, one, wrt) * 4 * 3 / 2;
        long rows = Math.max(1, memoryBudget / Math.max(1, perRow));
        return (int) Math.min(rows, 4096);
    }

    /** Copies rows [from, from+count) of t (first axis) into a new tensor. */
    protected static Tensor rows(Backend b, Tensor t, long from, long count) {
        long row = t.numel() / t.dim(0);
        long[] s = t.shape();
        s[0] = count;
        Tensor out = b.allocate(s);
        try {
            b.copyRange(t, from * row, out, 0, count * row);
            return out;
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
    }

    static long[] withRows(long[] shape, long rows) {
        long[] s = Arrays.copyOf(shape, shape.length);
        s[0] = rows;
        return s;
    }
}
