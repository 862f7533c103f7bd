package dev.salient.batch;

import dev.salient.engine.SalientException;
import dev.salient.io.Images;
import java.awt.image.BufferedImage;
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
        return Images.toPlanes(img);
    }
}
