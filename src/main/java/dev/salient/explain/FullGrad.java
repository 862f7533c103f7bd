package dev.salient.explain;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
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
    public FullGrad(Model model) {
        super(model);
    }

    @Override
    public String name() {
        return "fullgrad";
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
    public Attribution explain(Backend b, Tensor batch, Target target) {
        return splittingOnOutOfMemory(() -> explainChunks(b, batch, target));
    }

    private Attribution explainChunks(Backend b, Tensor batch, Target target) {
        checkBatch(batch);
        List<BiasLayer> layers = biasLayers();
        Set<String> wrt = new LinkedHashSet<>();
        wrt.add(inputName());
        for (BiasLayer l : layers) wrt.add(l.output());
        int n = (int) batch.dim(0), k = target.mapsPerImage(), c = (int) batch.dim(1);
        int h = (int) batch.dim(2), w = (int) batch.dim(3), plane = h * w;
        float[] values = new float[n * k * plane];
        int[] images = new int[n * k], classes = new int[n * k];
        float[] scores = new float[n * k];
        int chunk = rowsPerChunk(b, batch.shape(), wrt);
        for (int start = 0; start < n; start += chunk) {
            int cnt = Math.min(chunk, n - start);
            try (Tensor x = rows(b, batch, start, cnt); Tape tape = Tape.record(model, b, x, wrt)) {
                int[][] t = tape.targets(target);
                float[] logits = tape.logits().toArray();
                int nc = (int) tape.logits().dim(1);
                for (int j = 0; j < k; j++) {
                    int[] cls = new int[cnt];
                    for (int i = 0; i < cnt; i++) cls[i] = t[i][j];
                    Map<String, Tensor> g = tape.backward(cls, BackwardRules.standard());
                    try (Tensor acc = b.zeros(cnt, 1, h, w)) {
                        try (Tensor gx = g.get(inputName()); Tensor m = b.allocate(cnt, c, h, w)) {
                            b.binary(BinaryOp.MUL, x, gx, m);
                            addScaledChannels(b, m, acc);
                        }
                        for (BiasLayer l : layers) {
                            try (Tensor gl = g.get(l.output()); Tensor m = b.allocate(gl.shape())) {
                                b.channelAffine(gl, model.weight(b, l.bias()), null, m);
                                addScaledChannels(b, m, acc);
                            }
                        }
                        PlaneMinMax.apply(b, acc);
                        float[] hv = acc.toArray();
                        for (int i = 0; i < cnt; i++) {
                            int r = (start + i) * k + j;
                            System.arraycopy(hv, i * plane, values, r * plane, plane);
                            images[r] = start + i;
                            classes[r] = cls[i];
                            scores[r] = logits[i * nc + cls[i]];
                        }
                    } finally {
                        for (Tensor gt : g.values()) gt.close();
                    }
                }
            }
        }
        return new Attribution(values, new long[] {(long) n * k, h, w}, Attribution.Layout.CAM, images, classes, scores,
                null);
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
