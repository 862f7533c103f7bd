package dev.salient.explain;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * SmoothGrad (Smilkov et al. 2017, arXiv:1706.03825) and VarGrad (Adebayo et al.
 * 2018): the mean, or the variance (E[g²] − E[g]²), of the gradient ∂y_t/∂x over
 * inputs with added Gaussian noise, as Captum's NoiseTunnel over the plain
 * gradient. Input-shaped. The noise is seeded: the same seed gives the same map.
 * <pre>{@code
 * var sg = NoiseTunnel.smoothGrad(model);
 * Attribution a = sg.explain(Engine.cpu(), batch, Target.top1(), NoiseTunnel.Options.samples(25).withSeed(7));
 * }</pre>
 */
public final class NoiseTunnel extends Explainer {

    /** Noise for (sample, image): {@code size} values added to the image. */
    @FunctionalInterface
    public interface NoiseSource {
        float[] noise(int sample, int image, int size, float[] pixels);
    }

    /**
     * Samples (default 25), seed (default 0) and the noise standard deviation:
     * absolute if {@code stdev} is set, else {@code stdevFraction} (default 0.15,
     * the paper's recommendation) of each image's max − min.
     */
    public record Options(int samples, long seed, Float stdev, float stdevFraction, NoiseSource source) {
        public static Options defaults() {
            return new Options(25, 0L, null, 0.15f, null);
        }

        public static Options samples(int n) {
            return defaults().withSamples(n);
        }

        public Options withSamples(int n) {
            return new Options(n, seed, stdev, stdevFraction, source);
        }

        public Options withSeed(long s) {
            return new Options(samples, s, stdev, stdevFraction, source);
        }

        public Options withStdev(float sd) {
            if (!(sd >= 0) || !Float.isFinite(sd)) throw new SalientException("noise std must be finite and >= 0, got " + sd);
            return new Options(samples, seed, sd, stdevFraction, source);
        }

        /** Replaces the seeded Gaussian noise (for tests against recorded noise). */
        public Options withNoise(NoiseSource src) {
            return new Options(samples, seed, stdev, stdevFraction, src);
        }
    }

    private final boolean variance;

    private NoiseTunnel(Model model, boolean variance) {
        super(model);
        this.variance = variance;
    }

    public static NoiseTunnel smoothGrad(Model model) {
        return new NoiseTunnel(model, false);
    }

    public static NoiseTunnel varGrad(Model model) {
        return new NoiseTunnel(model, true);
    }

    @Override
    public String name() {
        return variance ? "vargrad" : "smoothgrad";
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
        if (o.samples() < 1) throw new SalientException(name() + " needs at least 1 sample, got " + o.samples());
        int n = (int) batch.dim(0), k = target.mapsPerImage(), samples = o.samples();
        int row = Math.toIntExact(batch.numel() / n);
        float[] pixels = batch.toArray();
        NoiseSource src = o.source() != null ? o.source() : gaussian(o);
        float[] values = new float[row * n * k];
        int[] images = new int[n * k], classes = new int[n * k];
        float[] scores = new float[n * k];
        float[] inv = new float[samples];
        java.util.Arrays.fill(inv, 1f / samples);
        try (Tensor lx = model.forward(b, batch)) {
            int nc = (int) lx.dim(1);
            float[] fx = lx.toArray();
            int[][] t = target.resolve(fx, n, nc);
            int chunk = rowsPerChunk(b, batch.shape(), Set.of(inputName()));
            int nb = Math.min(n, chunk);
            int sb = Math.max(1, Math.min(samples, chunk / nb));
            for (int j = 0; j < k; j++) {
                for (int i0 = 0; i0 < n; i0 += nb) {
                    int cnt = Math.min(nb, n - i0);
                    long[] shape = withRows(batch.shape(), cnt);
                    try (Tensor mean = b.zeros(shape); Tensor sq = variance ? b.zeros(shape) : null) {
                        for (int s0 = 0; s0 < samples; s0 += sb) {
                            int scnt = Math.min(sb, samples - s0);
                            float[] noisy = new float[scnt * cnt * row];
                            int[] cls = new int[scnt * cnt];
                            for (int s = 0; s < scnt; s++)
                                for (int i = 0; i < cnt; i++) {
                                    int img = i0 + i;
                                    float[] img0 = java.util.Arrays.copyOfRange(pixels, img * row, (img + 1) * row);
                                    float[] nz = src.noise(s0 + s, img, row, img0);
                                    if (nz.length != row) throw new SalientException("noise source returned " + nz.length + " values, need " + row);
                                    int off = (s * cnt + i) * row;
                                    for (int e = 0; e < row; e++) noisy[off + e] = img0[e] + nz[e];
                                    cls[s * cnt + i] = t[img][j];
                                }
                            float[] w = java.util.Arrays.copyOfRange(inv, 0, scnt);
                            try (Tensor xs = b.upload(noisy, withRows(batch.shape(), (long) scnt * cnt));
                                    Tape tape = Tape.record(model, b, xs, Set.of(inputName()))) {
                                Map<String, Tensor> g = tape.backward(cls, BackwardRules.standard());
                                try (Tensor grad = g.get(inputName())) {
                                    b.igAccumulate(grad, w, mean);
                                    if (variance) {
                                        b.binary(BinaryOp.MUL, grad, grad, grad);
                                        b.igAccumulate(grad, w, sq);
                                    }
                                }
                            }
                        }
                        if (variance) {
                            // var = E[g^2] - E[g]^2, written into mean
                            b.binary(BinaryOp.MUL, mean, mean, mean);
                            b.binary(BinaryOp.SUB, sq, mean, mean);
                        }
                        float[] h = mean.toArray();
                        for (int i = 0; i < cnt; i++) {
                            int img = i0 + i, r = img * k + j;
                            System.arraycopy(h, i * row, values, r * row, row);
                            images[r] = img;
                            classes[r] = t[img][j];
                            scores[r] = fx[img * nc + t[img][j]];
                        }
                    }
                }
            }
        }
        return new Attribution(values, withRows(batch.shape(), (long) n * k), Attribution.Layout.INPUT, images, classes,
                scores, null);
    }

    private static NoiseSource gaussian(Options o) {
        return (sample, image, size, px) -> {
            float sd;
            if (o.stdev() != null) sd = o.stdev();
            else {
                float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
                for (float v : px) {
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                }
                sd = o.stdevFraction() * (hi - lo);
            }
            SplittableRandom r = new SplittableRandom(o.seed() * 1_000_003L + (long) sample * 65_537L + image);
            float[] z = new float[size];
            for (int i = 0; i < size; i += 2) {
                // Box-Muller pair
                double u1 = 1.0 - r.nextDouble(), u2 = r.nextDouble();
                double rad = Math.sqrt(-2 * Math.log(u1));
                z[i] = (float) (sd * rad * Math.cos(2 * Math.PI * u2));
                if (i + 1 < size) z[i + 1] = (float) (sd * rad * Math.sin(2 * Math.PI * u2));
            }
            return z;
        };
    }
}
