package dev.salient.io;

import dev.salient.engine.SalientException;

/**
 * Preprocessing of a scan volume (D,H,W) for a 3-D model with input (N,C,D,H,W): an optional
 * CT-style window, a trilinear resize to the model's (D,H,W) with half-voxel centres (torch's
 * {@code interpolate(mode='trilinear', align_corners=False)}), then {@code (v - mean) / std}.
 * The one channel is repeated when the model takes several.
 * <pre>{@code
 * NdArray x = Volumes.prepare(Nifti.read(p).data(), new long[] {40, 512, 512}, new long[] {-1, 1, 64, 112, 112},
 *         new Volumes.Window(40, 400), 0f, 1f);    // a soft-tissue window, (1,1,64,112,112)
 * }</pre>
 */
public final class Volumes {
    private Volumes() {}

    /**
     * A display window as radiologists set it: values are clipped to
     * {@code [level - width/2, level + width/2]} and mapped linearly onto [0,1].
     */
    public record Window(float level, float width) {
        public Window {
            if (!Float.isFinite(level)) throw new SalientException("--window-level must be finite, got " + level);
            if (!(width > 0) || !Float.isFinite(width))
                throw new SalientException("--window-width must be positive, got " + width);
        }

        public float apply(float v) {
            float t = (v - (level - width / 2)) / width;
            return t < 0 ? 0 : t > 1 ? 1 : t;
        }
    }

    /**
     * The model input (1,C,D,H,W) from a volume {@code v} of shape {@code (d,h,w)}.
     * @param modelShape the model's declared 5-D input shape (-1 where dynamic: kept at the volume's size)
     * @param window     null for none
     */
    public static NdArray prepare(float[] v, long[] shape, long[] modelShape, Window window, float mean, float std) {
        if (modelShape == null || modelShape.length != 5)
            throw new SalientException("a volume needs a model with a 5-D (N,C,D,H,W) input, this one's is "
                    + (modelShape == null ? "undeclared" : Inputs.shapeStr(modelShape)));
        if (!(std > 0) || !Float.isFinite(std) || !Float.isFinite(mean))
            throw new SalientException("--mean must be finite and --std positive, got " + mean + " and " + std);
        int c = modelShape[1] > 0 ? (int) modelShape[1] : 1;
        int[] in = {(int) shape[0], (int) shape[1], (int) shape[2]};
        int[] out = new int[3];
        for (int a = 0; a < 3; a++) out[a] = modelShape[2 + a] > 0 ? (int) modelShape[2 + a] : in[a];
        float[] w = v;
        if (window != null) {
            w = new float[v.length];
            for (int i = 0; i < v.length; i++) w[i] = window.apply(v[i]);
        }
        float[] r = resizeTrilinear(w, in, out);
        long vol = (long) out[0] * out[1] * out[2];
        float[] x = new float[(int) (vol * c)];
        for (int i = 0; i < vol; i++) {
            float y = (r[i] - mean) / std;
            for (int ch = 0; ch < c; ch++) x[(int) (ch * vol + i)] = y;
        }
        return new NdArray(new long[] {1, c, out[0], out[1], out[2]}, x);
    }

    /** Per axis: the source position of output index o, torch's align_corners=False rule (clamped below at 0). */
    static double source(int o, int in, int out) {
        double s = (o + 0.5) * ((double) in / out) - 0.5;
        return s < 0 ? 0 : s;
    }

    /** x (d,h,w) to (od,oh,ow), trilinear with half-voxel centres (torch, align_corners=False). */
    public static float[] resizeTrilinear(float[] x, int[] in, int[] out) {
        if ((long) in[0] * in[1] * in[2] != x.length)
            throw new SalientException("resize: " + x.length + " values for a " + in[0] + "x" + in[1] + "x" + in[2] + " volume");
        if (in[0] == out[0] && in[1] == out[1] && in[2] == out[2]) return x.clone();
        int[][] i0 = new int[3][], i1 = new int[3][];
        float[][] l1 = new float[3][];
        for (int a = 0; a < 3; a++) {
            i0[a] = new int[out[a]];
            i1[a] = new int[out[a]];
            l1[a] = new float[out[a]];
            for (int o = 0; o < out[a]; o++) {
                double s = source(o, in[a], out[a]);
                int lo = Math.min((int) s, in[a] - 1);
                i0[a][o] = lo;
                i1[a][o] = lo < in[a] - 1 ? lo + 1 : lo;
                l1[a][o] = (float) (s - lo);
            }
        }
        float[] y = new float[out[0] * out[1] * out[2]];
        int hw = in[1] * in[2];
        int k = 0;
        for (int z = 0; z < out[0]; z++) {
            float bz = l1[0][z], az = 1 - bz;
            int z0 = i0[0][z] * hw, z1 = i1[0][z] * hw;
            for (int p = 0; p < out[1]; p++) {
                float by = l1[1][p], ay = 1 - by;
                int y0 = i0[1][p] * in[2], y1 = i1[1][p] * in[2];
                for (int q = 0; q < out[2]; q++, k++) {
                    float bx = l1[2][q], ax = 1 - bx;
                    int x0 = i0[2][q], x1 = i1[2][q];
                    y[k] = az * (ay * (ax * x[z0 + y0 + x0] + bx * x[z0 + y0 + x1])
                                    + by * (ax * x[z0 + y1 + x0] + bx * x[z0 + y1 + x1]))
                            + bz * (ay * (ax * x[z1 + y0 + x0] + bx * x[z1 + y0 + x1])
                                    + by * (ax * x[z1 + y1 + x0] + bx * x[z1 + y1 + x1]));
                }
            }
        }
        return y;
    }
}
