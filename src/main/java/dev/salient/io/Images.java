package dev.salient.io;

import dev.salient.engine.SalientException;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.DataBufferByte;
import java.awt.image.PixelInterleavedSampleModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Iterator;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.stream.ImageInputStream;

/**
 * PNG/JPEG decoding (through ImageIO) and the {@link Preprocess} pipeline:
 * resize, centre crop, scale to [0,1], normalise. All pixel arrays here are
 * planar float (C,H,W), row-major.
 *
 * <pre>{@code
 * Images.Loaded img = Images.load(Path.of("cat.jpg"), Preprocess.defaults().resolve(3, 224, 224));
 * NdArray x = img.input();   // (1,3,224,224), normalised
 * NdArray rgb = img.rgb();   // (3,224,224) in [0,1], for overlays
 * }</pre>
 */
public final class Images {
    private Images() {}

    /**
     * One preprocessed image: {@code input} is (1,C,H,W) ready for the model;
     * {@code rgb} is the same crop as (3,H,W) RGB in [0,1] before normalisation
     * (grey replicated for 1-channel models), for drawing overlays.
     */
    public record Loaded(NdArray input, NdArray rgb) {}

    /** A decoded picture: planar RGB (3,H,W) in [0,1]; {@code gray} if the file had one colour channel. */
    public record Decoded(int height, int width, float[] rgb, boolean gray) {}

    /** True for names ending in .png, .jpg or .jpeg (any case). */
    public static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg");
    }

    /** Decodes and preprocesses one image file. */
    public static Loaded load(Path file, Preprocess.Resolved p) {
        return preprocess(decode(file), p, file.toString());
    }

    /** Largest image decoded: pixels, and bytes of the decoded raster plus its planar float copy. */
    public static final long MAX_PIXELS = 1L << 26, MAX_DECODE_BYTES = 1L << 30;
    /** Largest --resize (shorter side after resizing, pixels). */
    public static final int MAX_RESIZE = 1 << 20;

    /**
     * Decodes a PNG/JPEG to planar RGB in [0,1]. The size is read from the
     * file's header first: an image whose decoded raster and float copy would
     * pass {@link #MAX_DECODE_BYTES} (a 4 MB PNG can declare 23000x23000
     * 16-bit RGBA) is refused before anything is decoded.
     */
    public static Decoded decode(Path file) {
        if (!Files.isRegularFile(file)) throw new SalientException(file + ": no such file");
        BufferedImage img;
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) throw new SalientException(file + ": cannot open image");
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) throw new SalientException(file + ": not a PNG or JPEG image ImageIO can decode");
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                long w = reader.getWidth(0), h = reader.getHeight(0);
                checkDecodeSize(file, w, h, bytesPerPixel(reader));
                img = reader.read(0);
            } finally {
                reader.dispose();
            }
        } catch (SalientException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new SalientException(file + ": cannot decode image: " + Npy.oneLine(e));
        }
        if (img == null) throw new SalientException(file + ": not a PNG or JPEG image ImageIO can decode");
        return toPlanes(img);
    }

    /** A decoded image as float planes (3,H,W) in [0,1]; grey images repeat their one channel. */
    public static Decoded toPlanes(BufferedImage img) {
        int h = img.getHeight(), w = img.getWidth();
        float[] rgb = new float[3 * h * w];
        int plane = h * w;
        boolean gray = img.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_GRAY;
        if (gray) {
            // read samples directly: getRGB would push grey through a gamma conversion
            Raster r = img.getRaster();
            int bits = img.getColorModel().getComponentSize(0);
            float max = (float) ((1L << bits) - 1);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    float v = r.getSample(x, y, 0) / max;
                    rgb[y * w + x] = v;
                    rgb[plane + y * w + x] = v;
                    rgb[2 * plane + y * w + x] = v;
                }
        } else if (!interleavedSrgbBytes(img, rgb)) {
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
        return new Decoded(h, w, rgb, gray);
    }

    /**
     * The fast path of {@link #toPlanes}: 8-bit sRGB pixels interleaved in one byte array
     * (what ImageIO decodes a JPEG, and an RGB or RGBA PNG, to) are read from the array
     * itself. These are the bytes {@code getRGB} returns for such an image, without its
     * per-pixel colour-model calls (3x faster decoding of a 224x224 JPEG). Returns false,
     * writing nothing, for any other layout.
     */
    private static boolean interleavedSrgbBytes(BufferedImage img, float[] rgb) {
        if (!(img.getColorModel() instanceof ComponentColorModel cm) || !cm.getColorSpace().isCS_sRGB()
                || cm.getNumColorComponents() != 3 || cm.isAlphaPremultiplied() || cm.getTransferType() != DataBuffer.TYPE_BYTE)
            return false;
        Raster r = img.getRaster();
        if (!(r.getSampleModel() instanceof PixelInterleavedSampleModel sm) || !(r.getDataBuffer() instanceof DataBufferByte db)
                || db.getNumBanks() != 1 || r.getParent() != null || r.getSampleModelTranslateX() != 0
                || r.getSampleModelTranslateY() != 0)
            return false;
        for (int b = 0; b < 3; b++)
            if (cm.getComponentSize(b) != 8) return false;
        int h = img.getHeight(), w = img.getWidth(), plane = h * w;
        int ps = sm.getPixelStride(), ss = sm.getScanlineStride();
        int[] off = sm.getBandOffsets();
        byte[] d = db.getData();
        int base = db.getOffset();
        int o0 = base + off[0], o1 = base + off[1], o2 = base + off[2];
        for (int y = 0; y < h; y++) {
            int row = y * ss, dst = y * w;
            for (int x = 0, p = row; x < w; x++, p += ps) {
                rgb[dst + x] = (d[o0 + p] & 0xff) / 255f;
                rgb[plane + dst + x] = (d[o1 + p] & 0xff) / 255f;
                rgb[2 * plane + dst + x] = (d[o2 + p] & 0xff) / 255f;
            }
        }
        return true;
    }

    /** Bytes per pixel of the raster the reader will decode to (its raw type; 8 if it does not say). */
    private static long bytesPerPixel(ImageReader reader) throws IOException {
        ImageTypeSpecifier t = reader.getRawImageType(0);
        if (t == null) return 8;
        long bits = 0;
        for (int b : t.getSampleModel().getSampleSize()) bits += b;
        return Math.max(1, (bits + 7) / 8);
    }

    /** Refuses, in one line, an image whose decoded raster and float copy pass the budget. */
    static void checkDecodeSize(Path file, long w, long h, long bytesPerPixel) {
        if (w <= 0 || h <= 0) throw new SalientException(file + ": image header declares " + w + "x" + h + " pixels");
        long px = w * h; // both < 2^31: no overflow
        long bytes = px * (bytesPerPixel + 12); // raster + planar float RGB
        if (px > MAX_PIXELS || bytes > MAX_DECODE_BYTES)
            throw new SalientException(file + ": image of " + w + "x" + h + " pixels would need "
                    + (bytes >> 20) + " MiB to decode, over the limit of " + (MAX_DECODE_BYTES >> 20) + " MiB ("
                    + MAX_PIXELS / 1_000_000 + " Mpx); downscale it first");
    }

    /** Resize, crop and normalise an already decoded picture ({@code name} is for error lines). */
    public static Loaded preprocess(Decoded d, Preprocess.Resolved p, String name) {
        int h = d.height(), w = d.width();
        if (p.resize() > MAX_RESIZE) throw new SalientException("--resize must be at most " + MAX_RESIZE + ", got " + p.resize());
        // shorter side -> p.resize(), longer side truncated (torchvision Resize(int)); in long: the
        // longer side of a 1x1000000 image resized to 28 does not fit an int product
        long oh, ow;
        if (h <= w) {
            oh = p.resize();
            ow = (long) p.resize() * w / h;
        } else {
            ow = p.resize();
            oh = (long) p.resize() * h / w;
        }
        if (oh < p.cropHeight() || ow < p.cropWidth())
            throw new SalientException(name + ": resized to " + ow + "x" + oh + ", smaller than the crop "
                    + p.cropWidth() + "x" + p.cropHeight() + " (raise --resize)");
        long top = Math.round(Math.rint((oh - p.cropHeight()) / 2.0));
        long left = Math.round(Math.rint((ow - p.cropWidth()) / 2.0));
        // only the crop window of the resized image is computed: memory stays O(source + crop)
        float[] rgb = (oh == h && ow == w) ? crop(d.rgb(), 3, h, w, (int) top, (int) left, p.cropHeight(), p.cropWidth())
                : resizeWindow(d.rgb(), 3, h, w, oh, ow, top, left, p.cropHeight(), p.cropWidth());

        int ch = p.cropHeight(), cw = p.cropWidth(), plane = ch * cw;
        float[] x = new float[p.channels() * plane];
        if (p.channels() == 1) {
            for (int i = 0; i < plane; i++) {
                float l = d.gray() ? rgb[i] : 0.299f * rgb[i] + 0.587f * rgb[plane + i] + 0.114f * rgb[2 * plane + i];
                x[i] = (l - p.mean()[0]) / p.std()[0];
                // the overlay background shows what the model saw
                rgb[i] = l;
                rgb[plane + i] = l;
                rgb[2 * plane + i] = l;
            }
        } else {
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < plane; i++) x[c * plane + i] = (rgb[c * plane + i] - p.mean()[c]) / p.std()[c];
        }
        return new Loaded(new NdArray(new long[] {1, p.channels(), ch, cw}, x), new NdArray(new long[] {3, ch, cw}, rgb));
    }

    /** Copies the window {@code [top, top+ch) x [left, left+cw)} of each plane of a (C,H,W) array. */
    public static float[] crop(float[] src, int c, int h, int w, int top, int left, int ch, int cw) {
        if (top < 0 || left < 0 || top + ch > h || left + cw > w)
            throw new SalientException("crop window outside the image");
        float[] out = new float[c * ch * cw];
        for (int k = 0; k < c; k++)
            for (int y = 0; y < ch; y++)
                System.arraycopy(src, k * h * w + (top + y) * w + left, out, k * ch * cw + y * cw, cw);
        return out;
    }

    /**
     * Resizes each plane of a (C,H,W) array with a separable triangle (bilinear)
     * filter and half-pixel centres. Enlarging, this is exactly bilinear
     * interpolation with {@code align_corners=False}; shrinking, the filter's
     * support grows with the scale so that every source pixel contributes
     * (the antialiasing of PIL and {@code interpolate(antialias=True)}).
     */
    public static float[] resize(float[] src, int c, int h, int w, int oh, int ow) {
        if (oh <= 0 || ow <= 0) throw new SalientException("resize to " + ow + "x" + oh + " is empty");
        return resizeWindow(src, c, h, w, oh, ow, 0, 0, oh, ow);
    }

    /**
     * The window {@code [top, top+ch) x [left, left+cw)} of {@link #resize}{@code (src, c, h, w, oh, ow)},
     * computed without the rest of the resized image (the same sums, in the same order).
     */
    public static float[] resizeWindow(float[] src, int c, int h, int w, long oh, long ow, long top, long left, int ch, int cw) {
        if (oh <= 0 || ow <= 0) throw new SalientException("resize to " + ow + "x" + oh + " is empty");
        if (top < 0 || left < 0 || top + ch > oh || left + cw > ow || ch <= 0 || cw <= 0)
            throw new SalientException("crop window outside the image");
        if ((long) h * cw > Integer.MAX_VALUE - 8 || (long) c * ch * cw > Integer.MAX_VALUE - 8)
            throw new SalientException("resize to " + ow + "x" + oh + " is too large");
        Filter fx = Filter.of(w, ow, left, cw), fy = Filter.of(h, oh, top, ch);
        float[] tmp = new float[h * cw];
        float[] out = new float[c * ch * cw];
        for (int k = 0; k < c; k++) {
            int base = k * h * w;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < cw; x++) {
                    double s = 0;
                    int lo = fx.lo[x];
                    for (int j = 0; j < fx.n[x]; j++) s += fx.w[x][j] * src[base + y * w + lo + j];
                    tmp[y * cw + x] = (float) s;
                }
            int ob = k * ch * cw;
            for (int y = 0; y < ch; y++) {
                int lo = fy.lo[y];
                for (int x = 0; x < cw; x++) {
                    double s = 0;
                    for (int j = 0; j < fy.n[y]; j++) s += fy.w[y][j] * tmp[(lo + j) * cw + x];
                    out[ob + y * cw + x] = (float) s;
                }
            }
        }
        return out;
    }

    /**
     * Per output index {@code first .. first+count-1} of a resize from {@code in} to {@code out}: first
     * source index, tap count and normalised weights (PIL's precompute_coeffs).
     */
    private record Filter(int[] lo, int[] n, double[][] w) {
        static Filter of(int in, long out, long first, int count) {
            double scale = (double) in / out;
            double fscale = Math.max(scale, 1.0);
            double support = fscale; // triangle filter has support 1
            int[] lo = new int[count], n = new int[count];
            double[][] w = new double[count][];
            for (int k = 0; k < count; k++) {
                int i = k; // index into this window's arrays; the output index is first + k
                double center = (first + k + 0.5) * scale;
                int xmin = Math.max((int) (center - support + 0.5), 0);
                int xmax = Math.min((int) (center + support + 0.5), in);
                double[] ws = new double[Math.max(xmax - xmin, 0)];
                double total = 0;
                for (int x = xmin; x < xmax; x++) {
                    double t = Math.abs((x - center + 0.5) / fscale);
                    double v = t < 1 ? 1 - t : 0;
                    ws[x - xmin] = v;
                    total += v;
                }
                if (total > 0) for (int j = 0; j < ws.length; j++) ws[j] /= total;
                lo[i] = xmin;
                n[i] = ws.length;
                w[i] = ws;
            }
            return new Filter(lo, n, w);
        }
    }
}
