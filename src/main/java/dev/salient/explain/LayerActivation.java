package dev.salient.explain;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import java.util.Map;
import java.util.Set;

/**
 * The layer's own output, as Captum's LayerActivation: rows of the layer's shape (C,h,w)
 * (or whatever rank the tensor has), one per image and target (the values do not depend on
 * the target). Any tensor of the graph works, including attention gates.
 * <pre>{@code
 * Attribution a = new LayerActivation(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class LayerActivation extends Explainer {
    private final String layer;

    public LayerActivation(Model model, String layer) {
        super(model);
        this.layer = layer == null ? "auto" : layer;
    }

    @Override
    public String name() {
        return "activation";
    }

    @Override
    public Attribution explain(Backend b, Tensor batch, Target target) {
        return splittingOnOutOfMemory(() -> explainChunks(b, batch, target));
    }

    private Attribution explainChunks(Backend b, Tensor batch, Target target) {
        checkBatch(batch);
        String tensor = Layers.resolve(model, layer, batch.shape());
        String out = model.outputs().get(0).name();
        int n = (int) batch.dim(0), k = target.mapsPerImage();
        long[] layerShape = model.plan(Map.of(inputName(), batch.shape()), Set.of(out)).shape(tensor);
        int row = (int) (dev.salient.engine.Shapes.numel(layerShape) / n);
        float[] values = new float[Math.toIntExact((long) row * n * k)];
        int[] images = new int[n * k], classes = new int[n * k];
        float[] scores = new float[n * k];
        int chunk = rowsPerChunk(b, batch.shape(), Set.of(tensor));
        for (int start = 0; start < n; start += chunk) {
            int cnt = Math.min(chunk, n - start);
            try (Tensor x = rows(b, batch, start, cnt); Tape tape = Tape.record(model, b, x, Set.of(tensor))) {
                int[][] t = tape.targets(target);
                float[] logits = tape.logits().toArray();
                int nc = (int) tape.logits().dim(1);
                float[] act = tape.value(tensor).toArray();
                for (int i = 0; i < cnt; i++)
                    for (int j = 0; j < k; j++) {
                        int r = (start + i) * k + j;
                        System.arraycopy(act, i * row, values, r * row, row);
                        images[r] = start + i;
                        classes[r] = t[i][j];
                        scores[r] = logits[i * nc + t[i][j]];
                    }
            }
        }
        return new Attribution(values, withRows(layerShape, (long) n * k), Attribution.Layout.LAYER, images, classes, scores,
                null);
    }
}
