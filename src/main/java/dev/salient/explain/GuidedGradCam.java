package dev.salient.explain;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import dev.salient.model.ops.TensorViews;
import java.util.Map;
import java.util.Set;

/**
 * Guided Grad-CAM (Selvaraju et al. 2017) as Captum's GuidedGradCam: guided
 * backpropagation times the raw Grad-CAM of the layer, {@code relu(Σ_k w_k A_k)}
 * without normalisation, upsampled to the input with nearest-neighbour
 * interpolation and broadcast over channels. Input-shaped.
 * <pre>{@code
 * Attribution a = new GuidedGradCam(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class GuidedGradCam extends Explainer {
    private final GradCam cam;

    public GuidedGradCam(Model model, String layer) {
        super(model);
        this.cam = new GradCam(model, layer);
    }

    @Override
    public String name() {
        return "guidedgradcam";
    }

    @Override
    public Attribution explain(Backend b, Tensor batch, Target target) {
        return splittingOnOutOfMemory(() -> explainChunks(b, batch, target));
    }

    private Attribution explainChunks(Backend b, Tensor batch, Target target) {
        checkBatch(batch);
        String tensor = cam.layerTensor(batch.shape());
        Layers.require4d(model, tensor, batch.shape(), name());
        int n = (int) batch.dim(0), k = target.mapsPerImage();
        int c = (int) batch.dim(1), h = (int) batch.dim(2), w = (int) batch.dim(3);
        int row = c * h * w;
        float[] values = new float[n * k * row];
        int[] images = new int[n * k], classes = new int[n * k];
        float[] scores = new float[n * k];
        int chunk = rowsPerChunk(b, batch.shape(), Set.of(inputName()));
        for (int start = 0; start < n; start += chunk) {
            int cnt = Math.min(chunk, n - start);
            // one tape to the input for guided backprop, one to the layer for Grad-CAM
            try (Tensor x = rows(b, batch, start, cnt); Tape whole = Tape.record(model, b, x, Set.of(inputName()));
                    Tape layerTape = Tape.record(model, b, x, Set.of(tensor))) {
                int[][] t = whole.targets(target);
                float[] logits = whole.logits().toArray();
                int nc = (int) whole.logits().dim(1);
                Tensor a = layerTape.value(tensor);
                for (int j = 0; j < k; j++) {
                    int[] cls = new int[cnt];
                    for (int i = 0; i < cnt; i++) cls[i] = t[i][j];
                    Map<String, Tensor> g = layerTape.backward(cls, BackwardRules.standard());
                    Map<String, Tensor> gg = whole.backward(cls, BackwardRules.guided());
                    try (Tensor grad = g.get(tensor); Tensor gb = gg.get(inputName()); Tensor raw = cam.rawCam(b, a, grad);
                            Tensor up = b.allocate(cnt, 1, h, w)) {
                        // Captum: relu(Grad-CAM), nearest-upsampled, times the guided gradient
                        b.activationForward(Activation.RELU, raw, raw, 0, 0);
                        b.nearestResize(TensorViews.view(raw, cnt, 1, a.dim(2), a.dim(3)), up);
                        b.binary(BinaryOp.MUL, gb, up, gb);
                        float[] hv = gb.toArray();
                        for (int i = 0; i < cnt; i++) {
                            int r = (start + i) * k + j;
                            System.arraycopy(hv, i * row, values, r * row, row);
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
