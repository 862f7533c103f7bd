package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.CamCombine;
import dev.salient.engine.Reduction;
import dev.salient.engine.Tensor;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.Driver;
import dev.salient.explain.core.Layers;
import dev.salient.explain.core.Scorer;
import dev.salient.explain.core.Tape;
import dev.salient.explain.perturbation.CoalitionStem;
import dev.salient.explain.perturbation.StemEvaluations;
import dev.salient.explain.perturbation.StemTerms;
import dev.salient.model.Model;
import java.util.Arrays;

/**
 * Score-CAM (Wang et al. 2020, arXiv:1910.01279) as pytorch-grad-cam's ScoreCAM: each channel
 * k of the layer's activation A is upsampled to the input size with aligned corners (bilinear
 * as {@code nn.UpsamplingBilinear2d} for images, trilinear {@code align_corners=True} for
 * volumes), min-max normalised to M_k = (U_k − min)/(max − min + 1e-8), and the image masked by
 * it is scored: s_k = y_t(x ⊙ M_k), the raw logit. The weights are w = softmax_k(s), and the
 * map Σ_k w_k A_k goes through the CAM pipeline (ReLU, min-max, resize, min-max; in 3-D with
 * trilinear resize). Output (rows, H, W) or (rows, D, H, W) in [0,1].
 *
 * <p>The masks are built on the backend, chunk by chunk: the channels' planes are shifted by
 * their minimum (the normalisation does not see a shift), upsampled by the affine resample
 * (separably in 3-D), min-max normalised by row reductions and blended with the image. A
 * channel whose plane is constant has the all-zero mask, so all of them mask the image to the
 * same zeros: that one input is scored once and its score serves every constant channel
 * (a ReLU layer's dead channels). The masked images are evaluations of the driver, chunked
 * under the memory budget: a 2048-channel layer never holds 2048 masked images at once.
 * <pre>{@code
 * Attribution a = new ScoreCam(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class ScoreCam extends Explainer {
    public static final MethodSpec SPEC = MethodSpec.cam("scorecam",
            "pytorch-grad-cam ScoreCAM: `w = softmax_k y_t(x * minmax(up_ac(A_k)))`, no gradient; "
                    + "the constant channels' shared zero mask scored once", ScoreCam::new).withVolumes();

    private final String layer;

    public ScoreCam(Model model, String layer) {
        super(model);
        this.layer = layer == null ? "auto" : layer;
    }

    public ScoreCam(Model model, MethodOptions o) {
        this(model, o.get(MethodOption.LAYER));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    /**
     * The masked images scored for each image of this batch (its unmasked activations are
     * computed here): one per channel whose plane is not constant, plus one for all the constant
     * channels when there are any.
     */
    public int[] evaluationsPerImage(Backend b, Tensor batch) {
        try (Channels c = (Channels) expansion(b, batch)) {
            int[] e = new int[c.evals.length];
            for (int i = 0; i < e.length; i++) e[i] = c.evals[i].length;
            return e;
        }
    }

    @Override
    protected Channels expansion(Backend backend, Tensor batch) {
        String t = Layers.resolve(model, layer, batch.shape());
        Layers.requireSpatial(model, t, batch.shape(), name());
        Tensor a = Driver.prefixRows(model, backend, batch, t, memoryBudget());
        try {
            CoalitionStem stem = a.rank() == 4 ? CoalitionStem.forBatch(model, backend, batch) : null;
            Bilinear up = stem == null ? null : Bilinear.of(stem, model, a, batch);
            return new Channels(backend, a, batch.shape(), up == null ? null : stem, up);
        } catch (RuntimeException e) {
            a.close();
            throw e;
        }
    }

    /**
     * Score-CAM's masks through the model's first conv by its linearity ({@link CoalitionStem}): the
     * mask of channel k is U â_k, the aligned-corners bilinear upsampling of its normalised plane
     * â_k = (f − min Uf)/(max Uf − min Uf + 1e-8) (the normalisation is affine, and U keeps
     * constants), so x ⊙ M_k = Σ over a pixel's four cell corners of (weight · x) at the corner's
     * label: four weighted roles of one label map (the grid points), and â_k the keep values.
     *
     * @param roles the four corners' labels and weights, the same for every image
     * @param stepY the source step of an output row (the resample's own), stepX of a column
     * @param ry the output rows at the ends of each source cell, rx the columns
     */
    private record Bilinear(StemTerms.Role[] roles, int h, int w, float stepY, float stepX, int[] ry, int[] rx) {
        /**
         * The basis for planes of a's size upsampled to the batch's, or null when a window of the
         * stem reaches across more than two of its cells: then a role may see 16 labels under one
         * window, and four roles the 64 slots an engine takes.
         */
        static Bilinear of(CoalitionStem stem, Model model, Tensor a, Tensor batch) {
            int h = (int) a.dim(2), w = (int) a.dim(3), oh = (int) batch.dim(2), ow = (int) batch.dim(3);
            var g = stem.geometry(model, (int) batch.dim(1), oh, ow);
            float sy = aligned(h, oh), sx = aligned(w, ow);
            if (h < 2 || w < 2 || (g.r() - 1) * sy > 2 || (g.s() - 1) * sx > 2) return null;
            int p = oh * ow;
            int[][] labels = new int[4][p];
            float[][] scale = new float[4][p];
            for (int y = 0; y < oh; y++) {
                float fy0 = y * sy;
                int y0 = Math.min((int) Math.floor(fy0), h - 1), y1 = Math.min(y0 + 1, h - 1);
                float fy = fy0 - y0;
                for (int x = 0; x < ow; x++) {
                    float fx0 = x * sx;
                    int x0 = Math.min((int) Math.floor(fx0), w - 1), x1 = Math.min(x0 + 1, w - 1);
                    float fx = fx0 - x0;
                    int q = y * ow + x;
                    labels[0][q] = y0 * w + x0;
                    scale[0][q] = (1 - fy) * (1 - fx);
                    labels[1][q] = y0 * w + x1;
                    scale[1][q] = (1 - fy) * fx;
                    labels[2][q] = y1 * w + x0;
                    scale[2][q] = fy * (1 - fx);
                    labels[3][q] = y1 * w + x1;
                    scale[3][q] = fy * fx;
                }
            }
            StemTerms.Role[] roles = new StemTerms.Role[4];
            for (int r = 0; r < 4; r++) roles[r] = new StemTerms.Role(labels[r], scale[r]);
            return new Bilinear(roles, h, w, sy, sx, extremes(h, oh, sy), extremes(w, ow, sx));
        }

        /**
         * â of the plane f[off..] (h·w) into z[at..]: (f − min Uf)/(max Uf − min Uf + 1e-8), the
         * extremes of the upsampled plane found at the first and last sampled row and column of each
         * cell (bilinear in a cell, so monotone along each axis between them).
         */
        void normalised(float[] f, int off, float[] z, int at) {
            float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
            for (int a = 0; a < ry.length; a++)
                for (int b = 0; b < rx.length; b++) {
                    float v = at(f, off, ry[a] * stepY, rx[b] * stepX);
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                }
            float d = hi - lo + 1e-8f;
            for (int j = 0; j < h * w; j++) z[at + j] = (f[off + j] - lo) / d;
        }

        /** The first and last output index sampled in each source cell along an axis of n samples upsampled to m. */
        private static int[] extremes(int n, int m, float step) {
            java.util.TreeSet<Integer> out = new java.util.TreeSet<>();
            int prev = -1;
            for (int i = 0; i < m; i++) {
                int c = Math.min((int) Math.floor(i * step), n - 1);
                if (c != prev) {
                    if (i > 0) out.add(i - 1);
                    out.add(i);
                    prev = c;
                }
            }
            out.add(m - 1);
            return out.stream().mapToInt(Integer::intValue).toArray();
        }

        private float at(float[] f, int off, float sy, float sx) {
            int y0 = Math.min((int) Math.floor(sy), h - 1), y1 = Math.min(y0 + 1, h - 1);
            int x0 = Math.min((int) Math.floor(sx), w - 1), x1 = Math.min(x0 + 1, w - 1);
            float fy = sy - y0, fx = sx - x0;
            return (1 - fy) * (1 - fx) * f[off + y0 * w + x0] + (1 - fy) * fx * f[off + y0 * w + x1]
                    + fy * (1 - fx) * f[off + y1 * w + x0] + fy * fx * f[off + y1 * w + x1];
        }
    }

    /**
     * Which channel each evaluation of each image masks with: evals[i][e] = k, or −1 for the
     * zero mask of the constant channels; and evalOf[i][k], the evaluation whose score channel k
     * takes.
     */
    private static int[][][] plan(Backend b, Tensor a) {
        int n = (int) a.dim(0), k = (int) a.dim(1);
        float[] lo, hi;
        try (Tensor mn = b.allocate((long) n * k); Tensor mx = b.allocate((long) n * k)) {
            b.reduceRows(Reduction.MIN, a, mn);
            b.reduceRows(Reduction.MAX, a, mx);
            lo = mn.toArray();
            hi = mx.toArray();
        }
        int[][] evals = new int[n][], evalOf = new int[n][k];
        for (int i = 0; i < n; i++) {
            int live = 0;
            boolean constant = false;
            for (int c = 0; c < k; c++) {
                if (hi[i * k + c] > lo[i * k + c]) live++;
                else constant = true;
            }
            int[] ev = new int[live + (constant ? 1 : 0)];
            int e = 0;
            if (constant) ev[e++] = -1;
            for (int c = 0; c < k; c++) {
                if (hi[i * k + c] > lo[i * k + c]) {
                    evalOf[i][c] = e;
                    ev[e++] = c;
                } else evalOf[i][c] = 0;
            }
            evals[i] = ev;
        }
        return new int[][][] {evals, evalOf};
    }

    private static int most(int[][] evals) {
        int m = 1;
        for (int[] e : evals) m = Math.max(m, e.length);
        return m;
    }

    /**
     * Rows (count, P) of min-max normalised masks from the feature planes f (count, p), which it
     * overwrites: f − min(f), upsampled from {@code in} to {@code out} (the spatial sizes, 2 or 3
     * of them) with aligned corners, then (U − min)/(max − min + 1e-8) per row.
     */
    static Tensor masks(Backend b, Tensor f, long[] in, long[] out) {
        long count = f.dim(0), plane = f.dim(1);
        try (Tensor mn = b.allocate(count, 1)) {
            b.reduceRows(Reduction.MIN, f, TensorViews.reshaped(mn, count));
            b.binary(dev.salient.engine.BinaryOp.SUB, f, mn, f);
        }
        long p = 1;
        for (long o : out) p *= o;
        Tensor u = b.allocate(count, p);
        try {
            int r = in.length;
            long h = in[r - 2], w = in[r - 1], oh = out[r - 2], ow = out[r - 1];
            float[] hw = {aligned(w, ow), 0f, 0f, 0f, aligned(h, oh), 0f};
            if (r == 2) {
                b.affineResampleForward(TensorViews.reshaped(f, 1, count, h, w), hw, TensorViews.reshaped(u, 1, count, oh, ow));
            } else {
                long d = in[0], od = out[0];
                // trilinear = the (h,w) pass on every depth slice, then the depth pass with the width unchanged
                try (Tensor s = b.allocate(1, count * d, oh, ow)) {
                    b.affineResampleForward(TensorViews.reshaped(f, 1, count * d, h, w), hw, s);
                    b.affineResampleForward(TensorViews.reshaped(s, 1, count, d, oh * ow), new float[] {1f, 0f, 0f, 0f, aligned(d, od), 0f},
                            TensorViews.reshaped(u, 1, count, od, oh * ow));
                }
            }
            PlaneMinMax.rows(b, u, 1e-8f);
            return u;
        } catch (RuntimeException e) {
            u.close();
            throw e;
        }
    }

    /** The source step of an aligned-corners resize from n to m samples: (n − 1)/(m − 1), 0 for one output. */
    private static float aligned(long n, long m) {
        return m > 1 ? (float) ((double) (n - 1) / (m - 1)) : 0f;
    }

    private final class Channels extends StemEvaluations {
        private final Tensor a, zero;
        private final long[] inputShape;
        private final int channels;
        private final long plane;
        private final int[][] evals, evalOf;
        private final Bilinear up;
        private float[] planes;  // a on the host, with the stem

        Channels(Backend b, Tensor a, long[] inputShape, CoalitionStem stem, Bilinear up) {
            this(a, inputShape, plan(b, a), b, stem, up);
        }

        private Channels(Tensor a, long[] inputShape, int[][][] plan, Backend b, CoalitionStem stem, Bilinear up) {
            super(most(plan[0]) + (stem == null ? 0 : 1), stem);
            this.a = a;
            this.inputShape = inputShape;
            this.channels = (int) a.dim(1);
            this.plane = a.numel() / (a.dim(0) * a.dim(1));
            this.evals = plan[0];
            this.evalOf = plan[1];
            this.zero = b.zeros(Driver.withRows(inputShape, 1));
            this.up = up;
        }

        /**
         * Keep values (count, h·w) of masked evaluations [c0, c0+count) of batch image i: â of each
         * one's channel (0 for the zero mask).
         */
        private float[] keeps(int image, int c0, int count) {
            if (planes == null) planes = a.toArray();
            int hw = (int) plane;
            float[] out = new float[count * hw];
            int[] ev = evals[image];
            for (int s = 0; s < count; s++) {
                int k = c0 + s < ev.length ? ev[c0 + s] : -1;
                if (k >= 0) up.normalised(planes, ((image * channels) + k) * hw, out, s * hw);
            }
            return out;
        }

        @Override
        public long[] rowShape(long[] shape) {
            return Arrays.copyOfRange(shape, 2, shape.length);
        }

        /** Masks of evaluations [s0, s0+count) of image {@code image} of the batch: (count, P). */
        private Tensor masksOf(Backend b, int image, int s0, int count) {
            int[] ev = evals[image];
            Tensor f = b.zeros(count, plane);
            try {
                // the planes of runs of consecutive channels, one copy a run; the zero mask and rows past the image's last stay 0
                for (int s = 0; s < count; ) {
                    int k = s0 + s < ev.length ? ev[s0 + s] : -1, run = 1;
                    if (k < 0) {
                        s++;
                        continue;
                    }
                    while (s + run < count && s0 + s + run < ev.length && ev[s0 + s + run] == k + run) run++;
                    b.copyRange(a, ((long) image * channels + k) * plane, f, s * plane, run * plane);
                    s += run;
                }
                long[] in = Arrays.copyOfRange(a.shape(), 2, a.rank()), out = Arrays.copyOfRange(inputShape, 2, inputShape.length);
                return masks(b, f, in, out);
            } finally {
                f.close();
            }
        }

        @Override
        public Chunk begin(Backend b, Tensor x, int firstImage) {
            int cnt = (int) x.dim(0);
            StemTerms terms = stem == null ? null : new StemTerms(model, stem, b, x, null, true, i -> up.roles(), memoryBudget());
            return new ScoredChunk() {
                @Override
                public void expand(Backend bb, int s0, int count, Tensor points) {
                    if (terms != null) {
                        terms.expand(s0, count, points, (i, c0, n) -> keeps(firstImage + i, c0, n), i -> (int) plane);
                        return;
                    }
                    Scorer.blend(bb, x, zero, false, (b1, i, e0, n) -> masksOf(b1, firstImage + i, e0, n), s0, count, points);
                }

                @Override
                public void close() {
                    if (terms != null) terms.close();
                }

                @Override
                public Tensor finish(Backend bb, Tensor acc) {
                    // s_k: the score of channel k's evaluation; w = softmax over the channels; then the CAM pipeline on sum_k w_k A_k
                    float[] y = acc.toArray();
                    float[] s = new float[cnt * channels];
                    for (int i = 0; i < cnt; i++)
                        for (int k = 0; k < channels; k++) s[i * channels + k] = y[i * perImage() + lead() + evalOf[firstImage + i][k]];
                    long spatial = plane;
                    try (Tensor sc = bb.upload(s, cnt, channels); Tensor wt = bb.allocate(cnt, channels);
                            Tensor ai = Driver.rows(bb, a, firstImage, cnt)) {
                        bb.softmaxForward(sc, wt, cnt, channels, 1);
                        long w = a.dim(a.rank() - 1);
                        try (Tensor cam = bb.allocate(cnt, spatial / w, w)) {
                            bb.camCombine(CamCombine.WEIGHTED, TensorViews.reshaped(ai, cnt, channels, spatial / w, w), wt, cam);
                            if (a.rank() == 4) return BaseCam.finishImages(bb, cam, inputShape);
                            return BaseCam.finishVolume(bb, TensorViews.reshaped(cam, cnt, a.dim(2), a.dim(3), a.dim(4)), inputShape);
                        }
                    }
                }
            };
        }

        @Override
        public void close() {
            a.close();
            zero.close();
        }
    }
}
