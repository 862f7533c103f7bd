package dev.salient.explain;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
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
    private final GuidedBackprop guided;

    public GuidedGradCam(Model model, String layer) {
        super(model);
        this.cam = new GradCam(model, layer);
        this.guided = new GuidedBackprop(model);
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
        cam.memoryBudget(memoryBudget);
        guided.memoryBudget(memoryBudget);
        String tensor = cam.layerTensor(batch.shape());
        Layers.require4d(model, tensor, batch.shape(), name());
        Attribution gb = guided.explain(b, batch, target);
        int n = (int) batch.dim(0), k = target.mapsPerImage();
        int c = (int) batch.dim(1), h = (int) batch.dim(2), w = (int) batch.dim(3);
        int row = c * h * w;
        float[] values = gb.values();
        int chunk = rowsPerChunk(b, batch.shape(), Set.of(tensor));
        for (int start = 0; start < n; start += chunk) {
            int cnt = Math.min(chunk, n - start);
            try (Tensor x = rows(b, batch, start, cnt); Tape tape = Tape.record(model, b, x, Set.of(tensor))) {
                Tensor a = tape.value(tensor);
                for (int j = 0; j < k; j++) {
                    int[] cls = new int[cnt];
                    for (int i = 0; i < cnt; i++) cls[i] = gb.targets()[(start + i) * k + j];
                    Map<String, Tensor> g = tape.backward(cls, BackwardRules.standard());
                    try (Tensor grad = g.get(tensor); Tensor raw = cam.rawCam(b, a, grad);
                            Tensor up = b.allocate(cnt, 1, h, w); Tensor part = b.allocate(cnt, c, h, w)) {
                        b.activationForward(Activation.RELU, raw, raw, 0, 0);
                        try (Tensor raw4 = b.allocate(cnt, 1, a.dim(2), a.dim(3))) {
                            b.copy(raw, raw4);
                            b.nearestResize(raw4, up);
                        }
                        float[] gbPart = new float[cnt * row];
                        for (int i = 0; i < cnt; i++)
                            System.arraycopy(values, ((start + i) * k + j) * row, gbPart, i * row, row);
                        try (Tensor gbt = b.upload(gbPart, cnt, c, h, w)) {
                            b.binary(BinaryOp.MUL, gbt, up, part);
                        }
                        float[] hv = part.toArray();
                        for (int i = 0; i < cnt; i++)
                            System.arraycopy(hv, i * row, values, ((start + i) * k + j) * row, row);
                    }
                }
            }
        }
        return new Attribution(values, gb.shape(), Attribution.Layout.INPUT, gb.images(), gb.targets(), gb.scores(), null);
    }

}
