package dev.salient.explain.cam;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.Tape;
import dev.salient.model.HostTensor;
import dev.salient.model.Model;
import dev.salient.model.Node;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * FullGrad (Srinivas and Fleuret 2019, arXiv:1905.00780) as pytorch-grad-cam's FullGrad:
 * the input-gradient map |x ⊙ ∂y/∂x| plus, for every convolution with a bias b, the
 * bias-gradient map |b_c ⊙ G_c| at its output. Each (image, channel) map is min-maxed and
 * resized to the input size, all are summed, and the sum is min-maxed. BatchNormalization
 * is folded into its convolution at load, and the folded bias b·s + β − μ·s (s = γ/√(σ²+ε))
 * is the bias pytorch-grad-cam reads from the BatchNorm, so the maps agree; an unfolded
 * BatchNorm counts with its shift. One forward and one backward per target, which keeps
 * every bias layer's output gradient. Output (rows, H, W) in [0,1]. Bilinear resizing
 * commutes with the channel sum, so each layer's channels are summed at their own
 * resolution and resized once.
 * <pre>{@code
 * Attribution a = new FullGrad(model).explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class FullGrad extends Explainer {
    public static final MethodSpec SPEC = new MethodSpec("fullgrad", MethodSpec.Family.CAM, Attribution.Layout.CAM,
            "`abs(x*dx)` plus `abs(b_c G_c)` at every conv with a bias (BatchNorm folded: `b - mu*gamma/sqrt(var+eps)`), "
                    + "each (image, channel) min-maxed and resized, summed, min-maxed (pytorch-grad-cam FullGrad); one backward",
            List.of(), (m, o) -> new FullGrad(m), MethodSpec.UNIT_INTERVAL);

    public FullGrad(Model model) {
        super(model);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    /** A bias layer: the tensor its bias is added to, and the bias constant. */
    record BiasLayer(String output, String bias) {}

    /** Every Conv with a constant bias and every unfolded BatchNorm (ChannelAffine with a shift), in graph order. */
    List<BiasLayer> biasLayers() {
        List<BiasLayer> out = new ArrayList<>();
        Map<String, HostTensor> consts = model.graph().constants();
        for (Node n : model.graph().nodes()) {
            boolean conv = n.opType().equals("Conv") || n.opType().equals("ChannelAffine");
            if (conv && n.hasInput(2) && consts.containsKey(n.input(2))) out.add(new BiasLayer(n.outputs().get(0), n.input(2)));
        }
        return out;
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        List<BiasLayer> layers = biasLayers();
        Set<String> wrt = new LinkedHashSet<>();
        wrt.add(inputName());
        for (BiasLayer l : layers) wrt.add(l.output());
        return new Expansion() {
            @Override
            public Set<String> wrt() {
                return wrt;
            }

            @Override
            public long[] rowShape(long[] shape) {
                return new long[] {shape[2], shape[3]};
            }

            @Override
            public Chunk begin(Backend b, Tensor x, int firstImage) {
                return new Chunk() {
                    @Override
                    public Tensor accumulate(Backend bb, Tape tape, List<Map<String, Tensor>> grads, int s0, int count,
                            Tensor prev) {
                        Map<String, Tensor> g = grads.get(0);
                        long n = x.dim(0), h = x.dim(2), w = x.dim(3);
                        Tensor acc = bb.zeros(n, 1, h, w);
                        try {
                            try (Tensor m = bb.allocate(x.shape())) {
                                bb.binary(BinaryOp.MUL, x, g.get(inputName()), m);
                                addScaledChannels(bb, m, acc);
                            }
                            for (BiasLayer l : layers) {
                                Tensor gl = g.get(l.output());
                                try (Tensor m = bb.allocate(gl.shape())) {
                                    bb.channelAffine(gl, model.weight(bb, l.bias()), null, m);
                                    addScaledChannels(bb, m, acc);
                                }
                            }
                            PlaneMinMax.apply(bb, acc);
                            return acc;
                        } catch (RuntimeException e) {
                            acc.close();
                            throw e;
                        }
                    }
                };
            }
        };
    }

    /**
     * acc (N,1,H,W) += resize(sum_c minmax(|m_c|)), m (N,C,h,w) overwritten; min-max per
     * (image, channel) as pytorch-grad-cam's scale_cam_image: (v - min) / (1e-7 + max).
     */
    private static void addScaledChannels(Backend b, Tensor m, Tensor acc) {
        long n = m.dim(0), c = m.dim(1), h = m.dim(2), w = m.dim(3);
        b.activationForward(Activation.ABS, m, m, 0f, 0f);
        try (Tensor sum = b.allocate(n, 1, h, w)) {
            PlaneMinMax.apply(b, m);
            b.reduceSumTo(m, sum);
            if (h == acc.dim(2) && w == acc.dim(3)) {
                b.axpby(1f, sum, 1f, acc);
            } else {
                try (Tensor up = b.allocate(acc.shape())) {
                    b.bilinearResize(sum, up);
                    b.axpby(1f, up, 1f, acc);
                }
            }
        }
    }
}
