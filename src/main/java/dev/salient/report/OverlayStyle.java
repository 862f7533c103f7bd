package dev.salient.report;

import dev.salient.engine.SalientException;
import dev.salient.explain.Attribution;
import dev.salient.report.AttributionVisual.Sign;
import dev.salient.report.AttributionVisual.Style;
import java.awt.image.BufferedImage;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How every command draws an attribution row, chosen by the method's output
 * layout (never by its name):
 * <ul>
 *   <li>{@code CAM} (H,W) in [0,1]: the colormap (jet by default) at {@code alpha}
 *       over the input, as pytorch-grad-cam's show_cam_on_image;
 *   <li>{@code INPUT} (C,H,W), signed: as Captum's visualize_image_attr, with
 *       {@code sign}, {@code style} and {@code outlierPerc} ({@link AttributionVisual});
 *       the colormap defaults to Captum's for the sign;
 *   <li>{@code LAYER} (K,h,w): sum of |a| over K at the layer's resolution, no photo.
 * </ul>
 * The result is made readable ({@link Overlay#readable}): at least 224 px on
 * the short side, by nearest-neighbour replication.
 *
 * @param colormap    null: jet for CAM and layer maps, the sign's Captum colormap for input maps
 * @param alpha       the map's opacity over the input, in [0,1] (Captum's alpha_overlay, 0.5)
 * @param sign        which signs of an input-shaped map are shown
 * @param style       heat map, blended heat map or masked image
 * @param outlierPerc the share (%) of the total magnitude treated as outliers (Captum's 2)
 */
public record OverlayStyle(Colormap colormap, float alpha, Sign sign, Style style, double outlierPerc) {
    public OverlayStyle {
        if (!(alpha >= 0 && alpha <= 1)) throw new SalientException("--alpha must be in [0,1], got " + alpha);
        if (sign == null || style == null) throw new SalientException("an overlay needs a sign and a style");
        AttributionVisual.check(sign, style, outlierPerc);
    }

    /** Captum's defaults (sign absolute, outliers 2%) with the blended heat map, alpha 0.5, jet for CAMs. */
    public static OverlayStyle defaults() {
        return new OverlayStyle(null, 0.5f, Sign.ABSOLUTE, Style.BLENDED, 2);
    }

    /**
     * Draws one row of an attribution and scales it up to be readable.
     *
     * @param rowShape the row's shape: (H,W) for CAM, (C,H,W) for input, (K,h,w) for layer maps
     * @param input    the input as an image at its size, or null (CAM maps then show the colormap alone;
     *                 input maps fall back to the heat style)
     */
    public BufferedImage render(Attribution.Layout layout, float[] row, long[] rowShape, BufferedImage input) {
        return Overlay.readable(renderAtInputSize(layout, row, rowShape, input));
    }

    /** As {@link #render}, at the map's own size. */
    public BufferedImage renderAtInputSize(Attribution.Layout layout, float[] row, long[] rowShape, BufferedImage input) {
        switch (layout) {
            case CAM -> {
                int h = (int) rowShape[rowShape.length - 2], w = (int) rowShape[rowShape.length - 1];
                Colormap cm = colormap == null ? Colormap.JET : colormap;
                return Overlay.render(input, row, h, w, cm, input == null ? 1f : alpha);
            }
            case MAP -> {
                // a raw map (RISE): min-max per map for display; attributions.npy keeps the raw values
                int h = (int) rowShape[rowShape.length - 2], w = (int) rowShape[rowShape.length - 1];
                Colormap cm = colormap == null ? Colormap.JET : colormap;
                return Overlay.render(input, Overlay.heatFromRawMap(row), h, w, cm, input == null ? 1f : alpha);
            }
            case LAYER -> {
                int k = (int) rowShape[0], h = (int) rowShape[1], w = (int) rowShape[2];
                Colormap cm = colormap == null ? Colormap.JET : colormap;
                // a layer-shaped map has the layer's resolution, not the image's: no photo underneath
                return Overlay.render(null, Overlay.heatFromInputMap(row, k, h, w), h, w, cm, 1f);
            }
            default -> {
                int c = (int) rowShape[0], h = (int) rowShape[1], w = (int) rowShape[2];
                float[] norm = AttributionVisual.normalize(row, c, h, w, sign, outlierPerc);
                Style st = input == null ? Style.HEAT : style;
                return AttributionVisual.render(input, norm, h, w, sign, st, colormap, alpha);
            }
        }
    }

    /** The options as report.json records them. */
    public Map<String, Object> report() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("colormap", colormap == null ? "auto" : colormap.name().toLowerCase(java.util.Locale.ROOT));
        m.put("alpha", alpha);
        m.put("sign", sign.cli());
        m.put("style", style.cli());
        m.put("outlier_perc", outlierPerc);
        return m;
    }
}
