package dev.salient.explain.perturbation;

import dev.salient.engine.SalientException;
import dev.salient.explain.MethodOption;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * How an image is cut into features (Captum's {@code feature_mask}): integer labels
 * 0..M−1 per pixel, shared by the channels. CLI forms ({@code --segments}):
 * <ul>
 *   <li>{@code grid:K}: a K×K grid of cells, label {@code ⌊y·K/H⌋·K + ⌊x·K/W⌋};
 *   <li>{@code FILE.npy}: integer labels (H,W) for every image, or (N,H,W), one map per image.
 * </ul>
 * Labels need not all occur; M is the largest label plus one, as Captum counts features.
 */
public abstract class Segments {
    /** At most this many segments (labels 0..65535). */
    public static final int MAX_SEGMENTS = 1 << 16;

    /** {@code --segments}: grid:K or an NPY file of integer labels. */
    public static final MethodOption<String> OPTION = MethodOption.of("--segments", "grid:K|FILE.npy", "grid:8", s -> {
        parse(s);
        return s;
    }, "Features: grid:K (K x K cells; default grid:8) or an NPY file of integer labels (H,W) or (N,H,W).");

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

    /** The CLI forms: {@code grid:K} or a path to an NPY file. */
    public static Segments parse(String s) {
        String t = s.trim();
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
        throw new SalientException("bad --segments '" + s + "' (use grid:K or an .npy file of integer labels)");
    }
}
