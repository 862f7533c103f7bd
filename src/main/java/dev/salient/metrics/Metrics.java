package dev.salient.metrics;

import dev.salient.engine.SalientException;
import java.util.List;
import java.util.stream.Collectors;

/** Every metric of {@code salient evaluate}, by name, with its family and what it needs. */
public final class Metrics {
    private Metrics() {}

    /**
     * One metric: its name, family (package), a one-line definition, whether it needs a
     * ground-truth region (boxes or masks), and whether a higher value is better (for the
     * report's best-per-column mark; null when neither is).
     */
    public record MetricSpec(String name, String family, String definition, boolean needsRegion, Boolean higherIsBetter) {}

    public static final List<MetricSpec> ALL = List.of(
            new MetricSpec("deletion", "faithfulness", "RISE deletion AUC: score as the most relevant pixels are set to 0", false, false),
            new MetricSpec("insertion", "faithfulness", "RISE insertion AUC: score as the most relevant pixels are revealed on a blurred image", false, true),
            new MetricSpec("morf", "faithfulness", "pixel flipping most-relevant-first AUC onto the --flip-baseline", false, false),
            new MetricSpec("lerf", "faithfulness", "pixel flipping least-relevant-first AUC onto the --flip-baseline", false, true),
            new MetricSpec("road", "faithfulness", "ROAD with noisy linear imputation: MoRF, LeRF and (LeRF-MoRF)/2 over 10..90 %", false, true),
            new MetricSpec("avgdrop", "faithfulness", "Average Drop: mean of max(0, Y-O)/Y, O the score of image x map", false, false),
            new MetricSpec("increase", "faithfulness", "Increase in Confidence: fraction of images with O > Y", false, true),
            new MetricSpec("win", "faithfulness", "Win: fraction of images where the method's drop is the lowest of those compared", false, true),
            new MetricSpec("pointing", "localisation", "pointing game: the map's maximum within 15 px of the region", true, true),
            new MetricSpec("energypointing", "localisation", "energy pointing game: share of the map's energy inside the region", true, true),
            new MetricSpec("infidelity", "robustness", "Captum infidelity, Gaussian perturbations (sigma 0.003)", false, false),
            new MetricSpec("sensitivity", "robustness", "Captum sensitivity-max, uniform noise of radius 0.02", false, false),
            new MetricSpec("sparseness", "complexity", "Quantus Sparseness (Gini index of |map|)", false, true),
            new MetricSpec("complexity", "complexity", "Quantus Complexity (entropy of |map|)", false, false),
            new MetricSpec("randomisation", "randomisation", "cascading parameter randomisation: Spearman and SSIM per layer", false, false));

    public static MetricSpec get(String name) {
        for (MetricSpec m : ALL) if (m.name().equals(name)) return m;
        throw new SalientException("unknown metric '" + name + "' (known: "
                + ALL.stream().map(MetricSpec::name).collect(Collectors.joining(", ")) + ")");
    }
}
