package dev.salient.explain.gradient;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.explain.Explainer;
import dev.salient.explain.core.BackwardRules;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Methods built on one gradient of the target logit with respect to the input,
 * post-processed per row: saliency |g|, input×gradient x·g, guided backprop.
 * One evaluation per image; each target class of an image reuses the chunk's
 * forward pass.
 */
public abstract class GradientExplainer extends Explainer {
    protected GradientExplainer(Model model) {
        super(model);
    }

    /** The backward rules (exact gradient unless overridden). */
    protected BackwardRules rules() {
        return BackwardRules.standard();
    }

    /** Turns the raw gradient (rows of x's shape) into the attribution, in place in {@code grad}. */
    protected abstract void finish(Backend b, Tensor x, Tensor grad);

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        String in = inputName();
        return new Expansion() {
            @Override
            public Set<String> wrt() {
                return Set.of(in);
            }

            @Override
            public List<Pass> passes() {
                return List.of(new Pass(rules(), wrt()));
            }

            @Override
            public long[] rowShape(long[] inputShape) {
                return Arrays.copyOfRange(inputShape, 1, inputShape.length);
            }

            @Override
            public Chunk begin(Backend b, Tensor x, int firstImage) {
                return (bb, tape, grads, s0, count, acc) -> {
                    Tensor g = grads.get(0).remove(in);
                    finish(bb, x, g);
                    return g;
                };
            }
        };
    }
}
