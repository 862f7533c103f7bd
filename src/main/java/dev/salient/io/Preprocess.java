package dev.salient.io;

import dev.salient.engine.SalientException;
import java.util.Arrays;

/**
 * How a PNG/JPEG becomes a model input, in this order:
 * <ol>
 *   <li>decode to RGB (or to luma {@code 0.299R + 0.587G + 0.114B} for 1-channel models, as PIL's "L");</li>
 *   <li>resize so the shorter side is {@code resize} pixels, keeping the aspect ratio (the longer
 *       side is truncated as torchvision's {@code Resize(int)} does); bilinear with half-pixel
 *       centres, the filter widened by the scale when shrinking (antialiasing, as PIL and
 *       {@code torch.nn.functional.interpolate(..., antialias=True)} do);</li>
 *   <li>centre crop to {@code cropHeight x cropWidth} (offsets rounded as torchvision's
 *       {@code CenterCrop});</li>
 *   <li>scale to [0, 1], then {@code (x - mean[c]) / std[c]}.</li>
 * </ol>
 *
 * <p>Defaults (a 0 or {@code null} field means "default"):
 * <ul>
 *   <li>crop: the model's declared input H x W (required when those are dynamic);</li>
 *   <li>resize: the crop's larger side, so a square image keeps all its content. For the
 *       torchvision ImageNet evaluation recipe use {@code resize 256, crop 224};</li>
 *   <li>mean/std: ImageNet's {@code (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225)} for
 *       3-channel models, {@code 0 / 1} for 1-channel models. A single value applies to
 *       every channel.</li>
 * </ul>
 *
 * <pre>{@code
 * Preprocess p = Preprocess.defaults().withResize(256).withCrop(224, 224);
 * Preprocess.Resolved r = p.resolve(3, 224, 224);
 * }</pre>
 */
public record Preprocess(int resize, int cropHeight, int cropWidth, float[] mean, float[] std) {

    public static final float[] IMAGENET_MEAN = {0.485f, 0.456f, 0.406f};
    public static final float[] IMAGENET_STD = {0.229f, 0.224f, 0.225f};

    public Preprocess {
        if (resize < 0) throw new SalientException("--resize must be positive, got " + resize);
        if (cropHeight < 0 || cropWidth < 0)
            throw new SalientException("--crop must be positive, got " + cropHeight + "x" + cropWidth);
        mean = mean == null ? null : mean.clone();
        std = std == null ? null : std.clone();
        if (std != null)
            for (float s : std)
                if (!(s > 0) || !Float.isFinite(s)) throw new SalientException("--std values must be positive, got " + s);
        if (mean != null)
            for (float m : mean)
                if (!Float.isFinite(m)) throw new SalientException("--mean values must be finite, got " + m);
    }

    /** Every field at its default. */
    public static Preprocess defaults() {
        return new Preprocess(0, 0, 0, null, null);
    }

    public Preprocess withResize(int shorterSide) {
        return new Preprocess(shorterSide, cropHeight, cropWidth, mean, std);
    }

    public Preprocess withCrop(int height, int width) {
        return new Preprocess(resize, height, width, mean, std);
    }

    public Preprocess withMean(float... m) {
        return new Preprocess(resize, cropHeight, cropWidth, m, std);
    }

    public Preprocess withStd(float... s) {
        return new Preprocess(resize, cropHeight, cropWidth, mean, s);
    }

    /**
     * Fills the defaults for a model whose input has {@code channels} channels
     * and spatial size {@code modelH x modelW} (-1 where dynamic).
     */
    public Resolved resolve(long channels, long modelH, long modelW) {
        if (channels != 1 && channels != 3)
            throw new SalientException("images need a model with 1 or 3 input channels, this one has " + channels);
        int ch = cropHeight > 0 ? cropHeight : (int) modelH;
        int cw = cropWidth > 0 ? cropWidth : (int) modelW;
        if (ch <= 0 || cw <= 0)
            throw new SalientException("the model's input height/width is dynamic: give the image size with --crop");
        if (modelH > 0 && ch != modelH || modelW > 0 && cw != modelW)
            throw new SalientException("--crop " + ch + "x" + cw + " does not match the model's input size " + modelH + "x" + modelW);
        int r = resize > 0 ? resize : Math.max(ch, cw);
        float[] m = expand(mean, channels, channels == 3 ? IMAGENET_MEAN : new float[] {0f}, "--mean");
        float[] s = expand(std, channels, channels == 3 ? IMAGENET_STD : new float[] {1f}, "--std");
        return new Resolved((int) channels, r, ch, cw, m, s);
    }

    private static float[] expand(float[] given, long channels, float[] fallback, String flag) {
        float[] v = given != null ? given : fallback;
        if (v.length == 1) {
            float[] out = new float[(int) channels];
            Arrays.fill(out, v[0]);
            return out;
        }
        if (v.length != channels)
            throw new SalientException(flag + " has " + v.length + " values but the model has " + channels + " channels");
        return v.clone();
    }

    /** Preprocessing with every default filled in for one model. */
    public record Resolved(int channels, int resize, int cropHeight, int cropWidth, float[] mean, float[] std) {
        @Override
        public String toString() {
            return "resize " + resize + ", crop " + cropHeight + "x" + cropWidth + ", mean " + Arrays.toString(mean)
                    + ", std " + Arrays.toString(std) + (channels == 1 ? ", grayscale" : ", RGB");
        }
    }

    @Override
    public String toString() {
        return "Preprocess[resize=" + resize + ", crop=" + cropHeight + "x" + cropWidth + ", mean="
                + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + "]";
    }
}
