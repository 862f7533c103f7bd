package dev.salient.report;

import dev.salient.engine.SalientException;
import java.awt.image.BufferedImage;
import java.util.Arrays;
import java.util.Locale;

/**
 * Signed input-shaped attributions (C,H,W) drawn as Captum's
 * {@code visualize_image_attr} draws them (captum/attr/_utils/visualization.py):
 * <ol>
 *   <li>the channels are summed;
 *   <li>the values of the chosen {@link Sign} are kept (positive: the positive
 *       part; negative: the negative part, shown by magnitude; absolute: |a|;
 *       all: both signs);
 *   <li>they are divided by the cumulative-sum threshold of their magnitudes at
 *       {@code 100 - outlierPerc} percent ({@link #cumulativeSumThreshold}: the
 *       largest values that together hold {@code outlierPerc}% of the total are
 *       outliers and become 1) and clipped to [-1, 1];
 *   <li>they are drawn in one {@link Style}: a heat map, a heat map blended over
 *       the greyscale input, or the input masked by the map.
 * </ol>
 * The default colormaps are Captum's: {@code greens} for positive, {@code reds}
 * for negative, {@code blues} for absolute and the diverging {@code rdwhgn}
 * centred at 0 for all. Example:
 * <pre>{@code
 * float[] norm = AttributionVisual.normalize(ig, 3, 224, 224, Sign.ALL, 2);
 * BufferedImage img = AttributionVisual.render(photo, norm, 224, 224, Sign.ALL, Style.BLENDED, null, 0.5f);
 * }</pre>
 */
public final class AttributionVisual {
    private AttributionVisual() {}

    /** Which values are shown (Captum's VisualizeSign). */
    public enum Sign {
        POSITIVE("positive", Colormap.GREENS), NEGATIVE("negative", Colormap.REDS),
        ABSOLUTE("absolute", Colormap.BLUES), ALL("all", Colormap.RDWHGN);

        private final String cli;
        private final Colormap defaultColormap;

        Sign(String cli, Colormap c) {
            this.cli = cli;
            this.defaultColormap = c;
        }

        public String cli() {
            return cli;
        }

        /** Captum's default colormap for this sign. */
        public Colormap defaultColormap() {
            return defaultColormap;
        }

        /** positive, negative, absolute (or Captum's absolute_value) or all. */
        public static Sign parse(String s) {
            String v = s == null ? "" : s.trim().toLowerCase(Locale.ROOT);
            if (v.equals("absolute_value")) return ABSOLUTE;
            for (Sign g : values()) if (g.cli.equals(v)) return g;
            throw new SalientException("--sign must be positive, negative, absolute or all, got '" + s + "'");
        }
    }

    /** How the map is drawn (Captum's ImageVisualizationMethod). */
    public enum Style {
        /** Captum's heat_map: the colormap alone. */
        HEAT("heat", "heat_map"),
        /** Captum's blended_heat_map: the colormap at --alpha over the input in grey. */
        BLENDED("blended", "blended_heat_map"),
        /** Captum's masked_image: the input multiplied by the map (not with sign all). */
        MASKED("masked", "masked_image");

        private final String cli, captum;

        Style(String cli, String captum) {
            this.cli = cli;
            this.captum = captum;
        }

        public String cli() {
            return cli;
        }

        /** heat, blended or masked, or Captum's heat_map, blended_heat_map or masked_image. */
        public static Style parse(String s) {
            String v = s == null ? "" : s.trim().toLowerCase(Locale.ROOT);
            for (Style t : values()) if (t.cli.equals(v) || t.captum.equals(v)) return t;
            throw new SalientException("--style must be heat, blended or masked, got '" + s + "'");
        }
    }

    /** Checks a sign and style pair and an outlier percentage as Captum does, with one line. */
    public static void check(Sign sign, Style style, double outlierPerc) {
        if (!(outlierPerc >= 0 && outlierPerc <= 100))
            throw new SalientException("--outlier-perc must be in [0,100], got " + outlierPerc);
        if (style == Style.MASKED && sign == Sign.ALL)
            throw new SalientException("--style masked cannot show both signs: use --sign positive, negative or absolute");
    }

    /**
     * Captum's {@code _cumulative_sum_threshold}: sorts the (non-negative) values,
     * accumulates them in float32 and returns the first sorted value whose running
     * sum reaches {@code percentile}% of the total.
     */
    public static float cumulativeSumThreshold(float[] values, double percentile) {
        if (!(percentile >= 0 && percentile <= 100))
            throw new SalientException("the threshold percentile must be in [0,100], got " + percentile);
        float[] sorted = values.clone();
        Arrays.sort(sorted);
        float[] cum = new float[sorted.length];
        float run = 0f;
        for (int i = 0; i < sorted.length; i++) cum[i] = run += sorted[i];
        // numpy: cum_sums >= cum_sums[-1] * 0.01 * percentile, the right side in float64 compared in float32
        float target = (float) ((double) cum[cum.length - 1] * 0.01 * percentile);
        for (int i = 0; i < cum.length; i++) if (cum[i] >= target) return sorted[i];
        return sorted[sorted.length - 1];
    }

    /**
     * Captum's {@code _normalize_attr} with the channel axis reduced: from
     * {@code attr} (c*h*w, channel-major) to h*w values in [-1, 1] (in [0, 1]
     * unless the sign is all; negative gives the magnitudes of the negative part).
     * A map whose kept values are all 0 stays 0 (Captum refuses a zero scale).
     */
    public static float[] normalize(float[] attr, int c, int h, int w, Sign sign, double outlierPerc) {
        int p = h * w;
        if (c <= 0 || p <= 0 || attr.length != (long) c * p)
            throw new SalientException("an attribution of " + attr.length + " values is not (" + c + "," + h + "," + w + ")");
        float[] s = new float[p];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < p; i++) s[i] = ch == 0 ? attr[i] : s[i] + attr[ch * p + i];
        float[] mag = new float[p];
        float threshold;
        double pct = 100.0 - outlierPerc;
        switch (sign) {
            case ALL -> {
                for (int i = 0; i < p; i++) mag[i] = Math.abs(s[i]);
                threshold = cumulativeSumThreshold(mag, pct);
            }
            case POSITIVE -> {
                for (int i = 0; i < p; i++) s[i] = s[i] > 0 ? s[i] : 0f;
                threshold = cumulativeSumThreshold(s, pct);
            }
            case NEGATIVE -> {
                for (int i = 0; i < p; i++) {
                    s[i] = s[i] < 0 ? s[i] : 0f;
                    mag[i] = Math.abs(s[i]);
                }
                threshold = -cumulativeSumThreshold(mag, pct);
            }
            default -> {
                for (int i = 0; i < p; i++) s[i] = Math.abs(s[i]);
                threshold = cumulativeSumThreshold(s, pct);
            }
        }
        float[] out = new float[p];
        if (threshold == 0f || Float.isNaN(threshold)) return out;
        for (int i = 0; i < p; i++) {
            float v = s[i] / threshold;
            out[i] = Float.isNaN(v) ? 0f : Math.max(-1f, Math.min(1f, v));
        }
        return out;
    }

    /**
     * The colormap position of a normalised value: (v + 1) / 2 for sign all
     * (vmin -1, vmax 1, so 0 is the centre), v otherwise (vmin 0, vmax 1).
     */
    public static float colorPosition(float v, Sign sign) {
        return sign == Sign.ALL ? (v + 1f) / 2f : v;
    }

    /**
     * Draws a normalised map (h*w from {@link #normalize}) in a style. {@code base}
     * is the input (resized to h x w by nearest sampling when its size differs);
     * blended and masked need it. {@code cmap} null takes the sign's Captum default.
     * <ul>
     *   <li>heat: {@code cmap(position)};
     *   <li>blended: the input's channel mean, stretched to 0..255 over its own range
     *       (matplotlib's imshow of it with cmap gray), under the heat map at alpha:
     *       {@code round((1 - alpha) * grey + alpha * cmap(position))};
     *   <li>masked: {@code (int) (pixel * v)} per channel, pixels in 0..255, as
     *       Captum's {@code _prepare_image(original_image * norm_attr)}.
     * </ul>
     */
    public static BufferedImage render(BufferedImage base, float[] norm, int h, int w, Sign sign, Style style,
            Colormap cmap, float alpha) {
        if (norm.length != h * w) throw new SalientException("a map of " + norm.length + " values is not " + h + "x" + w);
        check(sign, style, 0);
        Colormap cm = cmap == null ? sign.defaultColormap() : cmap;
        if (base == null && style != Style.HEAT)
            throw new SalientException("--style " + style.cli() + " needs the input image (use --style heat)");
        int[] px = base == null ? null : Overlay.pixels(base, h, w);
        float gmin = 0, gmax = 0;
        float[] grey = null;
        if (style == Style.BLENDED) {
            grey = new float[h * w];
            gmin = Float.POSITIVE_INFINITY;
            gmax = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < grey.length; i++) {
                int o = px[i];
                grey[i] = (((o >> 16) & 255) + ((o >> 8) & 255) + (o & 255)) / 3f;
                gmin = Math.min(gmin, grey[i]);
                gmax = Math.max(gmax, grey[i]);
            }
        }
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int[] rgb = new int[h * w];
        for (int i = 0; i < rgb.length; i++) {
            int r, g, b;
            if (style == Style.MASKED) {
                int o = px[i];
                float v = norm[i];
                r = mask((o >> 16) & 255, v);
                g = mask((o >> 8) & 255, v);
                b = mask(o & 255, v);
            } else {
                int c = cm.rgbFloor(colorPosition(norm[i], sign));
                r = (c >> 16) & 255;
                g = (c >> 8) & 255;
                b = c & 255;
                if (style == Style.BLENDED) {
                    // a constant image is drawn black, as matplotlib's Normalize with vmin == vmax
                    float gv = gmax > gmin ? (grey[i] - gmin) / (gmax - gmin) * 255f : 0f;
                    r = Math.round((1 - alpha) * gv + alpha * r);
                    g = Math.round((1 - alpha) * gv + alpha * g);
                    b = Math.round((1 - alpha) * gv + alpha * b);
                }
            }
            rgb[i] = (r << 16) | (g << 8) | b;
        }
        out.setRGB(0, 0, w, h, rgb, 0, w);
        return out;
    }

    private static int mask(int pixel, float v) {
        return Math.max(0, Math.min(255, (int) (pixel * (double) v)));   // int64 x float32 in float64, as numpy
    }
}
