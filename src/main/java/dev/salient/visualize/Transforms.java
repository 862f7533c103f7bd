package dev.salient.visualize;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import java.util.SplittableRandom;

/**
 * Lucid's {@code standard_transforms} (lucid/optvis/transform.py; Lucent's transform.py is the
 * same list): pad 12 with the constant 0.5, jitter 8, a random scale from {1 + (i−5)/50 : i = 0..10},
 * a random rotation from {−10..10}° ∪ five more 0°, jitter 4, all on the [0,1] image. The
 * random choices of image n at a step are a function of (seed, objective index, step) alone,
 * so results do not depend on how objectives are batched.
 *
 * <p>Two engine passes: {@link Backend#cropPad} does pad 12 and the first jitter (a crop of
 * size +16 at offsets 0..7 of the padded image, as Lucid's random crop); one
 * {@link Backend#affineResampleForward} does the scale and rotation about the canvas centre
 * and the second jitter (a crop of size −4 at offsets 0..3), and, when the model takes a fixed
 * input size, the bilinear resize to it (align_corners=True, as Lucent's upsample). Where
 * Lucid resizes the canvas by the scale (an image size per scale), the scale here keeps the
 * canvas size, so a batch keeps one shape. Backward: the resample's adjoint, then cropPad
 * with negated offsets and fill 0 (its adjoint).
 *
 * <p>{@code none}: the image itself, resized to the model's size only if that differs.
 */
final class Transforms {
    static final int PAD = 12, JITTER1 = 8, JITTER2 = 4;
    static final double[] SCALES = new double[11];
    static final int[] ANGLES = new int[26];

    static {
        for (int i = 0; i < 11; i++) SCALES[i] = 1 + (i - 5) / 50.0;
        for (int i = 0; i < 21; i++) ANGLES[i] = i - 10; // list(range(-10, 11)) + 5 * [0]
    }

    private final boolean standard;
    private final long c, h, w, midH, midW, outH, outW;

    /**
     * @param h, w the parametrised image's size
     * @param outH, outW the model's input size, or ≤ 0 where the model takes any size (then the
     *     standard set gives (h+12, w+12), Lucid's output size at scale 1, and none gives (h, w))
     */
    Transforms(boolean standard, long c, long h, long w, long outH, long outW) {
        this.standard = standard;
        this.c = c;
        this.h = h;
        this.w = w;
        this.midH = standard ? h + 2 * PAD - JITTER1 : h;
        this.midW = standard ? w + 2 * PAD - JITTER1 : w;
        this.outH = outH > 0 ? outH : midH - (standard ? JITTER2 : 0);
        this.outW = outW > 0 ? outW : midW - (standard ? JITTER2 : 0);
    }

    long[] outShape(long n) {
        return new long[] {n, c, outH, outW};
    }

    long[] midShape(long n) {
        return new long[] {n, c, midH, midW};
    }

    /** One image's random choices at one step. */
    record Draw(int jy1, int jx1, double scale, int degrees, int jy2, int jx2) {}

    /** The choices of objective {@code index} at {@code step}: a function of the three numbers only. */
    static Draw draw(long seed, long index, int step) {
        long s = mix(seed + 0x9E3779B97F4A7C15L * (index + 1));
        s = mix(s + 0xBF58476D1CE4E5B9L * (step + 1L));
        SplittableRandom r = new SplittableRandom(s);
        int jx1 = r.nextInt(JITTER1), jy1 = r.nextInt(JITTER1); // Lucent: dx, dy = np.random.choice(d)
        double sc = SCALES[r.nextInt(SCALES.length)];
        int deg = ANGLES[r.nextInt(ANGLES.length)];
        int jx2 = r.nextInt(JITTER2), jy2 = r.nextInt(JITTER2);
        return new Draw(jy1, jx1, sc, deg, jy2, jx2);
    }

    private static long mix(long z) { // splitmix64's finaliser
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** The engine arguments of one step for a batch: cropPad offsets (2 per image) and affine maps (6 per image). */
    record Step(int[] offsets, float[] theta) {}

    Step step(long seed, long[] index, int step) {
        int n = index.length;
        int[] off = new int[2 * n];
        float[] theta = new float[6 * n];
        for (int i = 0; i < n; i++) {
            if (standard) {
                Draw d = draw(seed, index[i], step);
                off[2 * i] = d.jy1() - PAD;
                off[2 * i + 1] = d.jx1() - PAD;
                System.arraycopy(map(d.scale(), Math.toRadians(d.degrees()), d.jy2(), d.jx2()), 0, theta, 6 * i, 6);
            } else {
                System.arraycopy(map(1, 0, 0, 0), 0, theta, 6 * i, 6);
            }
        }
        return new Step(off, theta);
    }

    /**
     * Output pixel (i, j) → its source in the mid canvas: through the resize to the crop of the
     * second jitter (align_corners=True), the crop's offset, then the inverse rotation and
     * scale about the canvas centre.
     */
    float[] map(double scale, double angle, int jy2, int jx2) {
        long cropH = midH - (standard ? JITTER2 : 0), cropW = midW - (standard ? JITTER2 : 0);
        double ky = outH > 1 ? (cropH - 1) / (double) (outH - 1) : 1, kx = outW > 1 ? (cropW - 1) / (double) (outW - 1) : 1;
        double cy = (midH - 1) / 2.0, cx = (midW - 1) / 2.0;
        double co = Math.cos(angle) / scale, si = Math.sin(angle) / scale;
        return new float[] {(float) (co * kx), (float) (si * ky), (float) (cx + co * (jx2 - cx) + si * (jy2 - cy)),
                (float) (-si * kx), (float) (co * ky), (float) (cy - si * (jx2 - cx) + co * (jy2 - cy))};
    }

    /** Whether this is the identity (none, at the model's size): forward and backward are copies. */
    boolean identity() {
        return !standard && outH == h && outW == w;
    }

    /** out = T(img), mid is scratch of {@link #midShape}. */
    void forward(Backend b, Tensor img, Step s, Tensor mid, Tensor out) {
        if (identity()) {
            b.copy(img, out);
            return;
        }
        if (standard) {
            b.cropPad(img, s.offsets(), 0.5f, mid);
            b.affineResampleForward(mid, s.theta(), out);
        } else {
            b.affineResampleForward(img, s.theta(), out);
        }
    }

    /** dImg = Tᵀ(dOut); dMid is scratch of {@link #midShape}. */
    void backward(Backend b, Tensor dOut, Step s, Tensor dMid, Tensor dImg) {
        if (identity()) {
            b.copy(dOut, dImg);
            return;
        }
        if (standard) {
            b.affineResampleBackward(dOut, s.theta(), dMid);
            int[] neg = s.offsets().clone();
            for (int i = 0; i < neg.length; i++) neg[i] = -neg[i];
            b.cropPad(dMid, neg, 0f, dImg);
        } else {
            b.affineResampleBackward(dOut, s.theta(), dImg);
        }
    }
}
