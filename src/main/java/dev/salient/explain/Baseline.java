package dev.salient.explain;

import dev.salient.engine.Backend;
import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The reference input x' of Integrated Gradients.
 * <ul>
 *   <li>{@link #zeros()} (default), {@link #constant(float)};
 *   <li>{@link #uniform(float, float, long)}: seeded uniform noise on [lo, hi);
 *   <li>{@link #blur(float)}: the input blurred by a Gaussian of the given sigma (pixels);
 *   <li>{@link #of(float[], long...)}: a user tensor, (1,C,H,W) broadcast or (N,C,H,W).
 * </ul>
 * CLI forms: {@code zeros}, {@code constant:V}, {@code uniform[:SEED]}, {@code blur[:SIGMA]}, a path to an NPY.
 */
public abstract class Baseline {
    /** Builds x' for the batch x (N,C,H,W), on x's backend; the caller owns it. */
    public abstract Tensor build(Backend b, Tensor x);

    public abstract String describe();

    /** Whether {@link #build} gives every image of a batch the same baseline (DeepLIFT then runs it once per chunk). */
    public boolean sameForEveryImage() {
        return false;
    }

    /** Whether every element of {@link #build}'s baseline is 0 (the coalition methods then skip its conv). */
    public boolean isZero() {
        return false;
    }

    public static Baseline zeros() {
        return constant(0f);
    }

    public static Baseline constant(float v) {
        if (!Float.isFinite(v)) throw new SalientException("constant baseline must be finite, got " + v);
        return new Baseline() {
            @Override
            public Tensor build(Backend b, Tensor x) {
                Tensor t = b.allocate(x.shape());
                b.fill(t, v);
                return t;
            }

            @Override
            public String describe() {
                return v == 0f ? "zeros" : "constant:" + v;
            }

            @Override
            public boolean isZero() {
                return v == 0f;
            }

            @Override
            public boolean sameForEveryImage() {
                return true;
            }
        };
    }

    public static Baseline uniform(float lo, float hi, long seed) {
        return new Baseline() {
            @Override
            public Tensor build(Backend b, Tensor x) {
                float[] v = new float[Math.toIntExact(x.numel())];
                SplittableRandom r = new SplittableRandom(seed);
                for (int i = 0; i < v.length; i++) v[i] = lo + (hi - lo) * (float) r.nextDouble();
                return b.upload(v, x.shape());
            }

            @Override
            public String describe() {
                return "uniform[" + lo + "," + hi + ")@" + seed;
            }
        };
    }

    /** Gaussian blur of the input, a depthwise convolution on the backend (zero padding, 3 sigma radius). */
    public static Baseline blur(float sigma) {
        if (!(sigma > 0) || !Float.isFinite(sigma)) throw new SalientException("blur baseline needs sigma > 0, got " + sigma);
        return new Baseline() {
            @Override
            public Tensor build(Backend b, Tensor x) {
                if (x.rank() != 4)
                    throw new SalientException("the blur baseline blurs 2-D images (N,C,H,W); this input has shape "
                            + Arrays.toString(x.shape()));
                int c = (int) x.dim(1);
                int rad = Math.max(1, (int) Math.ceil(3 * sigma));
                int k = 2 * rad + 1;
                float[] g1 = new float[k];
                double s = 0;
                for (int i = 0; i < k; i++) s += g1[i] = (float) Math.exp(-0.5 * (i - rad) * (i - rad) / (sigma * sigma));
                float[] w = new float[c * k * k];
                for (int ch = 0; ch < c; ch++)
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++) w[(ch * k + i) * k + j] = (float) (g1[i] * g1[j] / (s * s));
                Conv2dGeometry g = new Conv2dGeometry((int) x.dim(0), c, (int) x.dim(2), (int) x.dim(3), c, k, k, 1, 1,
                        rad, rad, rad, rad, 1, 1, c);
                try (Tensor wt = b.upload(w, c, 1, k, k)) {
                    Tensor y = b.allocate(x.shape());
                    b.conv2dForward(x, wt, null, y, g);
                    return y;
                }
            }

            @Override
            public String describe() {
                return "blur:" + sigma;
            }
        };
    }

    /** A user baseline: (1,C,H,W) is broadcast over the batch, (N,C,H,W) is used as is. */
    public static Baseline of(float[] values, long... shape) {
        long[] sh = shape.clone();
        if (Shapes.numel(sh) != values.length) throw new SalientException("baseline values do not fill shape " + Arrays.toString(sh));
        return new Baseline() {
            @Override
            public Tensor build(Backend b, Tensor x) {
                long[] xs = x.shape();
                boolean same = Arrays.equals(sh, xs);
                boolean one = sh.length == 4 && sh[0] == 1 && sh[1] == xs[1] && sh[2] == xs[2] && sh[3] == xs[3];
                if (!same && !one)
                    throw new SalientException("baseline shape " + Arrays.toString(sh) + " does not match the input "
                            + Arrays.toString(xs) + " (use (1,C,H,W) or (N,C,H,W))");
                if (same) return b.upload(values, xs);
                float[] v = new float[Math.toIntExact(x.numel())];
                for (int n = 0; n < xs[0]; n++) System.arraycopy(values, 0, v, n * values.length, values.length);
                return b.upload(v, xs);
            }

            @Override
            public String describe() {
                return "tensor" + Arrays.toString(sh);
            }

            @Override
            public boolean sameForEveryImage() {
                return sh.length == 4 && sh[0] == 1;
            }
        };
    }

    /**
     * The CLI forms: {@code zeros}, {@code constant:V}, {@code uniform[:SEED]} ({@code seed}
     * when no SEED is given), {@code blur[:SIGMA]}, or a path to an NPY file.
     */
    public static Baseline parse(String s, long seed) {
        String t = s.trim();
        try {
            if (t.equals("zeros")) return zeros();
            if (t.startsWith("constant:")) return constant(Float.parseFloat(t.substring(9)));
            if (t.equals("uniform")) return uniform(0f, 1f, seed);
            if (t.startsWith("uniform:")) return uniform(0f, 1f, Long.parseLong(t.substring(8)));
            if (t.equals("blur")) return blur(5f);
            if (t.startsWith("blur:")) return blur(Float.parseFloat(t.substring(5)));
        } catch (NumberFormatException e) {
            throw new SalientException("bad --baseline '" + s + "' (" + e.getMessage() + ")");
        }
        if (t.toLowerCase(java.util.Locale.ROOT).endsWith(".npy")) {
            dev.salient.io.NdArray a = dev.salient.io.Npy.read(java.nio.file.Path.of(t));
            if (a.firstNonFinite() >= 0) throw new SalientException(t + ": baseline contains NaN or infinite values");
            return of(a.data(), a.shape());
        }
        throw new SalientException("bad --baseline '" + s + "' (use zeros, constant:V, uniform[:SEED], blur[:SIGMA] or an .npy file)");
    }
}
