package dev.salient.explain.perturbation;

import dev.salient.engine.HostSegmentation;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOption;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * How an image is cut into features (Captum's {@code feature_mask}): integer labels
 * 0..M−1 per pixel, shared by the channels. CLI forms ({@code --segments}):
 * <ul>
 *   <li>{@code grid:K}: a K×K grid of cells, label {@code ⌊y·K/H⌋·K + ⌊x·K/W⌋};
 *   <li>{@code slic[:N[:COMPACTNESS]]}: SLIC superpixels of each image as scikit-image's
 *       {@code slic(image, N, COMPACTNESS, start_label=0)} (defaults 50 and 10; see {@link #slic});
 *   <li>{@code FILE.npy}: integer labels (H,W) for every image, or (N,H,W), one map per image.
 * </ul>
 * Labels need not all occur; M is the largest label plus one, as Captum counts features.
 */
public abstract class Segments {
    /** At most this many segments (labels 0..65535). */
    public static final int MAX_SEGMENTS = 1 << 16;

    /** {@code --segments}: grid:K or an NPY file of integer labels. */
    public static final MethodOption<String> OPTION = MethodOption.of("--segments", "grid:K|slic[:N[:C]]|FILE.npy", "grid:8",
            s -> {
                parse(s);
                return s;
            }, "Features: grid:K (K x K cells; default grid:8), slic[:N[:C]] (SLIC superpixels as scikit-image's slic, "
                    + "N = 50 segments and compactness C = 10 by default) or an NPY file of integer labels (H,W) or (N,H,W).");

    /**
     * The labels of every image of a batch: {@code labels[i]} (H·W, row-major) for image i, or
     * one shared map ({@code labels.length == 1}); M = {@code count}, the largest label plus one
     * over the batch (an image may lack some labels).
     */
    public record Resolved(int[][] labels, int count, int height, int width) {
        public int[] of(int image) {
            return labels[labels.length == 1 ? 0 : image];
        }

        public boolean shared() {
            return labels.length == 1;
        }
    }

    /** The labels of every image of {@code batch} (N,C,H,W); SLIC reads its pixels. */
    public Resolved resolve(Tensor batch) {
        int n = (int) batch.dim(0), h = (int) batch.dim(2), w = (int) batch.dim(3);
        int m = count(n, h, w);
        int[][] l = new int[shared() ? 1 : n][];
        for (int i = 0; i < l.length; i++) l[i] = labels(i, n, h, w);
        return new Resolved(l, m, h, w);
    }

    /** Segments fixed to already resolved labels (the batch they were resolved for). */
    public static Segments of(Resolved r, String name) {
        return new Segments() {
            @Override
            public int[] labels(int image, int n, int h, int w) {
                check(n, h, w);
                return r.of(image).clone();
            }

            private void check(int n, int h, int w) {
                if (h != r.height() || w != r.width() || (!r.shared() && n != r.labels().length))
                    throw new SalientException(name + ": segments of " + r.labels().length + " image(s) of " + r.height()
                            + "x" + r.width() + " do not match the input (" + n + ", C, " + h + ", " + w + ")");
            }

            @Override
            public int count(int n, int h, int w) {
                check(n, h, w);
                return r.count();
            }

            @Override
            public boolean shared() {
                return r.shared();
            }

            @Override
            public String describe() {
                return name;
            }
        };
    }

    /**
     * SLIC superpixels (Achanta et al. 2012) of each image, computed in native code exactly as
     * scikit-image 0.19's {@code slic(image, n_segments=n, compactness=compactness,
     * start_label=0)} with its other defaults ({@code native/cpu/slic.cpp}): the image is
     * rescaled to [0,1] by its own minimum and maximum over all channels, converted to CIE Lab
     * when it has 3 channels (its channels are used as they are otherwise: intensity for one),
     * ten k-means iterations, connectivity enforced. SLIC sees the pixels of the image as the
     * user gave it: {@link #on} supplies them (the CLI passes the decoded RGB in [0,1], before the
     * mean/std normalisation); without them it segments the model input itself.
     */
    public static Segments slic(int n, double compactness) {
        return slic(n, compactness, List.of());
    }

    private static Segments slic(int n, double compactness, List<NdArray> pixels) {
        if (n < 1) throw new SalientException("--segments slic:N needs N >= 1, got " + n);
        if (!(compactness > 0) || !Double.isFinite(compactness))
            throw new SalientException("--segments slic:N:COMPACTNESS needs a positive compactness, got " + compactness);
        return new Segments() {
            @Override
            public int[] labels(int image, int n0, int h, int w) {
                throw new SalientException("--segments slic needs the image's pixels");
            }

            @Override
            public int count(int n0, int h, int w) {
                throw new SalientException("--segments slic needs the image's pixels");
            }

            @Override
            public boolean shared() {
                return false;
            }

            @Override
            public Resolved resolve(Tensor batch) {
                if (batch.rank() != 4) throw new SalientException("--segments slic needs images (N,C,H,W), got rank " + batch.rank());
                int nb = (int) batch.dim(0), c = (int) batch.dim(1), h = (int) batch.dim(2), w = (int) batch.dim(3);
                float[] all = null;
                int[][] l = new int[nb][];
                int m = 0;
                for (int i = 0; i < nb; i++) {
                    NdArray px = i < pixels.size() ? pixels.get(i) : null;
                    float[] img;
                    int ci = c;
                    if (px != null && px.rank() == 3 && px.dim(1) == h && px.dim(2) == w) {
                        img = px.data();
                        ci = (int) px.dim(0);
                    } else {
                        if (all == null) all = batch.toArray();
                        img = Arrays.copyOfRange(all, i * c * h * w, (i + 1) * c * h * w);
                    }
                    l[i] = HostSegmentation.slic(img, ci, h, w, n, compactness);
                    for (int v : l[i]) m = Math.max(m, v + 1);
                }
                return new Resolved(l, m, h, w);
            }

            @Override
            public Segments on(List<NdArray> images) {
                return Segments.slic(n, compactness, images);
            }

            @Override
            public String describe() {
                return "slic:" + n + ":" + compactness;
            }
        };
    }

    /**
     * These segments computed on the given pixels of the batch's images (entry i: (C,H,W) for
     * image i, or null for the model input); only pixel-based segments (SLIC) read them.
     */
    public Segments on(List<NdArray> images) {
        return this;
    }

    /** The labels (H·W, row-major) of image {@code image} of a batch of {@code n} images of size h×w. */
    public abstract int[] labels(int image, int n, int h, int w);

    /** M = the largest label plus one, for a batch of {@code n} images of size h×w. */
    public abstract int count(int n, int h, int w);

    /** Whether every image has the same labels. */
    public abstract boolean shared();

    public abstract String describe();

    /** A K×K grid. */
    public static Segments grid(int k) {
        if (k < 1) throw new SalientException("--segments grid:K needs K >= 1, got " + k);
        return new Segments() {
            @Override
            public int[] labels(int image, int n, int h, int w) {
                if (k > h || k > w)
                    throw new SalientException("--segments grid:" + k + " has more cells than the image has pixels (" + h + "x" + w + ")");
                int[] l = new int[h * w];
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) l[y * w + x] = (int) ((long) y * k / h) * k + (int) ((long) x * k / w);
                return l;
            }

            @Override
            public int count(int n, int h, int w) {
                labels(0, n, h, w);
                return k * k;
            }

            @Override
            public boolean shared() {
                return true;
            }

            @Override
            public String describe() {
                return "grid:" + k;
            }
        };
    }

    /** Labels from an array (H,W) or (N,H,W) of non-negative integers below {@link #MAX_SEGMENTS}. */
    public static Segments of(float[] values, long[] shape, String name) {
        if (shape.length != 2 && shape.length != 3)
            throw new SalientException(name + ": segment labels must be (H,W) or (N,H,W), got shape " + Arrays.toString(shape));
        int[] l = new int[values.length];
        int max = -1;
        for (int i = 0; i < values.length; i++) {
            float v = values[i];
            if (!(v == Math.rint(v))) throw new SalientException(name + ": segment labels must be integers, got " + v);
            if (v < 0) throw new SalientException(name + ": segment labels must be non-negative, got " + (long) v);
            if (v >= MAX_SEGMENTS)
                throw new SalientException(name + ": at most " + MAX_SEGMENTS + " segments are supported, got label " + (long) v);
            l[i] = (int) v;
            max = Math.max(max, l[i]);
        }
        int m = max + 1;
        long[] sh = shape.clone();
        return new Segments() {
            private void check(int n, int h, int w) {
                long hh = sh[sh.length - 2], ww = sh[sh.length - 1];
                if (hh != h || ww != w || (sh.length == 3 && sh[0] != n))
                    throw new SalientException(name + ": segment labels of shape " + Arrays.toString(sh)
                            + " do not match the input (" + n + ", C, " + h + ", " + w + ") (use (H,W) or (N,H,W))");
            }

            @Override
            public int[] labels(int image, int n, int h, int w) {
                check(n, h, w);
                int plane = h * w;
                int from = sh.length == 3 ? image * plane : 0;
                return Arrays.copyOfRange(l, from, from + plane);
            }

            @Override
            public int count(int n, int h, int w) {
                check(n, h, w);
                return m;
            }

            @Override
            public boolean shared() {
                return sh.length == 2;
            }

            @Override
            public String describe() {
                return name;
            }
        };
    }

    /** The CLI forms: {@code grid:K}, {@code slic[:N[:COMPACTNESS]]} or a path to an NPY file. */
    public static Segments parse(String s) {
        String t = s.trim();
        if (t.equals("slic") || t.startsWith("slic:")) {
            String[] p = t.split(":", -1);
            if (p.length > 3) throw new SalientException("bad --segments '" + s + "' (use slic[:N[:COMPACTNESS]])");
            int n;
            double c;
            try {
                n = p.length > 1 ? Integer.parseInt(p[1]) : 50;
            } catch (NumberFormatException e) {
                throw new SalientException("bad --segments '" + s + "' (slic:N needs an integer N)");
            }
            try {
                c = p.length > 2 ? Double.parseDouble(p[2]) : 10.0;
            } catch (NumberFormatException e) {
                throw new SalientException("bad --segments '" + s + "' (slic:N:COMPACTNESS needs a number)");
            }
            return slic(n, c);
        }
        if (t.startsWith("grid:")) {
            try {
                return grid(Integer.parseInt(t.substring(5)));
            } catch (NumberFormatException e) {
                throw new SalientException("bad --segments '" + s + "' (grid:K needs an integer K)");
            }
        }
        if (t.toLowerCase(java.util.Locale.ROOT).endsWith(".npy")) {
            NdArray a = Npy.read(Path.of(t));
            return of(a.data(), a.shape(), t);
        }
        throw new SalientException("bad --segments '" + s + "' (use grid:K, slic[:N[:COMPACTNESS]] or an .npy file of integer labels)");
    }
}
