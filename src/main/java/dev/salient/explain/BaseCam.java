package dev.salient.explain;

import dev.salient.engine.Backend;
import dev.salient.engine.CamCombine;
import dev.salient.engine.CamWeighting;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import java.util.Set;

/**
 * The CAM family as pytorch-grad-cam computes it. This base captures the layer's
 * activation A (N,K,h,w) and the gradient G of the target logit with respect to
 * it (the backward walks only from the output to the layer), forms
 * the channel combination, then ReLU, per-image min-max, bilinear resize to the
 * input size (half-pixel centres) and min-max again. Output (rows, H, W) in [0,1].
 * Subclasses choose the channel weights ({@link #weighting()}) or the combination
 * ({@link #combine()}).
 */
public abstract class BaseCam extends Explainer {
    protected final String layer;
    private boolean counterfactual;

    /** @param layer an ONNX tensor name, a node name, or "auto" (the last 4-D activation before pooling) */
    protected BaseCam(Model model, String layer) {
        super(model);
        this.layer = layer == null ? "auto" : layer;
    }

    /**
     * Counterfactual maps (Grad-CAM paper, arXiv:1610.02391 section 5.2): the gradients are
     * negated before the channel weights are formed, so the map shows what argues against
     * the class. Only for methods that use gradients.
     */
    public BaseCam counterfactual(boolean on) {
        if (on && !usesGradients())
            throw new SalientException(name() + " does not use gradients, so it has no counterfactual map");
        this.counterfactual = on;
        return this;
    }

    public boolean counterfactual() {
        return counterfactual;
    }

    /** Whether the method needs G; without it the backward pass is skipped and G is null. */
    protected boolean usesGradients() {
        return true;
    }

    /**
     * Checks that the method can explain through {@code tensor} (layer shape (N,K,h,w)) before
     * any work; throws a one-line {@link SalientException} otherwise.
     */
    protected void checkLayer(String tensor, long[] layerShape) {}

    /**
     * The raw map (N,h,w) from the layer {@code tensor}'s activation a and gradient g (null
     * unless {@link #usesGradients()}) for the rows' target classes; by default
     * {@link #rawCam(Backend, Tensor, Tensor)}.
     */
    protected Tensor rawCam(Backend b, String tensor, Tensor a, Tensor g, int[] classes) {
        return rawCam(b, a, g);
    }

    /**
     * Turns the raw map (N,h,w) into the rows' host values (N,H,W) through {@code out}:
     * pytorch-grad-cam's ReLU, min-max, resize, min-max. {@code cam} may be overwritten.
     */
    protected float[] finish(Backend b, Tensor cam, Tensor out) {
        b.camFinish(cam, out);
        return out.toArray();
    }

    /** The channel weighting for {@link CamCombine#WEIGHTED}; null for the elementwise combinations. */
    protected CamWeighting weighting() {
        return null;
    }

    protected CamCombine combine() {
        return CamCombine.WEIGHTED;
    }

    /** The graph tensor this explainer reads for an input of the given shape. */
    public String layerTensor(long[] inputShape) {
        return Layers.resolve(model, layer, inputShape);
    }

    /** The raw channel combination (N,h,w) from A and G, before ReLU and normalisation. */
    protected Tensor rawCam(Backend b, Tensor a, Tensor g) {
        int n = (int) a.dim(0);
        Tensor cam = b.allocate(n, a.dim(2), a.dim(3));
        try {
            if (combine() == CamCombine.WEIGHTED) {
                try (Tensor w = b.allocate(n, a.dim(1))) {
                    b.gradcamWeights(weighting(), a, g, w);
                    b.camCombine(CamCombine.WEIGHTED, a, w, cam);
                }
            } else {
                b.camCombine(combine(), a, g, cam);
            }
            return cam;
        } catch (RuntimeException e) {
            cam.close();
            throw e;
        }
    }

    @Override
    public Attribution explain(Backend b, Tensor batch, Target target) {
        return splittingOnOutOfMemory(() -> explainChunks(b, batch, target));
    }

    private Attribution explainChunks(Backend b, Tensor batch, Target target) {
        checkBatch(batch);
        String tensor = layerTensor(batch.shape());
        Layers.require4d(model, tensor, batch.shape(), name());
        checkLayer(tensor, model.plan(java.util.Map.of(inputName(), batch.shape()), Set.of(model.outputs().get(0).name()))
                .shape(tensor));
        int n = (int) batch.dim(0), k = target.mapsPerImage();
        int h = (int) batch.dim(2), w = (int) batch.dim(3), plane = h * w;
        float[] values = new float[n * k * plane];
        int[] images = new int[n * k], classes = new int[n * k];
        float[] scores = new float[n * k];
        int chunk = rowsPerChunk(b, batch.shape(), Set.of(tensor));
        for (int start = 0; start < n; start += chunk) {
            int cnt = Math.min(chunk, n - start);
            try (Tensor x = rows(b, batch, start, cnt); Tape tape = Tape.record(model, b, x, Set.of(tensor))) {
                int[][] t = tape.targets(target);
                float[] logits = tape.logits().toArray();
                int nc = (int) tape.logits().dim(1);
                Tensor a = tape.value(tensor);
                for (int j = 0; j < k; j++) {
                    int[] cls = new int[cnt];
                    for (int i = 0; i < cnt; i++) cls[i] = t[i][j];
                    Tensor grad = null;
                    if (usesGradients()) {
                        grad = tape.backward(cls, BackwardRules.standard()).get(tensor);
                        if (counterfactual) b.axpby(0f, grad, -1f, grad);
                    }
                    try (Tensor gr = grad; Tensor cam = rawCam(b, tensor, a, gr, cls); Tensor out = b.allocate(cnt, h, w)) {
                        float[] hv = finish(b, cam, out);
                        for (int i = 0; i < cnt; i++) {
                            int r = (start + i) * k + j;
                            System.arraycopy(hv, i * plane, values, r * plane, plane);
                            images[r] = start + i;
                            classes[r] = cls[i];
                            scores[r] = logits[i * nc + cls[i]];
                        }
                    }
                }
            }
        }
        return new Attribution(values, new long[] {(long) n * k, h, w}, Attribution.Layout.CAM, images, classes, scores,
                null);
    }
}
