package dev.salient.metrics.randomisation;

import java.util.Arrays;

/**
 * The similarities of the randomisation test between an original and a randomised map, both
 * as |pixel map| / max (Quantus MPRT's abs=True, normalise=True; values in [0,1]):
 * <ul>
 *   <li>Spearman's rank correlation (scipy.stats.spearmanr: Pearson correlation of the ranks,
 *       ties given their average rank), Quantus MPRT's default similarity;
 *   <li>SSIM (Wang et al. 2004) of the two H×W maps as skimage.metrics.structural_similarity
 *       computes it with its defaults: a 7×7 uniform window (scipy uniform_filter, mode
 *       'reflect'), K1 0.01, K2 0.03, sample covariance, data_range 1, the mean of the SSIM
 *       map without a border of 3 pixels.
 * </ul>
 * Host reductions of two downloaded maps, in double.
 */
public final class Similarity {
    private Similarity() {}

    public static double spearman(double[] a, double[] b) {
        return pearson(ranks(a), ranks(b));
    }

    /**
     * A map that is compared with many others (the original map of a randomisation run): its
     * ranks and box-filtered moments, computed once. {@link #spearman(Reference, double[])} and
     * {@link #ssim(Reference, double[])} give the bits of {@link #spearman(double[], double[])}
     * and {@link #ssim(double[], double[], int, int)} with it as the first map.
     */
    public record Reference(double[] x, int h, int w, double[] ranks, double[] ux, double[] uxx) {}

    public static Reference reference(double[] x, int h, int w) {
        boolean window = h >= 7 && w >= 7;
        double[] xx = new double[x.length];
        for (int i = 0; i < x.length; i++) xx[i] = x[i] * x[i];
        return new Reference(x, h, w, ranks(x), window ? box(x, h, w) : null, window ? box(xx, h, w) : null);
    }

    public static double spearman(Reference a, double[] b) {
        return pearson(a.ranks(), ranks(b));
    }

    public static double ssim(Reference a, double[] y) {
        return ssim(a.x(), a.ux(), a.uxx(), y, a.h(), a.w());
    }

    /**
     * 1-based ranks, ties given their average rank: the indices sorted by value, then each run of
     * equal values given its average position. The sort is a stable LSD radix sort on the values'
     * bits mapped to unsigned keys in {@link Double#compare}'s order (a 224² map is ranked 2 x 21
     * times per image in a randomisation run; a boxed comparator sort took most of that run). The
     * runs are of == values as before: -0.0 and 0.0 are adjacent and tie, and each NaN ranks alone.
     */
    static double[] ranks(double[] v) {
        int n = v.length;
        if (n == 0) return new double[0];
        long[] key = new long[n], key2 = new long[n];
        int[] idx = new int[n], idx2 = new int[n];
        for (int i = 0; i < n; i++) {
            long bits = Double.doubleToLongBits(v[i]);
            key[i] = bits < 0 ? ~bits : bits | Long.MIN_VALUE;
            idx[i] = i;
        }
        int[] count = new int[257];
        for (int shift = 0; shift < 64; shift += 8) {
            Arrays.fill(count, 0);
            for (int i = 0; i < n; i++) count[(int) (key[i] >>> shift & 0xFF) + 1]++;
            if (count[(int) (key[0] >>> shift & 0xFF) + 1] == n) continue; // every key has this byte
            for (int b = 0; b < 256; b++) count[b + 1] += count[b];
            for (int i = 0; i < n; i++) {
                int at = count[(int) (key[i] >>> shift & 0xFF)]++;
                key2[at] = key[i];
                idx2[at] = idx[i];
            }
            long[] tk = key; key = key2; key2 = tk;
            int[] ti = idx; idx = idx2; idx2 = ti;
        }
        return averageTies(v, idx);
    }

    /** Ranks from the indices of v in sorted order: each run of == values gets its average 1-based position. */
    static double[] averageTies(double[] v, int[] idx) {
        int n = v.length;
        double[] r = new double[n];
        for (int i = 0; i < n;) {
            int j = i;
            while (j + 1 < n && v[idx[j + 1]] == v[idx[i]]) j++;
            double avg = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) r[idx[k]] = avg;
            i = j + 1;
        }
        return r;
    }

    static double pearson(double[] a, double[] b) {
        int n = a.length;
        double ma = 0, mb = 0;
        for (int i = 0; i < n; i++) {
            ma += a[i];
            mb += b[i];
        }
        ma /= n;
        mb /= n;
        double sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < n; i++) {
            sab += (a[i] - ma) * (b[i] - mb);
            saa += (a[i] - ma) * (a[i] - ma);
            sbb += (b[i] - mb) * (b[i] - mb);
        }
        return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : Double.NaN;
    }

    public static double ssim(double[] x, double[] y, int h, int w) {
        if (h < 7 || w < 7) return Double.NaN;
        double[] xx = new double[x.length];
        for (int i = 0; i < x.length; i++) xx[i] = x[i] * x[i];
        return ssim(x, box(x, h, w), box(xx, h, w), y, h, w);
    }

    /** {@link #ssim(double[], double[], int, int)} with x's box filters ux = box(x), uxx = box(x²) given. */
    private static double ssim(double[] x, double[] ux, double[] uxx, double[] y, int h, int w) {
        int win = 7, pad = 3;
        if (h < win || w < win) return Double.NaN;
        double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03, covNorm = 49.0 / 48.0;
        double[] yy = new double[x.length], xy = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            yy[i] = y[i] * y[i];
            xy[i] = x[i] * y[i];
        }
        double[] uy = box(y, h, w), uyy = box(yy, h, w), uxy = box(xy, h, w);
        double sum = 0;
        int cnt = 0;
        for (int r = pad; r < h - pad; r++)
            for (int c = pad; c < w - pad; c++) {
                int i = r * w + c;
                double vx = covNorm * (uxx[i] - ux[i] * ux[i]), vy = covNorm * (uyy[i] - uy[i] * uy[i]);
                double vxy = covNorm * (uxy[i] - ux[i] * uy[i]);
                double a1 = 2 * ux[i] * uy[i] + c1, a2 = 2 * vxy + c2;
                double b1 = ux[i] * ux[i] + uy[i] * uy[i] + c1, b2 = vx + vy + c2;
                sum += a1 * a2 / (b1 * b2);
                cnt++;
            }
        return sum / cnt;
    }

    /**
     * scipy.ndimage.uniform_filter(size=7, mode='reflect') in both axes: each output is the sum of
     * its 7 taps in order, divided by 7. Only the 3 outputs at each end reflect their indices.
     */
    static double[] box(double[] v, int h, int w) {
        double[] t = new double[v.length], o = new double[v.length];
        for (int r = 0; r < h; r++) {
            int row = r * w;
            for (int c = 0; c < w; c++) {
                double s = 0;
                if (c >= 3 && c + 3 < w) {
                    for (int k = -3; k <= 3; k++) s += v[row + c + k];
                } else {
                    for (int k = -3; k <= 3; k++) s += v[row + reflect(c + k, w)];
                }
                t[row + c] = s / 7;
            }
        }
        double[] s = new double[w];
        for (int r = 0; r < h; r++) {
            Arrays.fill(s, 0);
            for (int k = -3; k <= 3; k++) {
                int src = reflect(r + k, h) * w;
                for (int c = 0; c < w; c++) s[c] += t[src + c];
            }
            int row = r * w;
            for (int c = 0; c < w; c++) o[row + c] = s[c] / 7;
        }
        return o;
    }

    static int reflect(int i, int n) {
        int j = Math.floorMod(i, 2 * n);
        return j >= n ? 2 * n - 1 - j : j;
    }
}
