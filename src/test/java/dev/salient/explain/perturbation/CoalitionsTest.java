package dev.salient.explain.perturbation;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.HostLinalg;
import dev.salient.engine.Parity;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Baseline;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.Methods;
import dev.salient.explain.Target;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import dev.salient.model.OnnxBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Shapley values, KernelSHAP and LIME beyond the golden cases: the cross-check of two
 * algorithms (exact Shapley = enumerated KernelSHAP), the random stream's independence from the
 * chunking (same bytes under three memory budgets), the statistics of the sampled methods
 * (convergence as samples grow, Pearson ≥ 0.95 against a 10× longer run with another seed),
 * LIME recovering the coefficients of a model linear in its segments, the regressions against
 * scikit-learn, the forward-pass counts and bad input.
 */
class CoalitionsTest {
    static final Backend CPU = Engine.cpu();
    static final Path ROOT = Path.of("src/test/resources/fixtures/shap");
    static Model model;
    static NdArray input;

    @BeforeAll
    static void load() {
        model = Model.load(Path.of("src/test/resources/fixtures/methods/resnet/model.onnx"));
        input = Npy.read(Path.of("src/test/resources/fixtures/methods/resnet/input.npy"));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static float[] run(Explainer e) {
        try (Tensor x = input.upload(CPU)) {
            return e.explain(CPU, x, Target.top1()).values();
        }
    }

    static Explainer create(String method, Map<String, String> opts) {
        var spec = Methods.get(method);
        return spec.create(model, MethodOptions.parse(spec, opts));
    }

    /** Segment values (image, segment) read back from an input-shaped map over grid:k of 32x32. */
    static double[][] segmentValues(float[] map, int k) {
        int[] labels = Segments.grid(k).labels(0, 3, 32, 32);
        double[][] v = new double[3][k * k];
        for (int i = 0; i < 3; i++)
            for (int p = 0; p < 1024; p++) v[i][labels[p]] = map[i * 3 * 1024 + p];
        return v;
    }

    static double pearson(double[][] a, double[][] b) {
        double sa = 0, sb = 0, n = 0;
        for (int i = 0; i < a.length; i++)
            for (int j = 0; j < a[i].length; j++) {
                sa += a[i][j];
                sb += b[i][j];
                n++;
            }
        double ma = sa / n, mb = sb / n, sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.length; i++)
            for (int j = 0; j < a[i].length; j++) {
                sab += (a[i][j] - ma) * (b[i][j] - mb);
                saa += (a[i][j] - ma) * (a[i][j] - ma);
                sbb += (b[i][j] - mb) * (b[i][j] - mb);
            }
        return sab / Math.sqrt(saa * sbb);
    }

    static double rmse(double[][] a, double[][] b) {
        double s = 0;
        int n = 0;
        for (int i = 0; i < a.length; i++)
            for (int j = 0; j < a[i].length; j++) {
                s += (a[i][j] - b[i][j]) * (a[i][j] - b[i][j]);
                n++;
            }
        return Math.sqrt(s / n);
    }

    @Test
    void exactShapleyEqualsEnumeratedKernelShap() {
        for (String seg : new String[] {"grid:3", "grid:2"}) {
            float[] exact = run(create("shapley", Map.of("--segments", seg, "--exact", "true")));
            float[] kernel = run(create("kernelshap", Map.of("--segments", seg, "--samples", "1000")));
            double max = 0;
            for (float v : exact) max = Math.max(max, Math.abs(v));
            Parity.assertClose("shapley vs kernelshap over " + seg, kernel, exact, 1e-4 * max, 1e-4);
        }
    }

    @Test
    void sameBytesWhateverTheMemoryBudget() {
        for (String method : new String[] {"lime", "kernelshap", "shapley"}) {
            Map<String, String> o = method.equals("shapley")
                    ? Map.of("--segments", "grid:4", "--samples", "3", "--max-evals", "100", "--seed", "5")
                    : Map.of("--segments", "grid:4", "--samples", "40", "--seed", "5");
            float[] big = run(create(method, o));
            float[] mid = run(create(method, o).memoryBudget(600_000));
            float[] small = run(create(method, o).memoryBudget(1));
            assertArrayEquals(big, run(create(method, o)), method + ": the same bytes run after run");
            // the coalitions are a function of (seed, image, sample) and the engine gives every
            // evaluation the same bits whatever its chunk (README "Determinism"): the same bytes
            assertArrayEquals(big, mid, method + ": a few evaluations per chunk");
            assertArrayEquals(big, small, method + ": one evaluation per chunk");
            Coalitions c = (Coalitions) create(method, o);
            for (int image = 0; image < 3; image++) {
                float[] all = c.design(CPU, image, 16);
                assertArrayEquals(all, c.design(CPU, image, 16), method + ": design of image " + image);
                assertFalse(image > 0 && java.util.Arrays.equals(all, c.design(CPU, 0, 16)), "images draw their own coalitions");
                // any slice of the stream is the same numbers as the whole
                float[] whole = c.normals(CPU, image, 0, 12, 17), part = c.normals(CPU, image, 5, 4, 17);
                assertArrayEquals(java.util.Arrays.copyOfRange(whole, 5 * 17, 9 * 17), part);
            }
            var other = new java.util.HashMap<>(o);
            other.put("--seed", "6");
            assertFalse(java.util.Arrays.equals(big, run(create(method, other))), method + ": another seed gives other values");
        }
    }

    @Test
    void sampledMethodsConvergeToTheExactValues() {
        double[][] exact = segmentValues(run(create("shapley", Map.of("--segments", "grid:3"))), 3);
        double[] svs = new double[3], ks = new double[3];
        int[] perms = {2, 20, 200}, coalitions = {20, 80, 320};
        for (int k = 0; k < 3; k++) {
            svs[k] = rmse(segmentValues(run(create("shapley", Map.of("--segments", "grid:3", "--max-evals", "1",
                    "--samples", "" + perms[k], "--seed", "1"))), 3), exact);
            ks[k] = rmse(segmentValues(run(create("kernelshap", Map.of("--segments", "grid:3",
                    "--samples", "" + coalitions[k], "--seed", "1"))), 3), exact);
        }
        System.out.printf("shapley sampling rmse vs exact at %s permutations: %s%n", java.util.Arrays.toString(perms),
                java.util.Arrays.toString(svs));
        System.out.printf("kernelshap rmse vs exact at %s samples: %s%n", java.util.Arrays.toString(coalitions),
                java.util.Arrays.toString(ks));
        for (int k = 1; k < 3; k++) {
            assertTrue(svs[k] < svs[k - 1], "shapley sampling converges: " + java.util.Arrays.toString(svs));
            assertTrue(ks[k] < ks[k - 1], "kernelshap converges: " + java.util.Arrays.toString(ks));
        }
        // LIME converges to its own long-run value (a Lasso fit, not the Shapley values)
        double[][] longRun = segmentValues(run(create("lime", Map.of("--segments", "grid:3", "--samples", "2000",
                "--seed", "9"))), 3);
        double[] lime = new double[3];
        int[] ls = {25, 200, 800};
        for (int k = 0; k < 3; k++)
            lime[k] = rmse(segmentValues(run(create("lime", Map.of("--segments", "grid:3", "--samples", "" + ls[k],
                    "--seed", "1"))), 3), longRun);
        System.out.printf("lime rmse vs 2000 samples at %s samples: %s%n", java.util.Arrays.toString(ls),
                java.util.Arrays.toString(lime));
        for (int k = 1; k < 3; k++) assertTrue(lime[k] < lime[k - 1], "lime converges: " + java.util.Arrays.toString(lime));
    }

    /** A 3 x 4 grid of 32x32 (12 segments) as a label file. */
    static Path grid12(Path dir) {
        float[] l = new float[1024];
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) l[y * 32 + x] = (y * 3 / 32) * 4 + (x * 4 / 32);
        Path f = dir.resolve("grid12.npy");
        Npy.write(f, new NdArray(new long[] {32, 32}, l));
        return f;
    }

    static double[][] valuesOf(float[] map, Path labels) {
        float[] l = Npy.read(labels).data();
        double[][] v = new double[3][12];
        for (int i = 0; i < 3; i++)
            for (int p = 0; p < 1024; p++) v[i][(int) l[p]] = map[i * 3 * 1024 + p];
        return v;
    }

    @Test
    void agreesWithATenTimesLongerRunWithAnotherSeed(@TempDir Path dir) {
        Path seg = grid12(dir);
        Object[][] runs = {
            {"lime", "200", "2000"}, {"kernelshap", "200", "2000"}, {"shapley", "25", "250"}};
        for (Object[] r : runs) {
            String m = (String) r[0];
            Map<String, String> base = m.equals("shapley") ? Map.of("--max-evals", "1") : Map.of();
            var a = new java.util.HashMap<>(base);
            a.putAll(Map.of("--segments", seg.toString(), "--samples", (String) r[1], "--seed", "0"));
            var b = new java.util.HashMap<>(base);
            b.putAll(Map.of("--segments", seg.toString(), "--samples", (String) r[2], "--seed", "1"));
            double p = pearson(valuesOf(run(create(m, a)), seg), valuesOf(run(create(m, b)), seg));
            System.out.printf("%s: Pearson %.4f between %s and %s samples (seeds 0, 1)%n", m, p, r[1], r[2]);
            assertTrue(p >= 0.95, m + ": Pearson " + p);
        }
    }

    @Test
    void limeRecoversTheCoefficientsOfAModelLinearInItsSegments(@TempDir Path dir) throws IOException {
        // logit_0 = sum_p W[p] x[p] + b on a (1,1,16,16) input of ones: linear in the segments
        // of grid:4 with coefficients c_j = sum of W over segment j (baseline 0)
        Random r = new Random(3);
        int hw = 256;
        float[] w = new float[2 * hw];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.3);
        Path f = new OnnxBuilder().input("x", -1, 1, 16, 16).output("y", -1, 2)
                .init("W", w, 2, hw).init("B", new float[] {0.5f, -0.25f}, 2)
                .node("Flatten", "flat", new String[] {"x"}, new String[] {"f"})
                .node("Gemm", "fc", new String[] {"f", "W", "B"}, new String[] {"y"}, OnnxBuilder.attr("transB", 1L))
                .write(dir, "linear.onnx");
        int[] labels = Segments.grid(4).labels(0, 1, 16, 16);
        double[] c = new double[16];
        for (int p = 0; p < hw; p++) c[labels[p]] += w[p];
        float[] ones = new float[hw];
        java.util.Arrays.fill(ones, 1f);
        try (Model lin = Model.load(f); Tensor x = CPU.upload(ones, 1, 1, 16, 16)) {
            for (double alpha : new double[] {0, 0.01}) {
                float[] got = new Lime(lin, Segments.grid(4), Baseline.zeros(), 300, 1.0, alpha, 4)
                        .explain(CPU, x, Target.perImage(0)).values();
                double worst = 0;
                for (int p = 0; p < hw; p++) worst = Math.max(worst, Math.abs(got[p] - c[labels[p]]));
                System.out.printf("lime on a linear model, alpha %s: max |coef - c| %.2e%n", alpha, worst);
                // unpenalised: exact; alpha: soft-thresholding shrinks each coefficient by about
                // alpha / var(z) = 4 alpha, more where the sampled coalitions are correlated
                assertTrue(worst <= (alpha == 0 ? 1e-4 : 10 * alpha), "alpha " + alpha + ": " + worst);
            }
        }
    }

    @Test
    void regressionsMatchScikitLearn() {
        NdArray x = Npy.read(ROOT.resolve("lasso_x.npy")), y = Npy.read(ROOT.resolve("lasso_y.npy")),
                w = Npy.read(ROOT.resolve("lasso_w.npy"));
        int n = (int) x.dim(0), m = (int) x.dim(1);
        double[] xd = new double[n * m], yd = new double[n], wd = new double[n];
        for (int i = 0; i < xd.length; i++) xd[i] = x.data()[i];
        for (int i = 0; i < n; i++) {
            yd[i] = y.data()[i];
            wd[i] = w.data()[i];
        }
        // the stored float64 references are read as float32: compare within float32 rounding of the inputs
        HostLinalg.LinearFit lasso = HostLinalg.weightedLasso(xd, yd, wd, n, m, 0.01);
        HostLinalg.LinearFit ls = HostLinalg.weightedLeastSquares(xd, yd, wd, n, m);
        float[] lc = Npy.read(ROOT.resolve("lasso_coef.npy")).data(), lsc = Npy.read(ROOT.resolve("lstsq_coef.npy")).data();
        for (int j = 0; j < m; j++) {
            assertEquals(lc[j], lasso.coef()[j], 1e-5, "lasso coef " + j);
            assertEquals(lsc[j], ls.coef()[j], 1e-5, "least-squares coef " + j);
        }
        assertEquals(Npy.read(ROOT.resolve("lasso_intercept.npy")).data()[0], lasso.intercept(), 1e-5);
        assertEquals(Npy.read(ROOT.resolve("lstsq_intercept.npy")).data()[0], ls.intercept(), 1e-5);
        assertThrows(SalientException.class, () -> HostLinalg.weightedLasso(xd, yd, new double[n], n, m, 0.01));
        assertThrows(SalientException.class, () -> HostLinalg.weightedLeastSquares(xd, yd, wd, n, m + 1));
    }

    @Test
    void kernelShapWithFewerCoalitionsThanSegmentsIsTheMinimumNormSolution() {
        // all-on and all-off only: every segment gets (f(x) - f(baseline)) / M, run after run
        float[] a = run(create("kernelshap", Map.of("--segments", "grid:8", "--samples", "2")));
        assertArrayEquals(a, run(create("kernelshap", Map.of("--segments", "grid:8", "--samples", "2"))));
        float[] logits, zeros;
        try (Tensor x = input.upload(CPU); Tensor z = CPU.zeros(3, 3, 32, 32)) {
            logits = dev.salient.explain.core.Driver.forwardChunked(model, CPU, x, 3);
            zeros = dev.salient.explain.core.Driver.forwardChunked(model, CPU, z, 3);
        }
        for (int i = 0; i < 3; i++) {
            int t = 0;
            for (int c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + t]) t = c;
            double want = (logits[i * 10 + t] - zeros[i * 10 + t]) / 64.0;
            for (int p = 0; p < 3 * 1024; p++)
                assertEquals(want, a[i * 3 * 1024 + p], 1e-5 * Math.abs(want) + 1e-6, "image " + i + " element " + p);
        }
    }

    @Test
    void repeatedCoalitionsRunOnceWithTheSameBytes() {
        // KernelSHAP over grid:3 (9 segments, 40 of the 510 coalitions drawn) draws the 9 coalitions
        // of one segment and the 9 of all but one again and again; LIME over grid:2 (16 coalitions)
        // repeats too, and over grid:4 (65536) hardly ever
        String[][] cases = {{"kernelshap", "grid:3"}, {"lime", "grid:2"}, {"lime", "grid:4"}};
        // the whole model, so that every coalition that keeps every segment runs too (with the stem the
        // image's own evaluation serves them, imagesLeadTheirCoalitionsWithTheModelsOwnLogits)
        CoalitionStem.enabled = false;
        try {
            repeatedCoalitions(cases);
        } finally {
            CoalitionStem.enabled = true;
        }
    }

    private void repeatedCoalitions(String[][] cases) {
        for (String[] c : cases) {
            Map<String, String> o = Map.of("--segments", c[1], "--samples", "40", "--seed", "5");
            String what = c[0] + " over " + c[1];
            dev.salient.explain.core.Cost.reset();
            float[] once = run(create(c[0], o));
            long distinct = dev.salient.explain.core.Cost.counts().forwards();
            float[] onceSmall = run(create(c[0], o).memoryBudget(600_000));
            Coalitions.shareRows = false;
            try {
                dev.salient.explain.core.Cost.reset();
                float[] every = run(create(c[0], o));
                long all = dev.salient.explain.core.Cost.counts().forwards();
                System.out.printf("%s: %d forward passes with repeated coalitions run once, %d without%n", what, distinct, all);
                assertArrayEquals(every, once, what + ": running each distinct row once gives the same bytes");
                assertArrayEquals(every, onceSmall, what + ": in small chunks too");
                assertEquals(3L * 40 + 3, all, what + ": 3 images x 40 evaluations, and the targets' forward");
                if (c[1].equals("grid:4")) assertTrue(distinct <= all, what + ": " + distinct + " forwards");
                else assertTrue(distinct < all, what + ": " + distinct + " forwards");
                if (c[1].equals("grid:2")) assertTrue(distinct <= 3L * 16 + 3, what + ": at most 16 coalitions an image");
            } finally {
                Coalitions.shareRows = true;
            }
        }
    }

    /**
     * The coalitions' first conv by its linearity (Backend#coalitionConv) against blending every
     * coalition's image and running the whole model: the same values up to the conv's regrouped
     * rounding, the same forward passes counted, for each method, with zero, constant and
     * per-image (blurred) baselines.
     */
    @Test
    void firstConvByItsLinearityMatchesTheWholeModel() {
        assertNotNull(CoalitionStem.of(model), "the fixture's first conv is one the coalitions evaluate by its linearity");
        String[][] cases = {{"kernelshap", "zeros"}, {"lime", "constant:0.3"}, {"shapley", "blur:2"}};
        for (String[] c : cases) {
            Map<String, String> o = new java.util.HashMap<>(Map.of("--segments", "grid:3", "--baseline", c[1]));
            if (!c[0].equals("shapley")) o.put("--samples", "40");
            String what = c[0] + " with baseline " + c[1];
            dev.salient.explain.core.Cost.reset();
            float[] stem = run(create(c[0], o));
            var withStem = dev.salient.explain.core.Cost.counts();
            CoalitionStem.enabled = false;
            try {
                dev.salient.explain.core.Cost.reset();
                float[] whole = run(create(c[0], o));
                // the images' own evaluations give their targets and serve the coalitions that keep every
                // segment (KernelSHAP's first row, the exact Shapley values' last): one forward an image fewer
                long wholeForwards = dev.salient.explain.core.Cost.counts().forwards(), n = input.shape()[0];
                if (c[0].equals("lime")) assertTrue(withStem.forwards() >= wholeForwards - n && withStem.forwards() <= wholeForwards, what);
                else assertEquals(wholeForwards - n, withStem.forwards(), what + ": one forward an image fewer");
                double max = 0;
                for (float v : whole) max = Math.max(max, Math.abs(v));
                Parity.assertClose(what + ": first conv by linearity vs the whole model", stem, whole, 1e-5 * max, 1e-4);
            } finally {
                CoalitionStem.enabled = true;
            }
        }
    }

    /**
     * With the stem, each image runs as its own first evaluation (the graph up to the stem's output on
     * the image, the rest beside its coalitions): its target and score are the bits of the model's
     * own forward pass, and no separate forward of the images runs.
     */
    @Test
    void imagesLeadTheirCoalitionsWithTheModelsOwnLogits() {
        float[] logits;
        try (Tensor x = input.upload(CPU); Tensor y = model.forward(CPU, x)) {
            logits = y.toArray();
        }
        int classes = logits.length / (int) input.shape()[0];
        for (String method : new String[] {"kernelshap", "lime", "shapley"}) {
            Map<String, String> o = method.equals("shapley") ? Map.of("--segments", "grid:3")
                    : Map.of("--segments", "grid:3", "--samples", "30");
            Attribution a;
            try (Tensor x = input.upload(CPU)) {
                a = create(method, o).memoryBudget(600_000).explain(CPU, x, Target.top1());
            }
            for (int i = 0; i < a.targets().length; i++) {
                int best = 0;
                for (int c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
                assertEquals(best, a.targets()[i], method + ": image " + i + "'s target is its top class");
                assertEquals(logits[i * classes + best], a.scores()[i], 0f, method + ": image " + i + "'s score, bit for bit");
            }
        }
    }

    @Test
    void forwardPassesPerImage() {
        try (Tensor x = input.upload(CPU)) {
            assertEquals(512, ((Coalitions) create("shapley", Map.of("--segments", "grid:3"))).evaluationsPerImage(x));
            assertEquals(1 + 25 * 16, ((Coalitions) create("shapley", Map.of("--segments", "grid:4"))).evaluationsPerImage(x));
            assertEquals(1 + 25 * 9,
                    ((Coalitions) create("shapley", Map.of("--segments", "grid:3", "--max-evals", "511"))).evaluationsPerImage(x));
            assertEquals(200, ((Coalitions) create("kernelshap", Map.of("--segments", "grid:4"))).evaluationsPerImage(x));
            assertEquals(512, ((Coalitions) create("kernelshap", Map.of("--segments", "grid:3", "--samples", "510")))
                    .evaluationsPerImage(x));
            assertEquals(509, ((Coalitions) create("kernelshap", Map.of("--segments", "grid:3", "--samples", "509")))
                    .evaluationsPerImage(x));
            assertEquals(200, ((Coalitions) create("lime", Map.of("--segments", "grid:4"))).evaluationsPerImage(x));
        }
    }

    @Test
    void badInputIsOneLine(@TempDir Path dir) throws IOException {
        Path wrongShape = dir.resolve("wrong.npy"), negative = dir.resolve("neg.npy"), many = dir.resolve("many.npy");
        Npy.write(wrongShape, new NdArray(new long[] {16, 16}, new float[256]));
        float[] neg = new float[1024];
        neg[5] = -1;
        Npy.write(negative, new NdArray(new long[] {32, 32}, neg));
        float[] big = new float[1024];
        big[7] = 1 << 16;
        Npy.write(many, new NdArray(new long[] {32, 32}, big));
        Object[][] bad = {
            {"shapley", Map.of("--samples", "0"), "--samples must be at least 1"},
            {"lime", Map.of("--samples", "0"), "--samples must be at least 1"},
            {"kernelshap", Map.of("--samples", "-4"), "--samples must be at least 1"},
            {"kernelshap", Map.of("--segments", "slic:0"), "slic:N needs N >= 1"},
            {"shapley", Map.of("--segments", "grid:5", "--exact", "true"), "shapley --exact needs 2^25 evaluations"},
            {"shapley", Map.of("--segments", "grid:3", "--exact", "true", "--max-evals", "100"), "more than --max-evals 100"},
            {"lime", Map.of("--segments", wrongShape.toString()), "do not match the input"},
            {"lime", Map.of("--segments", negative.toString()), "must be non-negative"},
            {"kernelshap", Map.of("--segments", many.toString()), "at most 65536 segments"},
            {"lime", Map.of("--kernel-width", "0"), "--kernel-width"},
            {"lime", Map.of("--lasso-alpha", "-1"), "--lasso-alpha"},
        };
        for (Object[] b : bad) {
            @SuppressWarnings("unchecked")
            Map<String, String> o = (Map<String, String>) b[1];
            SalientException e = assertThrows(SalientException.class, () -> run(create((String) b[0], o)), b[0] + " " + o);
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
            assertTrue(e.getMessage().contains((String) b[2]), b[0] + " " + o + ": " + e.getMessage());
        }
    }

    @Test
    void explainWithSlicSegmentsEndToEnd() {
        // SLIC segments are per image; every element of a segment has its value
        Explainer e = create("kernelshap", Map.of("--segments", "slic:12:10", "--samples", "30"));
        try (Tensor x = input.upload(CPU)) {
            Segments.Resolved r = Segments.parse("slic:12:10").resolve(x);
            Attribution a = e.explain(CPU, x, Target.top1());
            for (int i = 0; i < 3; i++) {
                int[] l = r.of(i);
                double[] v = new double[r.count()];
                java.util.Arrays.fill(v, Double.NaN);
                for (int ch = 0; ch < 3; ch++)
                    for (int p = 0; p < 1024; p++) {
                        float got = a.values()[(i * 3 + ch) * 1024 + p];
                        if (Double.isNaN(v[l[p]])) v[l[p]] = got;
                        assertEquals(v[l[p]], got, 0, "one value per segment");
                    }
            }
        }
    }
}
