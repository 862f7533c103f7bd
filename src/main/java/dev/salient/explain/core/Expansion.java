package dev.salient.explain.core;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * How a method turns one image into evaluations (forward + backward of the
 * model) and how it reduces them to the image's output row, for one call of
 * {@link Driver}. The driver owns chunking under the memory budget, the
 * out-of-memory split, the target classes, the backward passes and the output
 * rows; an expansion says only what is specific to its method:
 * <ul>
 *   <li>{@link #wrt()}: the tensors its backward passes reach (the input, a layer);
 *   <li>{@link #perImage()}: evaluations per image (IG steps; 1 for one gradient);
 *   <li>{@link Chunk#expand}: the evaluation inputs (interpolated points, masks);
 *   <li>{@link Chunk#accumulate} and {@link Chunk#finish}: the reduction.
 * </ul>
 * An expansion lives for one call and may hold per-call tensors (a baseline);
 * {@link #close()} frees them.
 */
public interface Expansion extends AutoCloseable {

    /** One backward pass per target: the rules and the tensors it reaches (a subset of {@link #wrt()}). */
    record Pass(BackwardRules rules, Set<String> to) {}

    /** The tensors the backward passes reach. */
    Set<String> wrt();

    /** Evaluations per image; 1 means the image itself is evaluated. */
    default int perImage() {
        return 1;
    }

    /**
     * Evaluations come in consecutive groups of this many that must share one tape
     * (DeepLIFT's input and reference rows); {@link #perImage()} is a multiple of it, and
     * every chunk of evaluations the driver records starts and ends on a group boundary.
     */
    default int group() {
        return 1;
    }

    /**
     * True when the first images' rows of every chunk's first evaluations are the images themselves
     * (DeepLIFT's input rows, before their references): the driver then reads the target classes
     * and their scores from that chunk's tape instead of running a separate forward pass of the
     * images. False by default.
     */
    default boolean imagesLead() {
        return false;
    }

    /** The backward passes run for each target (default: the exact gradient to {@link #wrt()}). */
    default List<Pass> passes() {
        return List.of(new Pass(BackwardRules.standard(), wrt()));
    }

    /**
     * The graph tensor the evaluations start from, or null (the default): they are input
     * images. With a tensor (gradient-free expansions only), {@link Chunk#expand} writes the
     * evaluation points at that tensor's shape, {@link Chunk#prefix} gives the values computed
     * before it that the rest of the graph still reads, and only the graph after the tensor
     * runs ({@link dev.salient.model.Model#runSuffix}).
     */
    default String from() {
        return null;
    }

    /**
     * With {@link #from()}: whether the points an expansion writes there are the graph's own values at
     * that tensor for whole inputs (the coalitions' first conv, computed by its linearity), so that
     * each evaluation counts as a whole forward pass; false (the default) counts the graph after the
     * tensor only (Ablation-CAM).
     */
    default boolean fromIsWhole() {
        return false;
    }

    /** The shape of one output row for an input batch of {@code inputShape}, without the row axis. */
    long[] rowShape(long[] inputShape);

    /** Starts a chunk of consecutive images: {@code x} holds their rows (owned by the driver). */
    Chunk begin(Backend b, Tensor x, int firstImage);

    /** Post-processing of the whole result (IG adds its convergence deltas). */
    default Attribution complete(Backend b, Attribution a) {
        return a;
    }

    @Override
    default void close() {}

    /** The state of one chunk of images. */
    interface Chunk extends AutoCloseable {
        /**
         * Writes the inputs of evaluations [s0, s0+count) of the chunk's images into
         * {@code points}: (count·images, ...), row s·images + i for evaluation s0+s of image i.
         * Called only when {@link #perImage()} is above 1.
         */
        default void expand(Backend b, int s0, int count, Tensor points) {
            throw new UnsupportedOperationException("expand");
        }

        /**
         * With {@link Expansion#from()}: the value of {@code tensor}, one of the suffix's inputs
         * other than the start tensor, for the chunk's images (images, ...); owned by the chunk.
         * The driver repeats it for every evaluation.
         */
        default Tensor prefix(String tensor) {
            throw new UnsupportedOperationException("prefix " + tensor);
        }

        /**
         * The tape of evaluations [s0, s0+count) whose inputs {@code points} holds, when the chunk
         * records it itself (a chunk whose rows repeat runs each distinct row once,
         * {@link Tape#recordShared}); null lets the driver run every row.
         */
        default Tape record(dev.salient.model.Model model, Backend b, Tensor points, Set<String> wrt, int s0, int count) {
            return null;
        }

        /**
         * Folds the gradients of evaluations [s0, s0+count) for one target into the
         * accumulator and returns it ({@code acc} is null on the first call). {@code grads}
         * holds one map per {@link Pass}; a tensor the method keeps must be removed from its
         * map (the driver closes the rest). {@code tape} holds the forward values.
         */
        Tensor accumulate(Backend b, Tape tape, List<Map<String, Tensor>> grads, int s0, int count, Tensor acc);

        /**
         * As {@link #accumulate(Backend, Tape, List, int, int, Tensor)}, also given the target
         * class of every evaluated row ({@code classes[s·images + i]}): gradient-free methods
         * read the target logits from {@code tape.logits()} with them.
         */
        default Tensor accumulate(Backend b, Tape tape, List<Map<String, Tensor>> grads, int[] classes, int s0, int count,
                Tensor acc) {
            return accumulate(b, tape, grads, s0, count, acc);
        }

        /** The output rows (images, row...) from the accumulator: {@code acc} itself or a new tensor. */
        default Tensor finish(Backend b, Tensor acc) {
            return acc;
        }

        @Override
        default void close() {}
    }
}
