package dev.salient.cli;

import dev.salient.engine.SalientException;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.gradient.NoiseTunnel;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * {@code --noise-tunnel smoothgrad|smoothgrad_sq|vargrad}: Captum's NoiseTunnel
 * over the chosen method ({@code @Mixin NoiseTunnelOptions tunnel;}). Each of
 * {@code --nt-samples} noisy copies of an image is {@code x + N(0, stdev²)} per
 * element, with Captum's defaults (5 samples, stdev 1.0); the noise is the
 * {@code --nt-seed}'s Philox stream made on the backend, so a run gives the same
 * bytes at any batch size or memory budget.
 */
public final class NoiseTunnelOptions {
    @Option(names = "--noise-tunnel", paramLabel = "smoothgrad|smoothgrad_sq|vargrad",
            description = "Wrap the method in Captum's NoiseTunnel: the mean, mean of squares or variance of its maps "
                    + "over noisy copies of each input (gradient methods with input-shaped maps, and CAMs).")
    String type;

    @Option(names = "--nt-samples", paramLabel = "N", description = "Noisy copies per image (default: 5, as Captum).")
    Integer samples;

    @Option(names = "--nt-stdev", paramLabel = "S",
            description = "Standard deviation of the Gaussian noise, in the model's input units (default: 1.0, as Captum).")
    Float stdev;

    @Option(names = "--nt-seed", paramLabel = "N", description = "Seed of the noise (default: 0).")
    Long seed;

    static final int DEFAULT_SAMPLES = 5;
    static final float DEFAULT_STDEV = 1.0f;

    /** Checks the flags (one line for a bad value, or nt flags without --noise-tunnel). */
    void validate() {
        if (type == null) {
            String stray = samples != null ? "--nt-samples" : stdev != null ? "--nt-stdev" : seed != null ? "--nt-seed" : null;
            if (stray != null) throw new SalientException(stray + " needs --noise-tunnel smoothgrad|smoothgrad_sq|vargrad");
            return;
        }
        NoiseTunnel.Mode mode = NoiseTunnel.Mode.parse(type);
        int n = samples == null ? DEFAULT_SAMPLES : samples;
        if (n < 1 || n > 1_000_000) throw new SalientException("--nt-samples must be in [1, 1000000], got " + n);
        if (mode == NoiseTunnel.Mode.VARGRAD && n < 2)
            throw new SalientException("--noise-tunnel vargrad needs --nt-samples >= 2 for a variance, got " + n);
        float sd = stdev == null ? DEFAULT_STDEV : stdev;
        if (!(sd >= 0) || !Float.isFinite(sd)) throw new SalientException("--nt-stdev must be finite and >= 0, got " + sd);
    }

    /** Whether a noise tunnel was asked for. */
    boolean given() {
        return type != null;
    }

    /** The method itself, or the noise tunnel over it. */
    Explainer wrap(MethodSpec spec, Explainer method) {
        validate();
        if (type == null) return method;
        NoiseTunnel.checkWraps(spec, method);
        return NoiseTunnel.over(method, NoiseTunnel.Mode.parse(type)).withOptions(options());
    }

    NoiseTunnel.Options options() {
        return NoiseTunnel.Options.samples(samples == null ? DEFAULT_SAMPLES : samples)
                .withSeed(seed == null ? 0L : seed).withStdev(stdev == null ? DEFAULT_STDEV : stdev);
    }

    /** The tunnel's settings as report.json records them (empty without one). */
    Map<String, Object> report() {
        Map<String, Object> m = new LinkedHashMap<>();
        if (type == null) return m;
        NoiseTunnel.Options o = options();
        m.put("type", NoiseTunnel.Mode.parse(type).id());
        m.put("samples", o.samples());
        m.put("stdev", o.stdev());
        m.put("seed", o.seed());
        return m;
    }
}
