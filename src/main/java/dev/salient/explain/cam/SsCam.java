package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.gradient.NoiseTunnel;
import dev.salient.model.Model;

/**
 * SS-CAM (Wang et al. 2020, arXiv:2006.14255) with torch-cam's SSCAM weights: sample s adds
 * Gaussian noise δ ~ N(0, σ²) to every upsampled normalised mask, w = softmax_k((1/S) Σ_s
 * y_t((U_k + δ_{s,k}) ⊙ x)), then the CAM pipeline ({@link ScoreSamplingCam}). Defaults: 35
 * samples, σ = 2.0. Unlike torch-cam's global RNG (its issue #119) the noise is seeded: δ of
 * image i, sample s, channel k is σ times the elements [((i·S + s)·K + k)·H·W, +H·W) of the
 * backend's Philox stream of {@code --seed}, a function of (seed, image, sample) only, so the
 * same seed gives the same bytes whatever the chunking.
 * <pre>{@code
 * Attribution a = new SsCam(model, "auto", 35, 2f, 0L).explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class SsCam extends ScoreSamplingCam {
    public static final int DEFAULT_SAMPLES = 35;
    public static final float DEFAULT_STD = 2f;
    public static final MethodSpec SPEC = MethodSpec.cam("sscam",
            "torch-cam SSCAM: `w = softmax_k mean_s y_t((U_k + d_sk) x)`, U_k the upsampled min-max map, d ~ N(0, std^2) "
                    + "seeded (default 35 samples, std 2.0)", SsCam::new)
            .withOptions(MethodOption.SAMPLES, NoiseTunnel.NOISE_STD, MethodOption.SEED);

    private final float std;
    private final long seed;

    public SsCam(Model model, String layer, int samples, float std, long seed) {
        super(model, layer, samples);
        this.std = std;
        this.seed = seed;
    }

    public SsCam(Model model, MethodOptions o) {
        this(model, o.get(MethodOption.LAYER),
                MethodOption.samplesOr(o, DEFAULT_SAMPLES),
                o.get(NoiseTunnel.NOISE_STD) == null ? DEFAULT_STD : o.get(NoiseTunnel.NOISE_STD), o.get(MethodOption.SEED));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected void perturb(Backend b, int image, int sample, int k0, int count, int channels, Tensor u) {
        long hw = u.numel() / count;
        try (Tensor z = b.allocate(u.shape())) {
            b.randomNormal(seed, (((long) image * samples + sample) * channels + k0) * hw, z);
            b.axpby(std, z, 1f, u);
        }
    }
}
