package dev.salient.report;

import dev.salient.io.NdArray;
import java.awt.image.BufferedImage;
import java.util.Arrays;

/**
 * Renders an attribution as a heatmap blended over the original image:
 * {@code out = (1 - alpha) * image + alpha * colormap(heat)}, as
 * pytorch-grad-cam's show_cam_on_image does with alpha = 0.5.
 * <ul>
 *   <li>CAM maps (H,W) in [0,1] are used as they are;
 *   <li>input-shaped maps (C,H,W) become heat = sum_c |a_c|, scaled by its 99th
 *       percentile and clipped to [0,1] (layer-shaped maps; input-shaped maps
 *       are drawn by {@link AttributionVisual}, as Captum draws them).
 * </ul>
 * {@link #readable} scales a rendered map up so a person can read it: at least
 * {@value #MIN_SHORT_SIDE} px on the short side, by whole-pixel replication.
 */
public final class Overlay {
    private Overlay() {}

    /** Heat in [0,1] from a raw (h,w) map (any sign and scale, as RISE's saliency): min-max over the map. */
    public static float[] heatFromRawMap(float[] map) {
        float mn = Float.POSITIVE_INFINITY, mx = Float.NEGATIVE_INFINITY;
        for (float v : map) {
            if (v < mn) mn = v;
            if (v > mx) mx = v;
        }
        float[] heat = new float[map.length];
        float d = mx - mn;
        if (d > 0 && Float.isFinite(d)) for (int i = 0; i < map.length; i++) heat[i] = (map[i] - mn) / d;
        return heat;
    }

    /** Heat (H*W) in [0,1] from an input-shaped attribution (C*H*W). */
    public static float[] heatFromInputMap(float[] attr, int c, int h, int w) {
        int p = h * w;
        float[] heat = new float[p];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < p; i++) heat[i] += Math.abs(attr[ch * p + i]);
        float[] sorted = heat.clone();
        Arrays.sort(sorted);
        float q = sorted[Math.min(p - 1, (int) Math.floor(0.99 * (p - 1)))];
        if (!(q > 0)) q = sorted[p - 1] > 0 ? sorted[p - 1] : 1f;
        for (int i = 0; i < p; i++) heat[i] = Math.min(1f, heat[i] / q);
        return heat;
    }

    /**
     * Blends heat (h*w) over base, which is resized to h x w with nearest sampling
     * if its size differs. A null base renders the colormap alone.
     */
    public static BufferedImage render(BufferedImage base, float[] heat, int h, int w, Colormap cmap, float alpha) {
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int c = cmap.rgb(heat[y * w + x]);
                int r = (c >> 16) & 255, g = (c >> 8) & 255, b = c & 255;
                if (base != null) {
                    int bx = Math.min(base.getWidth() - 1, x * base.getWidth() / w);
                    int by = Math.min(base.getHeight() - 1, y * base.getHeight() / h);
                    int o = base.getRGB(bx, by);
                    r = Math.round((1 - alpha) * ((o >> 16) & 255) + alpha * r);
                    g = Math.round((1 - alpha) * ((o >> 8) & 255) + alpha * g);
                    b = Math.round((1 - alpha) * (o & 255) + alpha * b);
                }
                out.setRGB(x, y, (r << 16) | (g << 8) | b);
            }
        }
        return out;
    }

    /** The short side, in pixels, below which {@link #readable} scales an overlay up. */
    public static final int MIN_SHORT_SIDE = 224;
    /** {@link #readable} never makes the long side longer than this (very thin inputs). */
    public static final int MAX_LONG_SIDE = 4096;

    /**
     * The integer factor {@link #readable} scales an h x w image by:
     * {@code ceil(224 / min(h, w))}, at least 1, lowered so the long side stays
     * within {@value #MAX_LONG_SIDE} px (but never below 1).
     */
    public static int readableFactor(int h, int w) {
        int shortSide = Math.min(h, w), longSide = Math.max(h, w);
        if (shortSide <= 0) return 1;
        int k = Math.max(1, (MIN_SHORT_SIDE + shortSide - 1) / shortSide);
        while (k > 1 && (long) k * longSide > MAX_LONG_SIDE) k--;
        return k;
    }

    /**
     * An overlay at the input's size made readable: scaled by
     * {@link #readableFactor} with nearest-neighbour sampling (each pixel becomes a
     * k x k block, so a 28 x 28 Fashion-MNIST map becomes 224 x 224 with no value
     * invented). An image already 224 px or more on its short side is returned as is.
     */
    public static BufferedImage readable(BufferedImage img) {
        int k = readableFactor(img.getHeight(), img.getWidth());
        return k == 1 ? img : scaleNearest(img, k);
    }

    /** Each pixel replicated into a k x k block. */
    public static BufferedImage scaleNearest(BufferedImage img, int k) {
        int w = img.getWidth(), h = img.getHeight();
        int[] src = img.getRGB(0, 0, w, h, null, 0, w);
        int W = w * k, H = h * k;
        int[] dst = new int[W * H];
        for (int y = 0; y < H; y++) {
            int row = (y / k) * w;
            for (int x = 0; x < W; x++) dst[y * W + x] = src[row + x / k];
        }
        BufferedImage out = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        out.setRGB(0, 0, W, H, dst, 0, W);
        return out;
    }

    /** The RGB pixels of {@code base} sampled to h x w (nearest, as {@link #render} does). */
    static int[] pixels(BufferedImage base, int h, int w) {
        int[] px = new int[h * w];
        for (int y = 0; y < h; y++) {
            int by = Math.min(base.getHeight() - 1, y * base.getHeight() / h);
            for (int x = 0; x < w; x++) {
                int bx = Math.min(base.getWidth() - 1, x * base.getWidth() / w);
                px[y * w + x] = base.getRGB(bx, by) & 0xffffff;
            }
        }
        return px;
    }

    /** An image from (3,H,W) planes in [0,1] (clamped, rounded to 0..255), as the inputs' {@code rgb()} gives them. */
    public static BufferedImage fromPlanes(NdArray rgb) {
        int h = (int) rgb.dim(1), w = (int) rgb.dim(2), p = h * w;
        float[] d = rgb.data();
        int c = (int) rgb.dim(0);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int[] px = new int[p];
        for (int i = 0; i < p; i++) {
            int r = to255(d[i]);
            int g = c >= 3 ? to255(d[p + i]) : r;
            int b = c >= 3 ? to255(d[2 * p + i]) : r;
            px[i] = (r << 16) | (g << 8) | b;
        }
        img.setRGB(0, 0, w, h, px, 0, w);
        return img;
    }

    /**
     * A picture of a model input (C,H,W) that has no image behind it (an NPY):
     * the first three channels (or the one channel, in grey) stretched over the
     * input's own range to 0..255.
     */
    public static BufferedImage fromTensor(float[] x, int c, int h, int w) {
        int p = h * w, used = c >= 3 ? 3 : 1;
        float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < used * p; i++) if (Float.isFinite(x[i])) {
            lo = Math.min(lo, x[i]);
            hi = Math.max(hi, x[i]);
        }
        float scale = hi > lo ? 1f / (hi - lo) : 0f;
        int[] px = new int[p];
        for (int i = 0; i < p; i++) {
            int r = to255((x[i] - lo) * scale);
            int g = used == 3 ? to255((x[p + i] - lo) * scale) : r;
            int b = used == 3 ? to255((x[2 * p + i] - lo) * scale) : r;
            px[i] = (r << 16) | (g << 8) | b;
        }
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        img.setRGB(0, 0, w, h, px, 0, w);
        return img;
    }

    private static int to255(float v) {
        return Float.isNaN(v) ? 0 : Math.round(Math.max(0, Math.min(1, v)) * 255);
    }
}
