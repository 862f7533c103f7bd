package dev.salient.explain.core;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An expansion whose evaluations are forward passes only (masked images, ablated channels,
 * coalitions): no tensor is differentiated and no backward pass runs; each chunk folds the
 * target logit of every evaluation ({@link Chunk#score}) and reduces them in
 * {@link Expansion.Chunk#finish}. The gradient-free methods (Score-CAM and its sampled
 * variants, Ablation-CAM, occlusion and feature ablation, the coalition methods, RISE)
 * extend it and say only how an image expands and how its scores reduce.
 */
public abstract class ForwardOnly implements Expansion {
    private final int perImage;

    /** @param perImage the evaluations of every image */
    protected ForwardOnly(int perImage) {
        this.perImage = perImage;
    }

    @Override
    public final Set<String> wrt() {
        return Set.of();
    }

    @Override
    public final List<Pass> passes() {
        return List.of();
    }

    @Override
    public final int perImage() {
        return perImage;
    }

    /** A chunk of a forward-only expansion: it reads the target logits of the evaluated rows. */
    public interface Chunk extends Expansion.Chunk {
        /**
         * Folds the target logits of evaluations [s0, s0+count) into the accumulator and returns
         * it ({@code acc} is null on the first call); {@code classes[s·images + i]} is the target
         * of each evaluated row, whose logits are {@code tape.logits()}.
         */
        Tensor score(Backend b, Tape tape, int[] classes, int s0, int count, Tensor acc);

        @Override
        default Tensor accumulate(Backend b, Tape tape, List<Map<String, Tensor>> grads, int s0, int count, Tensor acc) {
            throw new UnsupportedOperationException("a forward-only expansion needs the target classes");
        }

        @Override
        default Tensor accumulate(Backend b, Tape tape, List<Map<String, Tensor>> grads, int[] classes, int s0, int count,
                Tensor acc) {
            return score(b, tape, classes, s0, count, acc);
        }
    }

    /**
     * A chunk that keeps the target logit of every evaluation of its images, (images, perImage),
     * column e for evaluation e ({@link Scorer#store}), for its {@link Expansion.Chunk#finish}.
     */
    public abstract class ScoredChunk implements Chunk {
        @Override
        public Tensor score(Backend b, Tape tape, int[] classes, int s0, int count, Tensor acc) {
            int images = (int) (tape.logits().dim(0) / count);
            return Scorer.store(b, tape, classes, s0, count, images, perImage, acc);
        }
    }
}
