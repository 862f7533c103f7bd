package dev.salient.report;

import dev.salient.engine.SalientException;

/**
 * Colormaps for heatmap overlays, as 256-entry RGB lookup tables: {@code jet}
 * (OpenCV's COLORMAP_JET, the pytorch-grad-cam default), {@code turbo} (Google's
 * polynomial approximation) and {@code viridis} (matplotlib's, from its anchor
 * colours with linear interpolation); and the four that Captum's
 * {@code visualize_image_attr} uses by default, built as matplotlib builds them
 * ({@code LinearSegmentedColormap.from_list} over 256 entries, bytes truncated):
 * {@code greens} (sign positive), {@code reds} (negative), {@code blues}
 * (absolute value) and {@code rdwhgn} (red, white, green; sign all).
 */
public enum Colormap {
    JET, TURBO, VIRIDIS, GREENS, REDS, BLUES, RDWHGN;

    private int[] lut;

    public static Colormap parse(String s) {
        for (Colormap c : values()) if (c.name().equalsIgnoreCase(s)) return c;
        throw new SalientException("unknown colormap '" + s + "' (use jet, turbo, viridis, greens, reds, blues or rdwhgn)");
    }

    /**
     * Packed 0xRRGGBB for a value in [0,1] looked up as matplotlib's
     * {@code Colormap.__call__} does: entry {@code floor(v * 256)}, with 1 (and
     * above) at the last entry, below 0 at the first; NaN maps to the first.
     */
    public int rgbFloor(float v) {
        if (lut == null) lut = build();
        if (!(v > 0)) return lut[0];
        return lut[Math.min(255, (int) (v * 256f))];
    }

    /** Packed 0xRRGGBB for a value in [0,1] (clamped; NaN maps to 0). */
    public int rgb(float v) {
        if (lut == null) lut = build();
        int i = Float.isNaN(v) ? 0 : Math.round(Math.max(0f, Math.min(1f, v)) * 255f);
        return lut[i];
    }

    private int[] build() {
        double[][] anchors = switch (this) {
            case GREENS -> GREENS_DATA;
            case REDS -> REDS_DATA;
            case BLUES -> BLUES_DATA;
            case RDWHGN -> RDWHGN_DATA;
            default -> null;
        };
        if (anchors != null) return fromList(anchors);
        int[] t = new int[256];
        for (int i = 0; i < 256; i++) {
            double x = i / 255.0;
            double[] c = switch (this) {
                case JET -> jet(x);
                case TURBO -> turbo(x);
                case VIRIDIS -> viridis(x);
                default -> throw new IllegalStateException(name());
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

    // ColorBrewer's sequential Greens, Reds and Blues (9 classes), exactly as matplotlib's _cm lists them (its
    // literals, not k/255: the last Reds entry truncates to 12, not 13), and Captum's RdWhGn =
    // from_list(["red", "white", "green"]) (matplotlib's "green" is #008000).
    private static final double[][] GREENS_DATA = {
        {0.9686274509803922, 0.9882352941176471, 0.9607843137254902},
        {0.8980392156862745, 0.9607843137254902, 0.8784313725490196},
        {0.7803921568627451, 0.9137254901960784, 0.7529411764705882},
        {0.6313725490196078, 0.8509803921568627, 0.6078431372549019},
        {0.4549019607843137, 0.7686274509803922, 0.4627450980392157},
        {0.2549019607843137, 0.6705882352941176, 0.36470588235294116},
        {0.13725490196078433, 0.5450980392156862, 0.27058823529411763},
        {0.0, 0.42745098039215684, 0.17254901960784313},
        {0.0, 0.26666666666666666, 0.10588235294117647}};
    private static final double[][] REDS_DATA = {
        {1.0, 0.9607843137254902, 0.9411764705882353},
        {0.996078431372549, 0.8784313725490196, 0.8235294117647058},
        {0.9882352941176471, 0.7333333333333333, 0.6313725490196078},
        {0.9882352941176471, 0.5725490196078431, 0.4470588235294118},
        {0.984313725490196, 0.41568627450980394, 0.2901960784313726},
        {0.9372549019607843, 0.23137254901960785, 0.17254901960784313},
        {0.796078431372549, 0.09411764705882353, 0.11372549019607843},
        {0.6470588235294118, 0.058823529411764705, 0.08235294117647057},
        {0.403921568627451, 0.0, 0.05098039215686274}};
    private static final double[][] BLUES_DATA = {
        {0.9686274509803922, 0.984313725490196, 1.0},
        {0.8705882352941177, 0.9215686274509803, 0.9686274509803922},
        {0.7764705882352941, 0.8588235294117647, 0.9372549019607843},
        {0.6196078431372549, 0.792156862745098, 0.8823529411764706},
        {0.4196078431372549, 0.6823529411764706, 0.8392156862745098},
        {0.25882352941176473, 0.5725490196078431, 0.7764705882352941},
        {0.12941176470588237, 0.44313725490196076, 0.7098039215686275},
        {0.03137254901960784, 0.3176470588235294, 0.611764705882353},
        {0.03137254901960784, 0.18823529411764706, 0.4196078431372549}};
    private static final double[][] RDWHGN_DATA = {{1, 0, 0}, {1, 1, 1}, {0, 128 / 255.0, 0}};

    /**
     * matplotlib's {@code LinearSegmentedColormap.from_list(colors, N=256)} with
     * {@code bytes=True}: anchors at {@code linspace(0, 1, n)}, entry k at
     * {@code k / 255} linearly interpolated, then {@code (int) (value * 255)}.
     */
    private static int[] fromList(double[][] rgb) {
        int n = rgb.length, size = 256;
        // matplotlib's _create_lookup_table: anchors and entries both scaled by N - 1
        double[] ax = new double[n];
        double astep = 1.0 / (n - 1);
        for (int i = 0; i < n; i++) ax[i] = (i == n - 1 ? 1.0 : i * astep) * (size - 1);
        double step = 1.0 / (size - 1);
        int[] t = new int[size];
        for (int k = 0; k < size; k++) {
            int packed = 0;
            for (int ch = 0; ch < 3; ch++) {
                int shift = 16 - 8 * ch;
                double v;
                if (k == 0) v = rgb[0][ch];
                else if (k == size - 1) v = rgb[n - 1][ch];
                else {
                    double x = (size - 1) * (k * step);
                    int j = 0;
                    while (ax[j] < x) j++;   // numpy searchsorted, side left
                    double y0 = rgb[j - 1][ch], y1 = rgb[j][ch];
                    double d = (x - ax[j - 1]) / (ax[j] - ax[j - 1]);
                    v = d * (y1 - y0) + y0;
                }
                packed |= ((int) (Math.max(0, Math.min(1, v)) * 255)) << shift;
            }
            t[k] = packed;
        }
        return t;
    }
}
