package dev.salient.explain.cam;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.CamCombine;
import dev.salient.engine.Reduction;
import dev.salient.engine.HostLinalg;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.model.Model;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * CF-CAM (He, Pan and Yao 2025, arXiv:2504.00060), following the authors' released
 * {@code cfcam.py} (PEERS.md section 1.2), batched. Per image, with F_k the flattened map
 * of channel k and G_k its gradient:
 * <ol>
 *   <li>channels with ‖F_k‖₂ at or above the 75th percentile (numpy's linear interpolation)
 *       are important and weigh w_k = mean(G_k);
 *   <li>the others are clustered by DBSCAN on F (Euclidean), with eps the 25th percentile of
 *       their pairwise distances (floor 1e-5) and min_samples = max(2, ⌊0.05·remaining⌋);
 *       noise channels are dropped;
 *   <li>each cluster's mean gradient map is filtered with one map-sized kernel
 *       s·r / (Σ s·r + 1e-6), s = exp(−|(u,v) − (h/2, w/2)|² / 2σ_s²) with σ_s = 5,
 *       r = exp(−(g − mean g)² / 2σ_r²) with σ_r = 0.1 (cross-correlation, zero padding,
 *       PyTorch's 'same'), and its mean is every member's weight;
 *   <li>α = softmax of the kept channels' weights; cam = ReLU(Σ α_k A_k), bilinear
 *       upsampling, divided by its max (no min-max).
 * </ol>
 * The pairwise distances come from the Gram matrix (an r×r matrix, not the authors'
 * r×r×h·w temporary). {@code noise} adds N(0, noise²) to the gradients before the weights
 * are formed (the authors' code adds it after, where it has no effect), seeded by the seed
 * and the image's activations (so chunking does not change it).
 * <pre>{@code
 * Attribution a = new CfCam(model, "auto", CfCam.Options.defaults()).explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class CfCam extends BaseCam {
    public static final MethodOption<Double> SPLIT_PERCENTILE = percent("--cf-split-percentile", 75,
            "cfcam: channels with an L2 norm at or above this percentile are important (default: 75).");
    public static final MethodOption<Double> EPS_PERCENTILE = percent("--cf-eps-percentile", 25,
            "cfcam: DBSCAN eps is this percentile of the pairwise distances (default: 25).");
    public static final MethodOption<Double> MIN_SAMPLES = number("--cf-min-samples", "F", 0.05, 0, 1, false,
            "cfcam: DBSCAN min_samples = max(2, F x remaining channels) (default: 0.05).");
    public static final MethodOption<Double> SIGMA_SPATIAL = number("--cf-sigma-spatial", "S", 5.0, 0, Double.MAX_VALUE, true,
            "cfcam: spatial sigma of the gradient filter, in pixels of the map (default: 5).");
    public static final MethodOption<Double> SIGMA_RANGE = number("--cf-sigma-range", "S", 0.1, 0, Double.MAX_VALUE, true,
            "cfcam: range sigma of the gradient filter (default: 0.1).");
    public static final MethodOption<Double> NOISE = number("--cf-noise", "S", 0.0, 0, Double.MAX_VALUE, false,
            "cfcam: add N(0, S^2) to the gradients before the weights, seeded by --seed (default: 0, none).");
    public static final MethodSpec SPEC = MethodSpec.cam("cfcam",
            "CF-CAM as its authors' code: important channels (L2 norm >= 75th percentile) weigh `mean G_k`; the others "
                    + "DBSCAN-clustered (eps = 25th percentile of distances, min_samples = max(2, 5%)), noise dropped, a cluster "
                    + "weighs the mean of its filtered mean gradient (sigma 5, 0.1); softmax, ReLU, upsample, / max "
                    + "(no min-max)", CfCam::new)
            .withOptions(COUNTERFACTUAL, SPLIT_PERCENTILE, EPS_PERCENTILE, MIN_SAMPLES, SIGMA_SPATIAL, SIGMA_RANGE, NOISE,
                    MethodOption.SEED);

    /** The five numbers of the algorithm, plus gradient noise and its seed. */
    public record Options(double splitPercentile, double epsPercentile, double minSamplesFraction, double sigmaSpatial,
            double sigmaRange, double noise, long seed) {
        public static Options defaults() {
            return new Options(75, 25, 0.05, 5, 0.1, 0, 0);
        }

        /** Throws a one-line error naming the first option out of range. */
        public Options {
            check(SPLIT_PERCENTILE, splitPercentile);
            check(EPS_PERCENTILE, epsPercentile);
            check(MIN_SAMPLES, minSamplesFraction);
            check(SIGMA_SPATIAL, sigmaSpatial);
            check(SIGMA_RANGE, sigmaRange);
            check(NOISE, noise);
        }

        static Options of(MethodOptions o) {
            return new Options(o.get(SPLIT_PERCENTILE), o.get(EPS_PERCENTILE), o.get(MIN_SAMPLES), o.get(SIGMA_SPATIAL),
                    o.get(SIGMA_RANGE), o.get(NOISE), o.get(MethodOption.SEED));
        }

        private static void check(MethodOption<Double> opt, double v) {
            opt.parse(Double.toString(v));
        }
    }

    private static MethodOption<Double> percent(String cli, double def, String description) {
        return number(cli, "Q", def, 0, 100, false, description);
    }

    /** A finite number in [lo, hi] (or (lo, hi] when {@code openLow}). */
    private static MethodOption<Double> number(String cli, String label, double def, double lo, double hi, boolean openLow,
            String description) {
        return MethodOption.of(cli, label, def, s -> {
            double v;
            try {
                v = Double.parseDouble(s.trim());
            } catch (NumberFormatException e) {
                throw new SalientException("cfcam: " + cli + " needs a number, got '" + s + "'");
            }
            boolean ok = Double.isFinite(v) && (openLow ? v > lo : v >= lo) && v <= hi;
            if (!ok)
                throw new SalientException("cfcam: " + cli + " must be " + (hi == Double.MAX_VALUE
                        ? (openLow ? "a positive number" : ">= " + fmt(lo))
                        : "in [" + fmt(lo) + ", " + fmt(hi) + "]") + ", got " + s.trim());
            return v;
        }, description);
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    private final Options options;

    public CfCam(Model model, String layer, Options options) {
        super(model, layer);
        this.options = options;
    }

    public CfCam(Model model, MethodOptions o) {
        super(model, o);
        this.options = Options.of(o);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    public Options options() {
        return options;
    }

    @Override
    protected Tensor combine(Backend b, Tensor a, Tensor g) {
        int n = (int) a.dim(0), c = (int) a.dim(1), h = (int) a.dim(2), w = (int) a.dim(3), p = h * w;
        float[] av = a.toArray(), gv = g.toArray(), weights = new float[n * c];
        for (int i = 0; i < n; i++) {
            float[] ai = Arrays.copyOfRange(av, i * c * p, (i + 1) * c * p);
            float[] gi = Arrays.copyOfRange(gv, i * c * p, (i + 1) * c * p);
            if (options.noise() > 0) {
                long mix = options.seed() * 0x9E3779B97F4A7C15L;
                for (float v : ai) mix = mix * 31 + Float.floatToIntBits(v);
                SplittableRandom rng = new SplittableRandom(mix);
                for (int j = 0; j < gi.length; j++) gi[j] += (float) (options.noise() * gaussian(rng));
            }
            System.arraycopy(channelWeights(ai, gi, c, h, w, options), 0, weights, i * c, c);
        }
        Tensor cam = b.allocate(n, h, w);
        try (Tensor wt = b.upload(weights, n, c)) {
            b.camCombine(CamCombine.WEIGHTED, a, wt, cam);
            return cam;
        } catch (RuntimeException e) {
            cam.close();
            throw e;
        }
    }

    /** ReLU, bilinear upsampling to the input size, division by the max (a map that is all zero stays zero). */
    @Override
    protected Tensor finishMap(Backend b, Tensor raw, long[] inputShape) {
        long n = raw.dim(0), h = inputShape[2], w = inputShape[3];
        Tensor out = b.allocate(n, h, w);
        try (Tensor max = b.allocate(n, 1, 1); Tensor tiny = b.upload(new float[] {Float.MIN_NORMAL}, 1)) {
            b.activationForward(Activation.RELU, raw, raw, 0f, 0f);
            b.bilinearResize(TensorViews.reshaped(raw, n, 1, raw.dim(1), raw.dim(2)), TensorViews.reshaped(out, n, 1, h, w));
            b.reduceRows(Reduction.MAX, TensorViews.reshaped(out, n, h * w), TensorViews.reshaped(max, n));
            b.binary(BinaryOp.ADD, max, tiny, max);   // exact for any max above 1e-30; 0 stays 0 below
            b.binary(BinaryOp.DIV, out, max, out);
            return out;
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
    }

    private static double gaussian(SplittableRandom r) {
        double u1 = r.nextDouble(), u2 = r.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }

    /** One image: a, g (C, h·w) -> the α of every channel (0 for dropped ones). */
    static float[] channelWeights(float[] a, float[] g, int c, int h, int w, Options o) {
        int p = h * w;
        double[] norms = new double[c];
        for (int k = 0; k < c; k++) {
            double s = 0;
            for (int j = 0; j < p; j++) s += (double) a[k * p + j] * a[k * p + j];
            norms[k] = Math.sqrt(s);
        }
        double[] sorted = norms.clone();
        Arrays.sort(sorted);
        double tau = percentile(sorted, o.splitPercentile());
        double[] weight = new double[c];
        boolean[] valid = new boolean[c];
        int r = 0;
        int[] rest = new int[c];
        for (int k = 0; k < c; k++) {
            if (norms[k] >= tau) {
                valid[k] = true;
                double s = 0;
                for (int j = 0; j < p; j++) s += g[k * p + j];
                weight[k] = s / p;
            } else {
                rest[r++] = k;
            }
        }
        int[] labels = clusters(a, rest, r, p, o);
        int clusters = 0;
        for (int l : labels) clusters = Math.max(clusters, l + 1);
        for (int j = 0; j < clusters; j++) {
            double[] mean = new double[p];
            int members = 0;
            for (int i = 0; i < r; i++) {
                if (labels[i] != j) continue;
                members++;
                for (int q = 0; q < p; q++) mean[q] += g[rest[i] * p + q];
            }
            for (int q = 0; q < p; q++) mean[q] /= members;
            double wj = filteredMean(mean, h, w, o.sigmaSpatial(), o.sigmaRange());
            for (int i = 0; i < r; i++)
                if (labels[i] == j) {
                    weight[rest[i]] = wj;
                    valid[rest[i]] = true;
                }
        }
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int k = 0; k < c; k++) if (valid[k]) max = Math.max(max, weight[k]);
        double[] e = new double[c];
        for (int k = 0; k < c; k++)
            if (valid[k]) {
                e[k] = Math.exp(weight[k] - max);
                sum += e[k];
            }
        float[] alpha = new float[c];
        for (int k = 0; k < c; k++) if (valid[k]) alpha[k] = (float) (e[k] / sum);
        return alpha;
    }

    /** DBSCAN labels of the r remaining channels (indices rest[0..r)) on their flattened maps. */
    static int[] clusters(float[] a, int[] rest, int r, int p, Options o) {
        if (r < 2) {
            int[] none = new int[r];
            Arrays.fill(none, -1);
            return none;
        }
        float[] f = new float[r * p];
        for (int i = 0; i < r; i++) System.arraycopy(a, rest[i] * p, f, i * p, p);
        double[] dist = HostLinalg.pairwiseDistances(f, r, p), upper = new double[r * (r - 1) / 2];
        int u = 0;
        for (int i = 0; i < r; i++)
            for (int j = i + 1; j < r; j++) upper[u++] = dist[i * r + j];
        // the off-diagonal entries of both triangles: every upper value twice, in order; only the two
        // order statistics around the percentile are needed, so they are selected, not sorted
        int len = 2 * upper.length;
        double pos = o.epsPercentile() / 100 * (len - 1);
        int flo = (int) Math.floor(pos), fhi = Math.min(flo + 1, len - 1);
        double x = kth(upper, flo / 2);
        double y = fhi / 2 == flo / 2 ? x : minFrom(upper, flo / 2 + 1);
        double eps = Math.max(lerp(x, y, pos - flo), 1e-5);
        int minSamples = Math.max(2, (int) (o.minSamplesFraction() * r));
        return Dbscan.labels(dist, r, eps, minSamples);
    }

    /** The k-th smallest value (0-based); reorders a so that a[k] holds it, smaller before, larger after (Hoare's select). */
    static double kth(double[] a, int k) {
        int left = 0, right = a.length - 1;
        while (right > left) {
            double pivot = a[left + (right - left) / 2];
            int i = left, j = right;
            while (i <= j) {
                while (a[i] < pivot) i++;
                while (a[j] > pivot) j--;
                if (i <= j) {
                    double t = a[i];
                    a[i] = a[j];
                    a[j] = t;
                    i++;
                    j--;
                }
            }
            if (k <= j) right = j;
            else if (k >= i) left = i;
            else break;
        }
        return a[k];
    }

    private static double minFrom(double[] a, int from) {
        double m = Double.POSITIVE_INFINITY;
        for (int i = from; i < a.length; i++) m = Math.min(m, a[i]);
        return m;
    }

    /** numpy's percentile (method 'linear') of sorted values. */
    static double percentile(double[] s, double q) {
        double pos = q / 100 * (s.length - 1);
        int lo = (int) Math.floor(pos), hi = Math.min(lo + 1, s.length - 1);
        return lerp(s[lo], s[hi], pos - lo);
    }

    /** numpy's interpolation between neighbouring order statistics (exact at both ends). */
    private static double lerp(double x, double y, double t) {
        double diff = y - x;
        return t >= 0.5 ? y - diff * (1 - t) : x + diff * t;
    }

    /**
     * The mean of cfcam.py's _bilateral_filter(g): one (h,w) kernel K = s·r / (Σ s·r + 1e-6)
     * cross-correlated with g under PyTorch's 'same' zero padding ((k−1)/2 before). The mean
     * of the output is Σ_uv K[u,v]·(sum of g over the window shifted by (u,v)), taken from a
     * summed-area table.
     */
    static double filteredMean(double[] g, int h, int w, double sigmaS, double sigmaR) {
        double mean = 0;
        for (double v : g) mean += v;
        mean /= g.length;
        double[] k = new double[h * w];
        double ks = 0;
        for (int u = 0; u < h; u++)
            for (int v = 0; v < w; v++) {
                double du = u - h / 2.0, dv = v - w / 2.0, dg = g[u * w + v] - mean;
                double val = Math.exp(-(du * du + dv * dv) / (2 * sigmaS * sigmaS)) * Math.exp(-dg * dg / (2 * sigmaR * sigmaR));
                k[u * w + v] = val;
                ks += val;
            }
        double[] sat = new double[(h + 1) * (w + 1)];
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
                sat[(i + 1) * (w + 1) + j + 1] = g[i * w + j] + sat[i * (w + 1) + j + 1] + sat[(i + 1) * (w + 1) + j]
                        - sat[i * (w + 1) + j];
        int pt = (h - 1) / 2, pl = (w - 1) / 2;
        double total = 0;
        for (int u = 0; u < h; u++) {
            int du = u - pt, r0 = Math.max(0, du), r1 = Math.min(h, h + du);
            if (r0 >= r1) continue;
            for (int v = 0; v < w; v++) {
                int dv = v - pl, c0 = Math.max(0, dv), c1 = Math.min(w, w + dv);
                if (c0 >= c1) continue;
                double s = sat[r1 * (w + 1) + c1] - sat[r0 * (w + 1) + c1] - sat[r1 * (w + 1) + c0] + sat[r0 * (w + 1) + c0];
                total += k[u * w + v] * s;
            }
        }
        return total / (ks + 1e-6) / (h * w);
    }
}
