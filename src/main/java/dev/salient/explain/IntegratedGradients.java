package dev.salient.explain;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import java.util.Map;
import java.util.Set;

/**
 * Integrated Gradients (Sundararajan et al. 2017, arXiv:1703.01365) exactly as
 * Captum's IntegratedGradients with multiply_by_inputs:
 * {@code (x − x')·Σ_k w_k ∂y_t/∂x|_{x'+α_k(x−x')}}, input-shaped. The steps of
 * all images are expanded into chunks under the memory budget; the interpolated
 * points are written straight into the chunk's batch buffer and the weighted
 * gradients accumulated on the backend. The convergence delta
 * {@code Σ attr − (y_t(x) − y_t(x'))} is reported per row.
 * <pre>{@code
 * var ig = new IntegratedGradients(model);
 * Attribution a = ig.explain(Engine.cpu(), batch, Target.top1(), IntegratedGradients.Options.steps(50));
 * float delta = a.deltas()[0];
 * }</pre>
 */
public final class IntegratedGradients extends Explainer {

    /** Steps (default 50), rule (default Gauss-Legendre) and baseline (default zeros). */
    public record Options(int steps, IntegrationRule rule, Baseline baseline) {
        public static Options defaults() {
            return new Options(50, IntegrationRule.GAUSS_LEGENDRE, Baseline.zeros());
        }

        public static Options steps(int n) {
            return defaults().withSteps(n);
        }

        public Options withSteps(int n) {
            return new Options(n, rule, baseline);
        }

        public Options withRule(IntegrationRule r) {
            return new Options(steps, r, baseline);
        }

        public Options withBaseline(Baseline b) {
            return new Options(steps, rule, b);
        }
    }

    public IntegratedGradients(Model model) {
        super(model);
    }

    @Override
    public String name() {
        return "ig";
    }

    @Override
    public Attribution explain(Backend b, Tensor batch, Target target) {
        return explain(b, batch, target, Options.defaults());
    }

    public Attribution explain(Backend b, Tensor batch, Target target, Options o) {
        return splittingOnOutOfMemory(() -> explainChunks(b, batch, target, o));
    }

    private Attribution explainChunks(Backend b, Tensor batch, Target target, Options o) {
        checkBatch(batch);
        double[] alphasD = o.rule().alphas(o.steps()), weightsD = o.rule().weights(o.steps());
        float[] alphas = new float[alphasD.length], weights = new float[weightsD.length];
        for (int i = 0; i < alphas.length; i++) {
            alphas[i] = (float) alphasD[i];
            weights[i] = (float) weightsD[i];
        }
        int n = (int) batch.dim(0);
        int k = target.mapsPerImage();
        long row = batch.numel() / n;
        int steps = o.steps();
        float[] values = new float[Math.toIntExact(row * n * k)];
        int[] images = new int[n * k], classes = new int[n * k];
        float[] scores = new float[n * k], deltas = new float[n * k];
        try (Tensor base = o.baseline().build(b, batch); Tensor lx = model.forward(b, batch); Tensor lb = model.forward(b, base)) {
            int nc = (int) lx.dim(1);
            float[] fx = lx.toArray(), fb = lb.toArray();
            int[][] t = target.resolve(fx, n, nc);
            int chunk = rowsPerChunk(b, batch.shape(), Set.of(inputName()));
            int nb = Math.min(n, chunk);
            int sb = Math.max(1, Math.min(steps, chunk / nb));
            for (int j = 0; j < k; j++) {
                for (int i0 = 0; i0 < n; i0 += nb) {
                    int cnt = Math.min(nb, n - i0);
                    try (Tensor xi = rows(b, batch, i0, cnt); Tensor bi = rows(b, base, i0, cnt);
                            Tensor acc = b.zeros(xi.shape())) {
                        for (int s0 = 0; s0 < steps; s0 += sb) {
                            int scnt = Math.min(sb, steps - s0);
                            float[] a = java.util.Arrays.copyOfRange(alphas, s0, s0 + scnt);
                            float[] w = java.util.Arrays.copyOfRange(weights, s0, s0 + scnt);
                            int[] cls = new int[scnt * cnt];
                            for (int s = 0; s < scnt; s++) for (int i = 0; i < cnt; i++) cls[s * cnt + i] = t[i0 + i][j];
                            try (Tensor pts = b.allocate(withRows(xi.shape(), (long) scnt * cnt))) {
                                b.igInterpolate(xi, bi, a, pts);
                                try (Tape tape = Tape.record(model, b, pts, Set.of(inputName()))) {
                                    Map<String, Tensor> g = tape.backward(cls, BackwardRules.standard());
                                    try (Tensor grad = g.get(inputName())) {
                                        b.igAccumulate(grad, w, acc);
                                    }
                                }
                            }
                        }
                        // attr = (x - x') * acc
                        try (Tensor diff = b.allocate(xi.shape())) {
                            b.binary(BinaryOp.SUB, xi, bi, diff);
                            b.binary(BinaryOp.MUL, diff, acc, acc);
                        }
                        float[] h = acc.toArray();
                        for (int i = 0; i < cnt; i++) {
                            int img = i0 + i, r = img * k + j, cl = t[img][j];
                            System.arraycopy(h, (int) (i * row), values, (int) (r * row), (int) row);
                            double sum = 0;
                            for (long e = i * row; e < (i + 1) * row; e++) sum += h[(int) e];
                            images[r] = img;
                            classes[r] = cl;
                            scores[r] = fx[img * nc + cl];
                            deltas[r] = (float) (sum - ((double) fx[img * nc + cl] - fb[img * nc + cl]));
                        }
                    }
                }
            }
        }
        return new Attribution(values, withRows(batch.shape(), (long) n * k), Attribution.Layout.INPUT, images, classes,
                scores, deltas);
    }
}
