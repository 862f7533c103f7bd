package dev.salient.explain;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import java.util.Map;
import java.util.Set;

/**
 * Methods built on one gradient of the target logit with respect to the input,
 * post-processed per row: saliency |g|, input×gradient x·g, guided backprop.
 * Images are processed in chunks under the memory budget; each of the k target
 * classes of an image reuses the chunk's forward pass.
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
    public Attribution explain(Backend b, Tensor batch, Target target) {
        return splittingOnOutOfMemory(() -> explainChunks(b, batch, target));
    }

    private Attribution explainChunks(Backend b, Tensor batch, Target target) {
        checkBatch(batch);
        int n = (int) batch.dim(0);
        int chunk = rowsPerChunk(b, batch.shape(), Set.of(inputName()));
        int k = target.mapsPerImage();
        long row = batch.numel() / n;
        float[] values = new float[Math.toIntExact(row * n * k)];
        int[] images = new int[n * k], classes = new int[n * k];
        float[] scores = new float[n * k];
        for (int start = 0; start < n; start += chunk) {
            int cnt = Math.min(chunk, n - start);
            try (Tensor x = rows(b, batch, start, cnt); Tape tape = Tape.record(model, b, x, Set.of(inputName()))) {
                int[][] t = tape.targets(target);
                float[] logits = tape.logits().toArray();
                int nc = (int) tape.logits().dim(1);
                for (int j = 0; j < k; j++) {
                    int[] cls = new int[cnt];
                    for (int i = 0; i < cnt; i++) cls[i] = t[i][j];
                    Map<String, Tensor> g = tape.backward(cls, rules());
                    try (Tensor grad = g.get(inputName())) {
                        finish(b, x, grad);
                        float[] h = grad.toArray();
                        for (int i = 0; i < cnt; i++) {
                            int r = (start + i) * k + j;
                            System.arraycopy(h, (int) (i * row), values, (int) (r * row), (int) row);
                            images[r] = start + i;
                            classes[r] = cls[i];
                            scores[r] = logits[i * nc + cls[i]];
                        }
                    }
                }
            }
        }
        return new Attribution(values, withRows(batch.shape(), (long) n * k), Attribution.Layout.INPUT, images, classes,
                scores, null);
    }
}
