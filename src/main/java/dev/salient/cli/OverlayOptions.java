package dev.salient.cli;

import dev.salient.report.AttributionVisual;
import dev.salient.report.Colormap;
import dev.salient.report.OverlayStyle;
import java.util.Locale;
import picocli.CommandLine.Option;

/**
 * How overlays are drawn, shared by the commands that write them
 * ({@code @Mixin OverlayOptions overlays;}). CAM maps are drawn over the input
 * with a colormap; signed input-shaped maps as Captum's visualize_image_attr
 * draws them ({@link OverlayStyle}).
 */
public final class OverlayOptions {
    @Option(names = "--colormap", defaultValue = "auto", paramLabel = "auto|jet|turbo|viridis|greens|reds|blues|rdwhgn",
            description = "Overlay colormap (default: ${DEFAULT-VALUE}: jet for CAM maps; for input-shaped maps Captum's "
                    + "for the sign: greens, reds, blues, or rdwhgn for all).")
    String colormap;

    @Option(names = "--alpha", defaultValue = "0.5", paramLabel = "A",
            description = "Opacity of the map over the input (default: ${DEFAULT-VALUE}).")
    float alpha;

    @Option(names = "--sign", defaultValue = "absolute", paramLabel = "positive|negative|absolute|all",
            description = "Input-shaped maps: which values to show, as Captum's sign (default: ${DEFAULT-VALUE}; "
                    + "all: a diverging colormap centred at 0).")
    String sign;

    @Option(names = "--style", defaultValue = "blended", paramLabel = "heat|blended|masked",
            description = "Input-shaped maps: Captum's heat_map, blended_heat_map (over the input in grey) or "
                    + "masked_image (default: ${DEFAULT-VALUE}).")
    String style;

    @Option(names = "--outlier-perc", defaultValue = "2", paramLabel = "P",
            description = "Input-shaped maps: the largest values holding P%% of the total magnitude are clipped "
                    + "to 1, as Captum's outlier_perc (default: ${DEFAULT-VALUE}).")
    double outlierPerc;

    /** The checked options (one line for a bad value). */
    public OverlayStyle style() {
        Colormap cm = colormap == null || colormap.trim().toLowerCase(Locale.ROOT).equals("auto") ? null
                : Colormap.parse(colormap.trim());
        return new OverlayStyle(cm, alpha, AttributionVisual.Sign.parse(sign), AttributionVisual.Style.parse(style),
                outlierPerc);
    }
}
