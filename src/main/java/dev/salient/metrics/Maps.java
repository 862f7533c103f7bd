package dev.salient.metrics;

/**
 * The reductions of attribution maps that several metrics share. A map is a CAM-shaped
 * (H,W) map or an input-shaped (C,H,W) one; metrics that rank or mask pixels use its
 * pixel map, the sum over channels (Captum's and Quantus's convention for images).
 */
public final class Maps {
    private Maps() {}

    /** The (H·W) pixel map of a map of {@code channels}·{@code hw} values: the sum over channels. */
    public static float[] pixels(float[] map, int channels, int hw) {
        if (channels == 1) return map.clone();
        float[] p = new float[hw];
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < hw; i++) p[i] += map[c * hw + i];
        return p;
    }

    /** (m − min) / (max − min), as pytorch-grad-cam's scale_cam_image (with its 1e-7); a constant map becomes 0. */
    public static float[] minMax(float[] m) {
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (float v : m) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
        }
        float[] out = new float[m.length];
        for (int i = 0; i < m.length; i++) out[i] = (float) ((m[i] - lo) / (1e-7 + (hi - lo)));
        return out;
    }

    /** |m| / max|m| (Quantus's normalise_by_max per sample, then abs); an all-zero map stays zero. */
    public static double[] absByMax(float[] m) {
        double mx = 0;
        for (float v : m) mx = Math.max(mx, Math.abs(v));
        double[] out = new double[m.length];
        for (int i = 0; i < m.length; i++) out[i] = mx > 0 ? Math.abs(m[i]) / mx : 0;
        return out;
    }

    /** Numpy's default (linear) percentile of the values, q in [0,100]. */
    public static double percentile(float[] values, double q) {
        return percentiles(values, new double[] {q})[0];
    }

    /** {@link #percentile} at each of qs, sorting the values once. */
    public static double[] percentiles(float[] values, double[] qs) {
        double[] s = new double[values.length];
        for (int i = 0; i < s.length; i++) s[i] = values[i];
        java.util.Arrays.sort(s);
        double[] out = new double[qs.length];
        for (int j = 0; j < qs.length; j++) {
            double h = (s.length - 1) * qs[j] / 100.0;
            int lo = (int) Math.floor(h);
            int hi = Math.min(s.length - 1, lo + 1);
            out[j] = s[lo] + (h - lo) * (s[hi] - s[lo]);
        }
        return out;
    }

    /** Trapezoid rule of y over x. */
    public static double trapezoid(float[] x, float[] y) {
        double a = 0;
        for (int i = 1; i < x.length; i++) a += (x[i] - x[i - 1]) * ((double) y[i] + y[i - 1]) / 2;
        return a;
    }
}
