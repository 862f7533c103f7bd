package dev.salient.explain.cam;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.BackwardRules;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.Layers;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import dev.salient.model.ops.TensorViews;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Guided Grad-CAM (Selvaraju et al. 2017) as Captum's GuidedGradCam: guided
 * backpropagation times the raw Grad-CAM of the layer, {@code relu(Σ_k w_k A_k)}
 * without normalisation, upsampled to the input with nearest-neighbour
 * interpolation and broadcast over channels. Input-shaped. One forward pass
 * serves both backward passes: the exact one to the layer, the guided one to the input.
 * <pre>{@code
 * Attribution a = new GuidedGradCam(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class GuidedGradCam extends Explainer {
    public static final MethodSpec SPEC = new MethodSpec("guidedgradcam", MethodSpec.Family.CAM, Attribution.Layout.INPUT,
            "guided backprop x nearest-upsampled raw Grad-CAM (Captum)", List.of(MethodOption.LAYER), GuidedGradCam::new,
            MethodSpec.NO_AXIOM);

    private final GradCam cam;

    public GuidedGradCam(Model model, String layer) {
        super(model);
        this.cam = new GradCam(model, layer);
    }

    public GuidedGradCam(Model model, MethodOptions o) {
        this(model, o.get(MethodOption.LAYER));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        String in = inputName();
        String tensor = batch.rank() == 4 ? cam.layerTensor(batch.shape()) : in;
        if (batch.rank() == 4) Layers.require4d(model, tensor, batch.shape(), name());
        return new Expansion() {
            @Override
            public Set<String> wrt() {
                return Set.of(in, tensor);
            }

            @Override
            public List<Pass> passes() {
                return List.of(new Pass(BackwardRules.standard(), Set.of(tensor)), new Pass(BackwardRules.guided(), Set.of(in)));
            }

            @Override
            public long[] rowShape(long[] inputShape) {
                return Arrays.copyOfRange(inputShape, 1, inputShape.length);
            }

            @Override
            public Chunk begin(Backend b, Tensor x, int firstImage) {
                return (bb, tape, grads, s0, count, acc) -> {
                    Tensor a = tape.value(tensor);
                    int cnt = (int) x.dim(0);
                    Tensor gb = grads.get(1).remove(in);
                    try (Tensor raw = cam.rawMap(bb, a, grads.get(0).get(tensor));
                            Tensor up = bb.allocate(cnt, 1, x.dim(2), x.dim(3))) {
                        // Captum: relu(Grad-CAM), nearest-upsampled, times the guided gradient
                        bb.activationForward(Activation.RELU, raw, raw, 0, 0);
                        bb.nearestResize(TensorViews.view(raw, cnt, 1, a.dim(2), a.dim(3)), up);
                        bb.binary(BinaryOp.MUL, gb, up, gb);
                        return gb;
                    } catch (RuntimeException e) {
                        gb.close();
                        throw e;
                    }
                };
            }
        };
    }
}
