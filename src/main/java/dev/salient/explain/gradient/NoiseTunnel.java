package dev.salient.explain.gradient;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.Target;
import dev.salient.explain.core.Driver;
import dev.salient.model.Model;
import dev.salient.model.ops.TensorViews;
import java.util.Arrays;
import java.util.List;

/**
 * Captum's NoiseTunnel over any method: the mean (SmoothGrad, Smilkov et al. 2017,
 * arXiv:1706.03825), the mean of squares E[a²] (Captum's smoothgrad_sq) or the
 * variance E[a²] − E[a]² (VarGrad, Adebayo et al. 2018) of the wrapped method's
 * attribution over inputs with added Gaussian noise.
 * {@code smoothgrad} and {@code vargrad} wrap the plain gradient ∂y_t/∂x;
 * {@link #over} wraps any method (SmoothGrad of IG, SmoothGrad-CAM++). The
 * target classes are those of the clean images; the noise is seeded and does not
 * depend on how the work is chunked.
 * <pre>{@code
 * var sg = NoiseTunnel.smoothGrad(model);
 * Attribution a = sg.explain(Engine.cpu(), batch, Target.top1(), NoiseTunnel.Options.samples(25).withSeed(7));
 * Attribution sgIg = NoiseTunnel.over(new IntegratedGradients(model), NoiseTunnel.Mode.SMOOTHGRAD)
 *         .explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class NoiseTunnel extends Explainer {
    public static final MethodOption<Integer> SAMPLES = MethodOption.SAMPLES;
    static final int DEFAULT_SAMPLES = 25;
    public static final MethodOption<Float> NOISE_STD = MethodOption.floatIn("--noise-std", "S", null, 0f, Float.MAX_VALUE,
            "Noise standard deviation (default: 0.15 x each image's max-min for smoothgrad and vargrad, 0 for gradientshap, "
                    + "2.0 for sscam).")
            .reportedAs(v -> v == null ? "method default" : (Object) v);

    public static final MethodSpec SMOOTHGRAD = MethodSpec.gradient("smoothgrad",
            "mean of `dy_t/dx` over seeded Gaussian noise (default 25 samples, std 0.15 x (max-min))",
            (m, o) -> smoothGrad(m).withOptions(options(o))).withOptions(SAMPLES, NOISE_STD, MethodOption.SEED);
    public static final MethodSpec VARGRAD = MethodSpec.gradient("vargrad",
            "variance of `dy_t/dx` over seeded Gaussian noise (default 25 samples, std 0.15 x (max-min))",
            (m, o) -> {
                int n = MethodOption.samplesOr(o, DEFAULT_SAMPLES);
                if (n < 2) throw new SalientException("vargrad needs --samples >= 2 for a variance, got " + n);
                return varGrad(m).withOptions(options(o));
            }).withOptions(SAMPLES, NOISE_STD, MethodOption.SEED);

    /** The reduction over the noise samples (Captum's nt_type). */
    public enum Mode {
        SMOOTHGRAD("smoothgrad"), SMOOTHGRAD_SQ("smoothgrad_sq"), VARGRAD("vargrad");

        private final String id;

        Mode(String id) {
            this.id = id;
        }

        /** Captum's name: smoothgrad, smoothgrad_sq or vargrad. */
        public String id() {
            return id;
        }

        public static Mode parse(String s) {
            String v = s == null ? "" : s.trim().toLowerCase(java.util.Locale.ROOT);
            for (Mode m : values()) if (m.id.equals(v)) return m;
            throw new SalientException("--noise-tunnel must be smoothgrad, smoothgrad_sq or vargrad, got '" + s + "'");
        }
    }

    /**
     * Whether the noise tunnel may wrap a method of this spec: an input-shaped
     * gradient method, or a CAM (SmoothGrad-CAM++ and its kin: the mean map over
     * noisy inputs); not a method that is itself a noise tunnel. Refusals are one line.
     */
    public static void checkWraps(MethodSpec s, Explainer method) {
        if (method instanceof NoiseTunnel)
            throw new SalientException(s.name() + " is already a noise tunnel; --noise-tunnel wraps another method");
        boolean inputGradient = s.family() == MethodSpec.Family.GRADIENT && s.layout() == Attribution.Layout.INPUT;
        if (!inputGradient && s.family() != MethodSpec.Family.CAM)
            throw new SalientException("--noise-tunnel wraps gradient methods with input-shaped maps and CAM methods; "
                    + s.name() + " is a " + s.family().id() + " method with " + s.layout().describe() + " maps");
    }

    /** Noise for (sample, image): {@code size} values added to the image. For tests against recorded noise. */
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

    private static Options options(MethodOptions o) {
        Options r = Options.samples(MethodOption.samplesOr(o, DEFAULT_SAMPLES)).withSeed(o.get(MethodOption.SEED));
        return o.get(NOISE_STD) == null ? r : r.withStdev(o.get(NOISE_STD));
    }

    private final Explainer inner;
    private final Mode mode;
    private final Options options;
    private final MethodSpec spec;

    private NoiseTunnel(Explainer inner, Mode mode, Options options, MethodSpec spec) {
        super(inner.model());
        this.inner = inner;
        this.mode = mode;
        this.options = options;
        this.spec = spec;
    }

    /** SmoothGrad: the mean gradient over noisy inputs. */
    public static NoiseTunnel smoothGrad(Model model) {
        return new NoiseTunnel(new Gradient(model), Mode.SMOOTHGRAD, Options.defaults(), SMOOTHGRAD);
    }

    /** VarGrad: the variance of the gradient over noisy inputs. */
    public static NoiseTunnel varGrad(Model model) {
        return new NoiseTunnel(new Gradient(model), Mode.VARGRAD, Options.defaults(), VARGRAD);
    }

    /** The noise tunnel over any method, e.g. SmoothGrad of IG; its layout is the method's. */
    public static NoiseTunnel over(Explainer method, Mode mode) {
        MethodSpec s = method.spec();
        String name = mode.id() + "(" + s.name() + ")";
        MethodSpec spec = new MethodSpec(name, s.family(), s.layout(), "noise tunnel over " + s.name(), List.of(),
                (m, o) -> over(method, mode), MethodSpec.NO_AXIOM);
        return new NoiseTunnel(method, mode, Options.defaults(), spec);
    }

    /** A copy with these options. */
    public NoiseTunnel withOptions(Options o) {
        if (o.samples() < 1) throw new SalientException(name() + " needs at least 1 sample, got " + o.samples());
        if (mode == Mode.VARGRAD && o.samples() < 2)
            throw new SalientException(name() + " needs at least 2 samples for a variance, got " + o.samples());
        NoiseTunnel t = new NoiseTunnel(inner, mode, o, spec);
        t.memoryBudget(memoryBudget());
        return t;
    }

    @Override
    public MethodSpec spec() {
        return spec;
    }

    /** Sets the budget of this tunnel and of the method it wraps. */
    @Override
    public NoiseTunnel memoryBudget(long bytes) {
        super.memoryBudget(bytes);
        inner.memoryBudget(bytes);
        return this;
    }

    public Options options() {
        return options;
    }

    public Attribution explain(Backend b, Tensor batch, Target target, Options o) {
        return withOptions(o).explain(b, batch, target);
    }

    @Override
    public Attribution explain(Backend b, Tensor batch, Target target) {
        spec().requireSpatialRank(batch.shape());
        if (batch.rank() != 4)
            throw new SalientException("attribution expects an (N,C,H,W) batch, got shape " + Shapes.str(batch.shape()));
        int n = (int) batch.dim(0), k = target.mapsPerImage();
        float[] logits = Driver.forwardChunked(model, b, batch, n);
        int nc = logits.length / n;
        int[][] t = target.resolve(logits, n, nc);
        float[] scores = new float[n * k];
        int[] images = new int[n * k], classes = new int[n * k];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < k; j++) {
                scores[i * k + j] = logits[i * nc + t[i][j]];
                images[i * k + j] = i;
                classes[i * k + j] = t[i][j];
            }
        try (Tensor v = tunnel(b, batch, t)) {
            return new Attribution(v.toArray(), v.shape(), spec.layout(), images, classes, scores, null);
        }
    }

    @Override
    public Driver.Rows explainRows(Backend b, Tensor batch, int[][] classes) {
        int n = (int) batch.dim(0), k = classes[0].length;
        int[] images = new int[n * k], targets = new int[n * k];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < k; j++) {
                images[i * k + j] = i;
                targets[i * k + j] = classes[i][j];
            }
        float[] scores = new float[n * k];
        Arrays.fill(scores, Float.NaN);
        return new Driver.Rows(tunnel(b, batch, classes), images, targets, scores);
    }

    /** The reduced rows (n·k, row...) on the backend. */
    private Tensor tunnel(Backend b, Tensor batch, int[][] t) {
        int n = (int) batch.dim(0), k = t[0].length, samples = options.samples();
        long rowLen = batch.numel() / n;
        // blocks of (samples x images) noisy inputs: the inner method chunks each block again
        long blockRows = Math.max(1, Math.min((long) n * samples, memoryBudget() / (16 * rowLen * (1 + k))));
        int nb = (int) Math.min(n, blockRows);
        int sb = (int) Math.max(1, Math.min(samples, blockRows / nb));
        float[] w = new float[samples];
        Arrays.fill(w, 1f / samples);
        float[] pixels = options.source() != null ? batch.toArray() : null;
        Tensor out = null;
        try {
            for (int i0 = 0; i0 < n; i0 += nb) {
                int cnt = Math.min(nb, n - i0);
                int[][] cls = new int[sb * cnt][];
                Tensor mean = null, sq = null;
                try {
                    for (int s0 = 0; s0 < samples; s0 += sb) {
                        int scnt = Math.min(sb, samples - s0);
                        for (int s = 0; s < scnt; s++) for (int i = 0; i < cnt; i++) cls[s * cnt + i] = t[i0 + i];
                        try (Tensor noisy = noisy(b, batch, pixels, i0, cnt, s0, scnt);
                                Tensor g = inner.explainRows(b, noisy, Arrays.copyOf(cls, scnt * cnt)).values()) {
                            if (mean == null) {
                                long[] shape = Driver.withRows(g.shape(), (long) cnt * k);
                                mean = b.zeros(shape);
                                if (mode == Mode.VARGRAD) sq = b.zeros(shape);
                            }
                            float[] ws = Arrays.copyOfRange(w, s0, s0 + scnt);
                            if (mode == Mode.SMOOTHGRAD_SQ) b.binary(BinaryOp.MUL, g, g, g);   // E[a^2] only
                            b.weightedSum(g, ws, mean);
                            if (mode == Mode.VARGRAD) {
                                b.binary(BinaryOp.MUL, g, g, g);
                                b.weightedSum(g, ws, sq);
                            }
                        }
                    }
                    if (mode == Mode.VARGRAD) {
                        // var = E[a^2] - E[a]^2, written into mean
                        b.binary(BinaryOp.MUL, mean, mean, mean);
                        b.binary(BinaryOp.SUB, sq, mean, mean);
                    }
                    if (out == null) out = b.allocate(Driver.withRows(mean.shape(), (long) n * k));
                    long len = mean.numel();
                    b.copyRange(mean, 0, out, (long) i0 * k * (len / ((long) cnt * k)), len);
                } finally {
                    if (mean != null) mean.close();
                    if (sq != null) sq.close();
                }
            }
            Tensor r = out;
            out = null;
            return r;
        } finally {
            if (out != null) out.close();
        }
    }

    /**
     * Noisy inputs for samples [s0, s0+scnt) of images [i0, i0+cnt): (scnt·cnt, ...), row
     * s·cnt + i = x_i + σ_i z. z is element ((s·n + i)·D + j) of the seed's Philox stream on
     * the backend, so the noise of (sample, image) does not depend on the chunking; σ_i is
     * the given std, or 0.15 · (max − min) of image i, reduced on the backend.
     */
    Tensor noisy(Backend b, Tensor batch, float[] pixels, int i0, int cnt, int s0, int scnt) {
        if (options.source() != null) return recordedNoise(b, batch, pixels, i0, cnt, s0, scnt);
        int n = (int) batch.dim(0);
        long d = batch.numel() / n;
        Tensor out = b.allocate(Driver.withRows(batch.shape(), (long) scnt * cnt));
        try (Tensor xi = Driver.rows(b, batch, i0, cnt); Tensor sd = b.allocate(cnt, 1)) {
            if (options.stdev() != null) b.fill(sd, options.stdev());
            else
                try (Tensor lo = b.allocate(cnt, 1)) {
                    b.reduceRows(dev.salient.engine.Reduction.MAX, xi, sd);
                    b.reduceRows(dev.salient.engine.Reduction.MIN, xi, lo);
                    b.axpby(-1f, lo, 1f, sd);
                    b.axpby(0f, lo, options.stdevFraction(), sd);
                }
            if (cnt == n) {
                b.randomNormal(options.seed(), (long) s0 * n * d, out);
            } else {
                try (Tensor z = b.allocate(cnt, d)) {
                    for (int s = 0; s < scnt; s++) {
                        b.randomNormal(options.seed(), ((long) (s0 + s) * n + i0) * d, z);
                        b.copyRange(z, 0, out, (long) s * cnt * d, (long) cnt * d);
                    }
                }
            }
            Tensor o3 = TensorViews.view(out, scnt, cnt, d);
            b.binary(BinaryOp.MUL, o3, TensorViews.view(sd, 1, cnt, 1), o3);
            b.binary(BinaryOp.ADD, o3, TensorViews.view(xi, 1, cnt, d), o3);
            return out;
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
    }

    /** Noise from a {@link NoiseSource} (recorded noise in tests), added on the host. */
    private Tensor recordedNoise(Backend b, Tensor batch, float[] pixels, int i0, int cnt, int s0, int scnt) {
        int n = (int) batch.dim(0), row = Math.toIntExact(batch.numel() / n);
        float[] noisy = new float[scnt * cnt * row];
        for (int s = 0; s < scnt; s++)
            for (int i = 0; i < cnt; i++) {
                int img = i0 + i;
                float[] img0 = Arrays.copyOfRange(pixels, img * row, (img + 1) * row);
                float[] nz = options.source().noise(s0 + s, img, row, img0);
                if (nz.length != row) throw new SalientException("noise source returned " + nz.length + " values, need " + row);
                int off = (s * cnt + i) * row;
                for (int e = 0; e < row; e++) noisy[off + e] = img0[e] + nz[e];
            }
        return b.upload(noisy, Driver.withRows(batch.shape(), (long) scnt * cnt));
    }

    /** The raw gradient ∂y_t/∂x (Captum's Saliency with abs=False), the method SmoothGrad and VarGrad wrap. */
    static final class Gradient extends GradientExplainer {
        static final MethodSpec SPEC = MethodSpec.gradient("gradient", "`dy_t/dx`", (m, o) -> new Gradient(m));

        Gradient(Model model) {
            super(model);
        }

        @Override
        public MethodSpec spec() {
            return SPEC;
        }

        @Override
        protected void finish(Backend b, Tensor x, Tensor grad) {}
    }
}
