package dev.salient.cli;

import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Explainer;
import dev.salient.explain.perturbation.Segmented;
import dev.salient.explain.perturbation.Segments;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * The segment maps of a run of a segment-based method: resolved once per batch (SLIC on the
 * decoded pixels in [0,1] when the inputs are images, on the model input for NPY inputs), used
 * by the method, and written beside a folder output as {@code segments.npy} (N,H,W) integer
 * labels (float32, readable back through {@code --segments segments.npy}) and one outline PNG
 * per image ({@code 0007_name_segments.png}: the boundaries in yellow over the input).
 */
final class SegmentOutput {
    static final String FILE = "segments.npy";

    private final List<int[]> maps = new ArrayList<>();
    private int h, w;

    /** The method over this batch's resolved segments, or the method itself if it takes none. */
    Explainer bind(Explainer ex, Tensor x, List<NdArray> rgb) {
        if (!(ex instanceof Segmented s) || x.rank() != 4) return ex;
        Segments.Resolved r = s.segments().on(rgb).resolve(x);
        h = r.height();
        w = r.width();
        for (int i = 0; i < x.dim(0); i++) maps.add(r.of(i));
        return s.withSegments(Segments.of(r, s.segments().describe()), maps.size() - (int) x.dim(0));
    }

    /** Writes the outline of image {@code image} (its index in the run) under a temporary name; returns [tmp, final]. */
    Path[] outline(Path dir, int image, NdArray rgb, float[] input, int channels, String stem) throws IOException {
        int[] l = maps.get(image);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int p = h * w;
        float lo = Float.MAX_VALUE, hi = -Float.MAX_VALUE;
        if (rgb == null) for (float v : input) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int i = y * w + x, c;
                boolean edge = (x + 1 < w && l[i + 1] != l[i]) || (y + 1 < h && l[i + w] != l[i])
                        || (x > 0 && l[i - 1] != l[i]) || (y > 0 && l[i - w] != l[i]);
                if (edge) c = 0xFFFF00;
                else if (rgb != null) {
                    float[] d = rgb.data();
                    c = (gray(d[i]) << 16) | (gray(d[p + i]) << 8) | gray(d[2 * p + i]);
                } else {
                    // the model input, min-max scaled (its first three channels, or gray)
                    int[] k = new int[3];
                    for (int ch = 0; ch < 3; ch++) {
                        float v = input[Math.min(ch, channels - 1) * p + i];
                        k[ch] = gray(hi > lo ? (v - lo) / (hi - lo) : 0f);
                    }
                    c = (k[0] << 16) | (k[1] << 8) | k[2];
                }
                img.setRGB(x, y, c);
            }
        String name = String.format(Locale.ROOT, "%04d_%s_segments.png", image, stem);
        Path tmp = dir.resolve(name + ".partial");
        if (!ImageIO.write(img, "png", tmp.toFile())) throw new SalientException("cannot write PNG " + tmp);
        return new Path[] {tmp, dir.resolve(name)};
    }

    private static int gray(float v) {
        return Math.round(Math.max(0, Math.min(1, v)) * 255);
    }

    /** The images segmented so far. */
    int count() {
        return maps.size();
    }

    /** Writes segments.npy (N,H,W) of the images segmented so far. */
    void write(Path dir) throws IOException {
        if (maps.isEmpty()) return;
        float[] all = new float[maps.size() * h * w];
        for (int i = 0; i < maps.size(); i++)
            for (int p = 0; p < h * w; p++) all[i * h * w + p] = maps.get(i)[p];
        Path tmp = dir.resolve(FILE + ".partial");
        Npy.write(tmp, new NdArray(new long[] {maps.size(), h, w}, all));
        RunOutput.moveAtomically(tmp, dir.resolve(FILE));
        Files.deleteIfExists(tmp);
    }
}
