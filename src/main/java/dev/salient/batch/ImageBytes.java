package dev.salient.batch;

import dev.salient.engine.SalientException;
import dev.salient.io.Images;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import javax.imageio.ImageIO;

/**
 * Decodes an encoded PNG/JPEG held in memory (a Parquet bytes column, Spark's
 * binaryFile rows) to the planar RGB that {@link Images#preprocess} takes, with the
 * same sample handling as {@link Images#decode(java.nio.file.Path)} for files.
 */
public final class ImageBytes {
    private ImageBytes() {}

    /** Largest decoded image, in pixels. */
    static final long MAX_PIXELS = 1L << 26;

    public static Images.Decoded decode(byte[] bytes, String name) {
        if (bytes == null || bytes.length == 0) throw new SalientException(name + ": empty image bytes");
        BufferedImage img;
        try {
            img = ImageIO.read(new ByteArrayInputStream(bytes));
        } catch (IOException | RuntimeException e) {
            throw new SalientException(name + ": cannot decode image: " + e.getMessage());
        }
        if (img == null) throw new SalientException(name + ": not a PNG or JPEG image ImageIO can decode");
        int h = img.getHeight(), w = img.getWidth();
        if ((long) h * w > MAX_PIXELS) throw new SalientException(name + ": image of " + w + "x" + h + " pixels is too large");
        float[] rgb = new float[3 * h * w];
        int plane = h * w;
        boolean gray = img.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_GRAY;
        if (gray) {
            Raster r = img.getRaster();
            float max = (float) ((1L << img.getColorModel().getComponentSize(0)) - 1);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    float v = r.getSample(x, y, 0) / max;
                    rgb[y * w + x] = v;
                    rgb[plane + y * w + x] = v;
                    rgb[2 * plane + y * w + x] = v;
                }
        } else {
            int[] row = new int[w];
            for (int y = 0; y < h; y++) {
                img.getRGB(0, y, w, 1, row, 0, w);
                for (int x = 0; x < w; x++) {
                    int c = row[x];
                    rgb[y * w + x] = ((c >> 16) & 0xff) / 255f;
                    rgb[plane + y * w + x] = ((c >> 8) & 0xff) / 255f;
                    rgb[2 * plane + y * w + x] = (c & 0xff) / 255f;
                }
            }
        }
        return new Images.Decoded(h, w, rgb, gray);
    }
}
