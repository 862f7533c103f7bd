package dev.salient.explain;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A distribution of M reference images (M, C, H, W), as Captum's DeepLiftShap and
 * GradientShap take in {@code baselines}: an NPY file, or {@code uniform:M[:SEED]}, M
 * images of seeded uniform noise on [0, 1).
 * <pre>{@code
 * Baselines b = Baselines.parse("refs.npy", 0L);
 * }</pre>
 */
public final class Baselines {
    /** The CLI option, shared by the methods that take a baseline distribution. */
    public static final MethodOption<String> OPTION = MethodOption.of("--baselines", "B.npy|uniform:M[:SEED]", null, s -> {
        parse(s, 0L);
        return s;
    }, "Baseline distribution: an NPY of M >= 2 images (M,C,H,W), or uniform:M[:SEED] (M seeded U(0,1) images).");

    private final float[] values;
    private final long[] shape;
    private final String describe;

    private Baselines(float[] values, long[] shape, String describe) {
        this.values = values;
        this.shape = shape;
        this.describe = describe;
    }

    /** M images of the given values, shape (M, C, H, W). */
    public static Baselines of(float[] values, long... shape) {
        if (shape.length != 4)
            throw new SalientException("--baselines needs an (M,C,H,W) array, got shape " + Shapes.str(shape));
        if (Shapes.numel(shape) != values.length) throw new SalientException("baseline values do not fill shape " + Shapes.str(shape));
        if (shape[0] < 2)
            throw new SalientException("--baselines needs at least 2 images (a distribution), got " + shape[0]
                    + " (use deeplift --baseline for a single reference)");
        return new Baselines(values.clone(), shape.clone(), "tensor" + Arrays.toString(shape));
    }

    /**
     * The CLI forms: a path to an NPY file, or {@code uniform:M[:SEED]} (shape taken from the
     * input at use; {@code seed} when no SEED is given).
     */
    public static Baselines parse(String s, long seed) {
        if (s == null) throw new SalientException("this method needs --baselines B.npy (M >= 2 images) or uniform:M[:SEED]");
        String t = s.trim();
        if (t.startsWith("uniform:")) {
            String[] p = t.substring(8).split(":");
            try {
                int m = Integer.parseInt(p[0]);
                long sd = p.length > 1 ? Long.parseLong(p[1]) : seed;
                if (p.length > 2) throw new NumberFormatException("too many parts");
                if (m < 2) throw new SalientException("--baselines uniform:M needs M >= 2, got " + m);
                return new Baselines(null, new long[] {m, -1, -1, -1}, "uniform:" + m + ":" + sd);
            } catch (NumberFormatException e) {
                throw new SalientException("bad --baselines '" + s + "' (use B.npy or uniform:M[:SEED])");
            }
        }
        if (!t.toLowerCase(java.util.Locale.ROOT).endsWith(".npy"))
            throw new SalientException("bad --baselines '" + s + "' (use B.npy or uniform:M[:SEED])");
        NdArray a = Npy.read(Path.of(t));
        if (a.firstNonFinite() >= 0) throw new SalientException(t + ": baselines contain NaN or infinite values");
        return of(a.data(), a.shape());
    }

    /** M, the number of baseline images. */
    public int count() {
        return (int) shape[0];
    }

    /**
     * The baselines on {@code b} for inputs of shape {@code inputShape} (N,C,H,W): (M,C,H,W);
     * a shape that does not match the input's rows is one clear line. The caller owns it.
     */
    public Tensor build(Backend b, long[] inputShape) {
        if (inputShape.length != 4)
            throw new SalientException("attribution expects an (N,C,H,W) batch, got shape " + Shapes.str(inputShape));
        long[] want = {shape[0], inputShape[1], inputShape[2], inputShape[3]};
        if (values == null) {
            String[] p = describe.split(":");
            SplittableRandom r = new SplittableRandom(Long.parseLong(p[2]));
            float[] v = new float[Math.toIntExact(Shapes.numel(want))];
            for (int i = 0; i < v.length; i++) v[i] = (float) r.nextDouble();
            return b.upload(v, want);
        }
        if (!Arrays.equals(want, shape))
            throw new SalientException("--baselines has shape " + Shapes.str(shape) + " but the input images are "
                    + Shapes.str(Arrays.copyOfRange(inputShape, 1, 4)) + " (need (M," + inputShape[1] + "," + inputShape[2]
                    + "," + inputShape[3] + "))");
        return b.upload(values, shape);
    }

    /** The images' values (a copy), or null for {@code uniform:M}, whose shape comes from the input. */
    public float[] values() {
        return values == null ? null : values.clone();
    }

    public String describe() {
        return describe;
    }
}
