package dev.salient.explain.gradient;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Baselines;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * GradientSHAP (Lundberg and Lee 2017) as Captum's GradientShap: the mean over S samples of
 * {@code (x̃ − b)·∇f(b + α(x̃ − b))}, b drawn with replacement from the baselines
 * ({@code --baselines}), α ~ U(0,1), x̃ = x + N(0, σ²) ({@code --noise-std}, default 0),
 * S = {@code --samples} (default 25). Unlike Captum, whose draws come from numpy's and
 * torch's global generators, every draw is a function of (seed, image, sample): the baseline
 * index and α from a SplitMix64 hash ({@link #draw}), the noise from the backend's Philox
 * stream at offset (image·S + sample)·D, so the same seed gives the same bytes whatever the
 * batch is split into.
 * <pre>{@code
 * var gs = new GradientShap(model, Baselines.parse("refs.npy", 0), 25, 0f, 7L);
 * Attribution a = gs.explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class GradientShap extends Explainer {
    public static final MethodSpec SPEC = MethodSpec.gradient("gradientshap",
            "mean over samples of `(x~-b) * dy_t/dx at b+a(x~-b)`, b from `--baselines`, a ~ U(0,1), "
                    + "x~ = x + N(0, std^2); seeded draws per (image, sample)",
            GradientShap::new).withOptions(Baselines.OPTION, NoiseTunnel.SAMPLES, NoiseTunnel.NOISE_STD, MethodOption.SEED);

    /** One sample's draws: the baseline index, α, and the additive noise (null: none). */
    public record Draw(int baseline, float alpha, float[] noise) {}

    /** Draws for (image, sample); a test hook that replaces the seeded ones. */
    @FunctionalInterface
    public interface Draws {
        Draw draw(int image, int sample, int baselines, int size);
    }

    private final Baselines baselines;
    private final int samples;
    private final float stdev;
    private final long seed;
    private final Draws draws;

    public GradientShap(Model model, Baselines baselines, int samples, float stdev, long seed) {
        this(model, baselines, samples, stdev, seed, null);
    }

    /** With {@code draws} replacing the seeded baseline choices, α and noise (tests). */
    public GradientShap(Model model, Baselines baselines, int samples, float stdev, long seed, Draws draws) {
        super(model);
        if (samples < 1) throw new SalientException("gradientshap needs --samples >= 1, got " + samples);
        if (!(stdev >= 0) || !Float.isFinite(stdev)) throw new SalientException("noise std must be finite and >= 0, got " + stdev);
        this.baselines = baselines;
        this.samples = samples;
        this.stdev = stdev;
        this.seed = seed;
        this.draws = draws;
    }

    /** Samples when --samples is not given (the 25; Captum's n_samples default is 5). */
    static final int DEFAULT_SAMPLES = 25;

    /** From spec options: --baselines (required), --samples, --noise-std (default 0), --seed. */
    public GradientShap(Model model, MethodOptions o) {
        this(model, Baselines.parse(o.get(Baselines.OPTION), o.get(MethodOption.SEED)),
                MethodOption.samplesOr(o, DEFAULT_SAMPLES),
                o.get(NoiseTunnel.NOISE_STD) == null ? 0f : o.get(NoiseTunnel.NOISE_STD), o.get(MethodOption.SEED));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    /**
     * The seeded baseline index and α of (image, sample): two SplitMix64 outputs of the key
     * {@code seed ⊕ image·0xD1B54A32D192ED03 ⊕ sample·0x9E3779B97F4A7C15}, each turned into
     * a double in [0,1) from its top 53 bits; index = ⌊u₁·M⌋, α = (float) u₂.
     */
    public static Draw draw(long seed, int image, int sample, int m) {
        long key = seed ^ (image * 0xD1B54A32D192ED03L) ^ (sample * 0x9E3779B97F4A7C15L);
        double u1 = (mix64(key + 0x9E3779B97F4A7C15L) >>> 11) * 0x1.0p-53;
        double u2 = (mix64(key + 2 * 0x9E3779B97F4A7C15L) >>> 11) * 0x1.0p-53;
        return new Draw(Math.min(m - 1, (int) (u1 * m)), (float) u2, null);
    }

    /** SplitMix64's finaliser (Steele, Lea and Flood 2014). */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        Tensor refs = batch.rank() == 4 ? baselines.build(backend, batch.shape()) : null;
        String in = inputName();
        int m = baselines.count();
        return new Expansion() {
            @Override
            public Set<String> wrt() {
                return Set.of(in);
            }

            @Override
            public int perImage() {
                return samples;
            }

            @Override
            public long[] rowShape(long[] inputShape) {
                return Arrays.copyOfRange(inputShape, 1, inputShape.length);
            }

            @Override
            public Chunk begin(Backend b, Tensor x, int firstImage) {
                int cnt = (int) x.dim(0);
                long row = x.numel() / cnt;
                return new Chunk() {
                    private Tensor diffs;

                    /** Row s·cnt + i: b + α(x̃ − b); keeps x̃ − b for the reduction. */
                    @Override
                    public void expand(Backend bb, int s0, int count, Tensor points) {
                        closeDiffs();
                        diffs = bb.allocate(Arrays.copyOf(points.shape(), points.rank()));
                        try (Tensor xt = bb.allocate(1, row); Tensor z = bb.allocate(1, row); Tensor p = bb.allocate(1, row)) {
                            for (int s = 0; s < count; s++)
                                for (int i = 0; i < cnt; i++) {
                                    int img = firstImage + i, smp = s0 + s;
                                    long r = ((long) s * cnt + i) * row;
                                    Draw d = draws != null ? draws.draw(img, smp, m, (int) row) : draw(seed, img, smp, m);
                                    if (d.baseline() < 0 || d.baseline() >= m)
                                        throw new SalientException("baseline index " + d.baseline() + " out of range [0," + m + ")");
                                    bb.copyRange(x, i * row, xt, 0, row);
                                    if (d.noise() != null) {
                                        try (Tensor nz = bb.upload(d.noise(), 1, row)) {
                                            bb.binary(BinaryOp.ADD, xt, nz, xt);
                                        }
                                    } else if (draws == null && stdev > 0) {
                                        bb.randomNormal(seed, ((long) img * samples + smp) * row, z);
                                        bb.axpby(stdev, z, 1f, xt);
                                    }
                                    // x~ - b, then b + alpha (x~ - b)
                                    bb.copyRange(refs, d.baseline() * row, p, 0, row);
                                    bb.binary(BinaryOp.SUB, xt, p, xt);
                                    bb.copyRange(xt, 0, diffs, r, row);
                                    bb.axpby(d.alpha(), xt, 1f, p);
                                    bb.copyRange(p, 0, points, r, row);
                                }
                        }
                    }

                    @Override
                    public Tensor accumulate(Backend bb, Tape tape, List<Map<String, Tensor>> grads, int s0, int count, Tensor acc) {
                        Tensor a = acc != null ? acc : bb.zeros(x.shape());
                        Tensor g = grads.get(0).get(in);
                        bb.binary(BinaryOp.MUL, diffs, g, g);
                        float[] w = new float[count];
                        Arrays.fill(w, 1f / samples);
                        bb.weightedSum(g, w, a);
                        return a;
                    }

                    private void closeDiffs() {
                        if (diffs != null) diffs.close();
                        diffs = null;
                    }

                    @Override
                    public void close() {
                        closeDiffs();
                    }
                };
            }

            @Override
            public void close() {
                if (refs != null) refs.close();
            }
        };
    }
}
