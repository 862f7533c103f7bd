package dev.salient.metrics.localisation;

/**
 * The ground-truth region of one image, H×W pixels of the model input: the union of boxes
 * ({@code [x0, y0, x1, y1]}, inclusive pixel coordinates) or a binary mask.
 */
public final class Region {
    private final int h, w;
    private final boolean[] inside;

    private Region(int h, int w, boolean[] inside) {
        this.h = h;
        this.w = w;
        this.inside = inside;
    }

    public static Region ofMask(int h, int w, boolean[] mask) {
        return new Region(h, w, mask.clone());
    }

    public static Region ofBoxes(int h, int w, int[][] boxes) {
        boolean[] in = new boolean[h * w];
        for (int[] b : boxes)
            for (int y = Math.max(0, b[1]); y <= Math.min(h - 1, b[3]); y++)
                for (int x = Math.max(0, b[0]); x <= Math.min(w - 1, b[2]); x++) in[y * w + x] = true;
        return new Region(h, w, in);
    }

    public boolean contains(int p) {
        return inside[p];
    }

    public boolean isEmpty() {
        for (boolean b : inside) if (b) return false;
        return true;
    }

    /** Whether some pixel of the region lies within Euclidean distance {@code tol} of pixel p. */
    public boolean near(int p, double tol) {
        int py = p / w, px = p % w, r = (int) Math.ceil(tol);
        for (int y = Math.max(0, py - r); y <= Math.min(h - 1, py + r); y++)
            for (int x = Math.max(0, px - r); x <= Math.min(w - 1, px + r); x++)
                if (inside[y * w + x] && (double) (y - py) * (y - py) + (double) (x - px) * (x - px) <= tol * tol) return true;
        return false;
    }

    public int h() {
        return h;
    }

    public int w() {
        return w;
    }
}
