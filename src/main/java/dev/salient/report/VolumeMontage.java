package dev.salient.report;

import dev.salient.engine.SalientException;
import java.awt.image.BufferedImage;
import java.util.Locale;

/**
 * A montage of a volume map: every k-th slice along one axis, each slice the map (heat in
 * [0,1]) blended over the scan's slice in gray, laid out left to right, top to bottom, in
 * slice order, with a 2-pixel black gutter. Volumes are (D,H,W) = (z,y,x): axial slices are
 * the (H,W) planes at fixed z, coronal the (D,W) planes at fixed y, sagittal the (D,H) planes
 * at fixed x (for coronal and sagittal, z grows downwards as stored).
 * <pre>{@code
 * BufferedImage m = VolumeMontage.render(heat, scan, 64, 112, 112, VolumeMontage.View.AXIAL, 4, Colormap.parse("jet"), 0.5f);
 * }</pre>
 */
public final class VolumeMontage {
    private VolumeMontage() {}

    static final int GUTTER = 2;

    public enum View {
        AXIAL, CORONAL, SAGITTAL;

        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static View parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new SalientException("--montage-views takes axial, coronal and sagittal, got '" + s + "'");
            }
        }
    }

    /** The slice step that shows about {@code target} slices of {@code n}. */
    public static int defaultStep(int n, int target) {
        return Math.max(1, (n + target - 1) / target);
    }

    /**
     * @param heat  (D,H,W) in [0,1]
     * @param scan  (D,H,W) in any range (min-max scaled to gray over the whole volume), or null
     * @param step  every step-th slice, from 0
     */
    public static BufferedImage render(float[] heat, float[] scan, int d, int h, int w, View view, int step, Colormap cmap,
            float alpha) {
        if (step < 1) throw new SalientException("--montage-step must be at least 1, got " + step);
        int n = view == View.AXIAL ? d : view == View.CORONAL ? h : w;
        int rows = view == View.AXIAL ? h : d, cols = view == View.SAGITTAL ? h : w;
        int count = (n + step - 1) / step, gridW = (int) Math.ceil(Math.sqrt(count)), gridH = (count + gridW - 1) / gridW;
        float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
        if (scan != null)
            for (float v : scan) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
        float range = hi > lo ? hi - lo : 1f;
        BufferedImage out = new BufferedImage(gridW * (cols + GUTTER) - GUTTER, gridH * (rows + GUTTER) - GUTTER,
                BufferedImage.TYPE_INT_RGB);
        float[] hs = new float[rows * cols];
        for (int k = 0; k < count; k++) {
            int s = k * step;
            BufferedImage base = scan == null ? null : new BufferedImage(cols, rows, BufferedImage.TYPE_INT_RGB);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) {
                    int z = view == View.AXIAL ? s : r, y = view == View.AXIAL ? r : view == View.CORONAL ? s : c;
                    int x = view == View.SAGITTAL ? s : c;
                    int i = (z * h + y) * w + x;
                    hs[r * cols + c] = heat[i];
                    if (base != null) {
                        int g = Math.round(255 * (scan[i] - lo) / range);
                        base.setRGB(c, r, (g << 16) | (g << 8) | g);
                    }
                }
            BufferedImage tile = Overlay.render(base, hs, rows, cols, cmap, base == null ? 1f : alpha);
            out.getGraphics().drawImage(tile, (k % gridW) * (cols + GUTTER), (k / gridW) * (rows + GUTTER), null);
        }
        return out;
    }
}
