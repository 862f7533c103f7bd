package dev.salient.report;

import java.awt.image.BufferedImage;
import java.util.Arrays;

/**
 * Renders an attribution as a heatmap blended over the original image:
 * {@code out = (1 - alpha) * image + alpha * colormap(heat)}, as
 * pytorch-grad-cam's show_cam_on_image does with alpha = 0.5.
 * <ul>
 *   <li>CAM maps (H,W) in [0,1] are used as they are;
 *   <li>input-shaped maps (C,H,W) become heat = sum_c |a_c|, scaled by its 99th
 *       percentile and clipped to [0,1] (Captum's visualisation default).
 * </ul>
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
}
