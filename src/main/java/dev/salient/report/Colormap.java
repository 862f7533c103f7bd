package dev.salient.report;

import dev.salient.engine.SalientException;

/**
 * Colormaps for heatmap overlays, as 256-entry RGB lookup tables: {@code jet}
 * (OpenCV's COLORMAP_JET, the pytorch-grad-cam default), {@code turbo} (Google's
 * polynomial approximation) and {@code viridis} (matplotlib's, from its anchor
 * colours with linear interpolation).
 */
public enum Colormap {
    JET, TURBO, VIRIDIS;

    private int[] lut;

    public static Colormap parse(String s) {
        for (Colormap c : values()) if (c.name().equalsIgnoreCase(s)) return c;
        throw new SalientException("unknown colormap '" + s + "' (use jet, turbo or viridis)");
    }

    /** Packed 0xRRGGBB for a value in [0,1] (clamped; NaN maps to 0). */
    public int rgb(float v) {
        if (lut == null) lut = build();
        int i = Float.isNaN(v) ? 0 : Math.round(Math.max(0f, Math.min(1f, v)) * 255f);
        return lut[i];
    }

    private int[] build() {
        int[] t = new int[256];
        for (int i = 0; i < 256; i++) {
            double x = i / 255.0;
            double[] c = switch (this) {
                case JET -> jet(x);
                case TURBO -> turbo(x);
                case VIRIDIS -> viridis(x);
            };
            t[i] = (to8(c[0]) << 16) | (to8(c[1]) << 8) | to8(c[2]);
        }
        return t;
    }

    private static int to8(double v) {
        return (int) Math.round(Math.max(0, Math.min(1, v)) * 255);
    }

    private static double[] jet(double x) {
        double r = Math.min(4 * x - 1.5, -4 * x + 4.5);
        double g = Math.min(4 * x - 0.5, -4 * x + 3.5);
        double b = Math.min(4 * x + 0.5, -4 * x + 2.5);
        return new double[] {r, g, b};
    }

    // Turbo, polynomial approximation published with the colormap (Apache-2.0, Google LLC 2019).
    private static double[] turbo(double x) {
        double r = 0.13572138 + x * (4.61539260 + x * (-42.66032258 + x * (132.13108234 + x * (-152.94239396 + x * 59.28637943))));
        double g = 0.09140261 + x * (2.19418839 + x * (4.84296658 + x * (-14.18503333 + x * (4.27729857 + x * 2.82956604))));
        double b = 0.10667330 + x * (12.64194608 + x * (-60.58204836 + x * (110.36276771 + x * (-89.90310912 + x * 27.34824973))));
        return new double[] {r, g, b};
    }

    // matplotlib viridis sampled at 11 anchors (0, 0.1, ..., 1), linearly interpolated.
    private static final double[][] VIRIDIS_ANCHORS = {
        {0.267004, 0.004874, 0.329415}, {0.282623, 0.140926, 0.457517}, {0.253935, 0.265254, 0.529983},
        {0.206756, 0.371758, 0.553117}, {0.163625, 0.471133, 0.558148}, {0.127568, 0.566949, 0.550556},
        {0.134692, 0.658636, 0.517649}, {0.266941, 0.748751, 0.440573}, {0.477504, 0.821444, 0.318195},
        {0.741388, 0.873449, 0.149561}, {0.993248, 0.906157, 0.143936}};

    private static double[] viridis(double x) {
        int n = VIRIDIS_ANCHORS.length - 1;
        double p = x * n;
        int i = Math.min((int) p, n - 1);
        double f = p - i;
        double[] a = VIRIDIS_ANCHORS[i], b = VIRIDIS_ANCHORS[i + 1];
        return new double[] {a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])};
    }
}
