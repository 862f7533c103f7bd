package dev.salient.model.ops;

import static dev.salient.model.OnnxBuilder.attr;
import static dev.salient.model.OnnxBuilder.attrs;
import static dev.salient.model.OnnxBuilder.in;
import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import dev.salient.model.OnnxBuilder;
import dev.salient.model.Plan;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every op's data-only VJP against central finite differences of
 * L = sum(r * f(x)) through a one-node graph. Inputs are drawn away from the
 * kinks of piecewise ops. Float32 forward passes bound the achievable
 * agreement: h = 1e-2, |analytic - numeric| <= 2e-3 + 1e-2 |numeric|.
 */
class OpBackwardTest {
    @TempDir
    Path dir;
    final Backend cpu = Engine.cpu();
    static final double H = 1e-2, RTOL = 1e-2, ATOL = 2e-3;

    /** Values in [-2,-0.1] U [0.1,2], distinct by at least ~1e-3 (no ties, no kinks within h). */
    static float[] awayFromKinks(Random r, int n) {
        float[] f = new float[n];
        List<Integer> perm = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) perm.add(i);
        java.util.Collections.shuffle(perm, r);
        for (int i = 0; i < n; i++) {
            double v = 0.1 + 1.9 * (i + 0.5) / n;
            f[perm.get(i)] = (float) (i % 2 == 0 ? v : -v);
        }
        return f;
    }

    /** Runs the one-node graph, its VJP, and compares with finite differences for the inputs in {@code gradOf}. */
    void check(String name, OnnxBuilder b, String out, Map<String, float[]> values, Map<String, long[]> shapes, String... gradOf)
            throws Exception {
        Path p = b.write(dir, name + ".onnx");
        Random rnd = new Random(name.hashCode());
        try (Model m = Model.load(p)) {
            Plan plan = m.plan(shapes, Set.of(out));
            assertEquals(1, plan.steps().size(), name + ": one backend step");
            Plan.Step s = plan.steps().get(0);
            Map<String, Tensor> feed = new HashMap<>();
            for (var e : values.entrySet()) feed.put(e.getKey(), cpu.upload(e.getValue(), shapes.get(e.getKey())));
            Tensor y = m.run(cpu, feed, Set.of(out)).get(out);
            float[] r = OnnxBuilder.random(rnd, (int) y.numel(), 1f);
            Tensor dy = cpu.upload(r, y.shape());
            Tensor[] inT = new Tensor[s.inputs().length], dIn = new Tensor[s.inputs().length];
            for (int i = 0; i < inT.length; i++) {
                String nm = s.inputs()[i];
                if (nm.isEmpty()) continue;
                inT[i] = feed.containsKey(nm) ? feed.get(nm) : m.weight(cpu, nm);
                if (Arrays.asList(gradOf).contains(nm)) {
                    dIn[i] = cpu.allocate(shapes.get(nm));
                    cpu.fill(dIn[i], 1e6f); // must be overwritten, not accumulated into
                }
            }
            s.op().backward(cpu, inT, new Tensor[] {y}, new Tensor[] {dy}, dIn);
            for (int i = 0; i < inT.length; i++) {
                if (dIn[i] == null) continue;
                String nm = s.inputs()[i];
                float[] analytic = dIn[i].toArray();
                float[] x = values.get(nm).clone();
                int n = x.length;
                int[] idx = n <= 48 ? java.util.stream.IntStream.range(0, n).toArray() : rnd.ints(48, 0, n).toArray();
                StringBuilder bad = new StringBuilder();
                int nBad = 0;
                for (int k : idx) {
                    float orig = x[k];
                    x[k] = (float) (orig + H);
                    double lp = loss(m, feed, nm, x, shapes.get(nm), out, r);
                    x[k] = (float) (orig - H);
                    double lm = loss(m, feed, nm, x, shapes.get(nm), out, r);
                    x[k] = orig;
                    double num = (lp - lm) / (2 * H);
                    if (!(Math.abs(analytic[k] - num) <= ATOL + RTOL * Math.abs(num)) && nBad++ < 5)
                        bad.append(" [").append(k).append("] analytic ").append(analytic[k]).append(" numeric ").append(num);
                }
                if (nBad > 0) fail(name + " d/d" + nm + ": " + nBad + " of " + idx.length + " mismatches:" + bad);
                dIn[i].close();
            }
            y.close();
            dy.close();
            for (Tensor t : feed.values()) t.close();
        }
    }

    private double loss(Model m, Map<String, Tensor> feed, String name, float[] x, long[] shape, String out, float[] r) {
        Map<String, Tensor> f = new HashMap<>(feed);
        try (Tensor xt = cpu.upload(x, shape)) {
            f.put(name, xt);
            try (Tensor y = m.run(cpu, f, Set.of(out)).get(out)) {
                float[] v = y.toArray();
                double l = 0;
                for (int i = 0; i < v.length; i++) l += (double) r[i] * v[i];
                return l;
            }
        }
    }

    /** Single runtime input x of the given shape; y of unspecified shape. */
    void unary(String name, OnnxBuilder b, long[] xs, float[] x) throws Exception {
        check(name, b.output("y"), "y", Map.of("x", x), Map.of("x", xs), "x");
    }

    static OnnxBuilder g(long... xs) {
        return new OnnxBuilder().input("x", xs);
    }

    static int numel(long... s) {
        return (int) Shapes.numel(s);
    }

    @Test
    void conv() throws Exception {
        Random r = new Random(1);
        long[] xs = {2, 4, 7, 6};
        unary("conv2d", g(xs).init("W", OnnxBuilder.random(r, 6 * 2 * 9, 0.5f), 6, 2, 3, 3).init("B", new float[6], 6)
                .node("Conv", "c", in("x", "W", "B"), in("y"), attr("group", 2L), attrs("strides", 2, 1),
                        attrs("pads", 1, 0, 2, 1), attrs("dilations", 1, 2)), xs, OnnxBuilder.random(r, numel(xs), 1f));
        long[] x1 = {2, 3, 9};
        unary("conv1d", g(x1).init("W", OnnxBuilder.random(r, 4 * 3 * 3, 0.5f), 4, 3, 3)
                .node("Conv", "c", in("x", "W"), in("y"), attr("auto_pad", "SAME_UPPER"), attrs("strides", 2)), x1,
                OnnxBuilder.random(r, numel(x1), 1f));
    }

    @Test
    void pools() throws Exception {
        Random r = new Random(2);
        long[] xs = {2, 3, 7, 7};
        unary("maxpool", g(xs).node("MaxPool", "p", in("x"), in("y"), attrs("kernel_shape", 3, 3), attrs("strides", 2, 2),
                attrs("pads", 1, 1, 1, 1)), xs, awayFromKinks(r, numel(xs)));
        unary("maxpool_ceil_dil", g(xs).opset(12).node("MaxPool", "p", in("x"), in("y"), attrs("kernel_shape", 2, 2),
                attrs("strides", 2, 2), attrs("dilations", 2, 1), attr("ceil_mode", 1L)), xs, awayFromKinks(r, numel(xs)));
        unary("avgpool_cip", g(xs).node("AveragePool", "p", in("x"), in("y"), attrs("kernel_shape", 3, 3),
                attrs("strides", 2, 2), attrs("pads", 1, 1, 1, 1), attr("count_include_pad", 1L)), xs,
                OnnxBuilder.random(r, numel(xs), 1f));
        unary("avgpool_ceil", g(xs).node("AveragePool", "p", in("x"), in("y"), attrs("kernel_shape", 2, 2),
                attrs("strides", 2, 2), attr("ceil_mode", 1L)), xs, OnnxBuilder.random(r, numel(xs), 1f));
        long[] x1 = {2, 3, 8};
        unary("maxpool1d", g(x1).node("MaxPool", "p", in("x"), in("y"), attrs("kernel_shape", 2), attrs("strides", 2)), x1,
                awayFromKinks(r, numel(x1)));
        unary("gap", g(xs).node("GlobalAveragePool", "p", in("x"), in("y")), xs, OnnxBuilder.random(r, numel(xs), 1f));
        unary("gmp", g(xs).node("GlobalMaxPool", "p", in("x"), in("y")), xs, awayFromKinks(r, numel(xs)));
    }

    @Test
    void activations() throws Exception {
        Random r = new Random(3);
        long[] xs = {2, 3, 4, 4};
        float[] x = awayFromKinks(r, numel(xs));
        unary("relu", g(xs).node("Relu", "a", in("x"), in("y")), xs, x);
        unary("leaky", g(xs).node("LeakyRelu", "a", in("x"), in("y"), attr("alpha", 0.2f)), xs, x);
        unary("sigmoid", g(xs).node("Sigmoid", "a", in("x"), in("y")), xs, x);
        unary("hardsigmoid", g(xs).opset(13).node("HardSigmoid", "a", in("x"), in("y"), attr("alpha", 0.3f), attr("beta", 0.4f)), xs, x);
        unary("hardswish", g(xs).opset(14).node("HardSwish", "a", in("x"), in("y")), xs, x);
        unary("clip6", g(xs).opset(6).node("Clip", "a", in("x"), in("y"), attr("min", -1.05f), attr("max", 1.05f)), xs, x);
        unary("clip13", g(xs).initFloat("lo", -0.55f).initFloat("hi", 1.55f).node("Clip", "a", in("x", "lo", "hi"), in("y")), xs, x);
        unary("prelu", g(xs).init("slope", new float[] {0.1f, -0.3f, 0.5f}, 3, 1, 1)
                .node("PRelu", "a", in("x", "slope"), in("y")), xs, x);
        unary("softmax13", g(xs).node("Softmax", "a", in("x"), in("y"), attr("axis", 1L)), xs, OnnxBuilder.random(r, numel(xs), 1f));
        unary("softmax11", g(xs).opset(11).node("Softmax", "a", in("x"), in("y"), attr("axis", 2L)), xs, OnnxBuilder.random(r, numel(xs), 1f));
    }

    @Test
    void binaryBroadcasting() throws Exception {
        Random r = new Random(4);
        long[] as = {2, 3, 4, 5}, bs = {3, 1, 5};
        for (String op : new String[] {"Add", "Sub", "Mul", "Div"}) {
            float[] a = OnnxBuilder.random(r, numel(as), 1f);
            float[] b = op.equals("Div") ? OnnxBuilder.positive(r, numel(bs)) : OnnxBuilder.random(r, numel(bs), 1f);
            OnnxBuilder m = new OnnxBuilder().input("x", as).input("b", bs).output("y").node(op, "op", in("x", "b"), in("y"));
            check(op.toLowerCase(), m, "y", Map.of("x", a, "b", b), Map.of("x", as, "b", bs), "x", "b");
        }
        // legacy (opset 6) axis broadcasting: b (3) aligned at axis 1 of (2,3,4)
        long[] ls = {2, 3, 4}, lb = {3};
        OnnxBuilder m = new OnnxBuilder().opset(6).input("x", ls).input("b", lb).output("y")
                .node("Mul", "op", in("x", "b"), in("y"), attr("broadcast", 1L), attr("axis", 1L));
        check("mul_legacy", m, "y", Map.of("x", OnnxBuilder.random(r, 24, 1f), "b", OnnxBuilder.random(r, 3, 1f)),
                Map.of("x", ls, "b", lb), "x", "b");
    }

    @Test
    void denseAndConcat() throws Exception {
        Random r = new Random(5);
        long[] as = {3, 4};
        unary("gemm", g(as).init("W", OnnxBuilder.random(r, 20, 1f), 5, 4).init("C", OnnxBuilder.random(r, 5, 1f), 5)
                .node("Gemm", "fc", in("x", "W", "C"), in("y"), attr("transB", 1L), attr("alpha", 0.7f)), as,
                OnnxBuilder.random(r, 12, 1f));
        long[] at = {4, 3};
        unary("gemm_tA", g(at).init("W", OnnxBuilder.random(r, 20, 1f), 4, 5)
                .node("Gemm", "fc", in("x", "W"), in("y"), attr("transA", 1L)), at, OnnxBuilder.random(r, 12, 1f));
        unary("gemm_tAB", g(at).init("W", OnnxBuilder.random(r, 20, 1f), 5, 4)
                .node("Gemm", "fc", in("x", "W"), in("y"), attr("transA", 1L), attr("transB", 1L)), at, OnnxBuilder.random(r, 12, 1f));
        long[] ms = {2, 3, 4};
        unary("matmul", g(ms).init("W", OnnxBuilder.random(r, 20, 1f), 4, 5).node("MatMul", "mm", in("x", "W"), in("y")), ms,
                OnnxBuilder.random(r, 24, 1f));
        long[] s1 = {2, 2, 3}, s2 = {2, 4, 3};
        OnnxBuilder c2 = new OnnxBuilder().input("x", s1).input("z", s2).output("y").node("Concat", "cat", in("x", "z"),
                in("y"), attr("axis", -2L));
        check("concat", c2, "y", Map.of("x", OnnxBuilder.random(r, 12, 1f), "z", OnnxBuilder.random(r, 24, 1f)),
                Map.of("x", s1, "z", s2), "x", "z");
    }

    @Test
    void shapeOpsAndAffine() throws Exception {
        Random r = new Random(6);
        long[] xs = {2, 3, 4, 1};
        float[] x = OnnxBuilder.random(r, 24, 1f);
        unary("flatten", g(xs).node("Flatten", "f", in("x"), in("y"), attr("axis", 2L)), xs, x);
        unary("reshape", g(xs).initInts("s", new long[] {0, -1}, 2).node("Reshape", "f", in("x", "s"), in("y")), xs, x);
        unary("squeeze", g(xs).initInts("a", new long[] {3}, 1).node("Squeeze", "f", in("x", "a"), in("y")), xs, x);
        unary("unsqueeze", g(xs).initInts("a", new long[] {0}, 1).node("Unsqueeze", "f", in("x", "a"), in("y")), xs, x);
        unary("slice", g(xs).initInts("st", new long[] {1, 3}, 2).initInts("en", new long[] {3, 0}, 2)
                .initInts("ax", new long[] {1, 2}, 2).initInts("sp", new long[] {1, -2}, 2)
                .node("Slice", "f", in("x", "st", "en", "ax", "sp"), in("y")), xs, x);
        unary("pad", g(xs).initInts("p", new long[] {0, 1, 2, 0, 0, 0, 1, 0}, 8).node("Pad", "f", in("x", "p"), in("y")), xs, x);
        unary("gather", g(xs).initInts("i", new long[] {2, -4, 3}, 3).node("Gather", "f", in("x", "i"), in("y"), attr("axis", 2L)), xs, x);
        // repeated indices (also as negative twins): their gradients add up
        unary("gather repeated", g(xs).initInts("i", new long[] {1, 3, -3, 1, 0}, 5).node("Gather", "f", in("x", "i"), in("y"),
                attr("axis", 2L)), xs, x);
        long[] bs = {2, 3, 2, 2};
        unary("batchnorm", g(bs).init("g", new float[] {1, 2, 0.5f}, 3).init("b", new float[] {0, 1, -1}, 3)
                .init("m", new float[] {0.1f, 0.2f, 0.3f}, 3).init("v", new float[] {1, 2, 3}, 3)
                .node("BatchNormalization", "bn", in("x", "g", "b", "m", "v"), in("y")), bs, OnnxBuilder.random(r, 24, 1f));
    }
}
