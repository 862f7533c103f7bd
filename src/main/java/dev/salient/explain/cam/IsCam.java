package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.model.Model;

/**
 * IS-CAM (Naidu et al. 2020, arXiv:2010.03023) with torch-cam's ISCAM weights: sample s of S
 * (s = 0..S−1) scales the masked image by the cumulative coefficient c_s = Σ_{j=1}^{s+1} j/S
 * (1/S, 3/S, 6/S, ...), w = softmax_k((1/S) Σ_s y_t(c_s · U_k ⊙ x)), then the CAM pipeline
 * ({@link ScoreSamplingCam}). Deterministic. Default 10 samples.
 * <pre>{@code
 * Attribution a = new IsCam(model, "auto", 10).explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class IsCam extends ScoreSamplingCam {
    public static final int DEFAULT_SAMPLES = 10;
    public static final MethodSpec SPEC = MethodSpec.cam("iscam",
            "torch-cam ISCAM: `w = softmax_k mean_s y_t(c_s U_k x)`, U_k the upsampled min-max map, c_s = sum_{j<=s+1} j/S "
                    + "(default 10 samples)", IsCam::new).withOptions(MethodOption.SAMPLES);

    public IsCam(Model model, String layer, int samples) {
        super(model, layer, samples);
    }

    public IsCam(Model model, MethodOptions o) {
        this(model, o.get(MethodOption.LAYER), MethodOption.samplesOr(o, DEFAULT_SAMPLES));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    /** c_s = Σ_{j=1}^{s+1} j/S, accumulated in double as torch-cam's Python float. */
    static double coefficient(int sample, int samples) {
        double c = 0;
        for (int j = 0; j <= sample; j++) c += (double) (j + 1) / samples;
        return c;
    }

    @Override
    protected void perturb(Backend b, int image, int sample, int k0, int count, int channels, Tensor u) {
        b.axpby(0f, u, (float) coefficient(sample, samples), u);
    }
}
