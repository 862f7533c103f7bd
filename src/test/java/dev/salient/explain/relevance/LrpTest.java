package dev.salient.explain.relevance;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.engine.cuda.CudaBackend;
import dev.salient.explain.Attribution;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.Target;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * LRP beyond the method fixtures (those run in MethodGoldenTest): every composite
 * against the float64 Zennit re-implementation on a bias-free model with a
 * depthwise conv, a Concat, a residual Add, max, average and global average
 * pooling (scripts/make_relevance_fixtures.py); conservation of the epsilon rule;
 * one-line refusals of bad input; cuda against cpu where a device answers.
 */
class LrpTest {
    static final Path ROOT = Path.of("src/test/resources/fixtures/relevance");
    static final Backend CPU = Engine.cpu();
    static Model nobias;
    static NdArray x;

    @BeforeAll
    static void load() {
        nobias = Model.load(ROOT.resolve("nobias/model.onnx"));
        x = Npy.read(ROOT.resolve("nobias/input.npy"));
    }

    @AfterAll
    static void close() {
        nobias.close();
    }

    static Stream<Arguments> cases() throws IOException {
        JsonObject m = JsonParser.parseString(Files.readString(ROOT.resolve("manifest.json"))).getAsJsonObject();
        List<Arguments> out = new ArrayList<>();
        for (JsonElement c : m.getAsJsonObject("models").getAsJsonObject("nobias").getAsJsonArray("cases"))
            out.add(Arguments.of(c.getAsJsonObject().get("id").getAsString(), c.getAsJsonObject()));
        return out.stream();
    }

    private static Attribution run(Backend b, JsonObject c) {
        Map<String, String> cli = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> o : c.getAsJsonObject("cli").entrySet()) cli.put(o.getKey(), o.getValue().getAsString());
        int[] t = new int[c.getAsJsonArray("targets").size()];
        for (int i = 0; i < t.length; i++) t[i] = c.getAsJsonArray("targets").get(i).getAsInt();
        try (Tensor xt = x.upload(b)) {
            return Lrp.SPEC.create(nobias, MethodOptions.parse(Lrp.SPEC, cli)).explain(b, xt, Target.perImage(t));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesZennitReimplementation(String id, JsonObject c) {
        Attribution a = run(CPU, c);
        float[] ref = Npy.read(ROOT.resolve(c.get("output").getAsString())).data();
        double max = 0, err = 0;
        for (float v : ref) max = Math.max(max, Math.abs(v));
        for (int i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(a.values()[i] - ref[i]));
        System.out.printf("%s: max |got - ref| / max|ref| = %.2e%n", id, err / max);
        Parity.assertClose(id, a.values(), ref, 1e-4 * max, 1e-4);
    }

    /** Epsilon on a bias-free graph: each row's relevance sums to 1 (and to the logit with --lrp-scale logit). */
    @Test
    void epsilonConservesRelevanceWithoutBiases() {
        try (Tensor xt = x.upload(CPU)) {
            Lrp one = new Lrp(nobias, Composite.EPSILON), logit = new Lrp(nobias, Composite.EPSILON, null, null, true);
            Attribution a = one.explain(CPU, xt, Target.top1()), b = logit.explain(CPU, xt, Target.top1());
            assertNull(Lrp.SPEC.axiom().violation(one, CPU, xt, a));
            assertNull(Lrp.SPEC.axiom().violation(logit, CPU, xt, b));
            for (int r = 0; r < a.rows(); r++) {
                double s = 0, sl = 0;
                for (float v : a.row(r)) s += v;
                for (float v : b.row(r)) sl += v;
                System.out.printf("conservation row %d: |sum R - 1| = %.2e, |sum R - logit| / |logit| = %.2e%n", r,
                        Math.abs(s - 1), Math.abs(sl - a.scores()[r]) / Math.abs(a.scores()[r]));
                assertEquals(1.0, s, 1e-3, "row " + r);
                assertEquals(a.scores()[r], sl, 1e-3 * Math.abs(a.scores()[r]), "row " + r + " by logit");
            }
            // the axiom catches a relevance map that does not conserve
            float[] v = a.values().clone();
            v[0] += 0.01f;
            Attribution broken = new Attribution(v, a.shape(), a.layout(), a.images(), a.targets(), a.scores(), null);
            assertNotNull(Lrp.SPEC.axiom().violation(one, CPU, xt, broken));
        }
    }

    private static String error(Runnable r) {
        SalientException e = assertThrows(SalientException.class, r::run);
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void badInputIsOneLine() {
        assertTrue(error(() -> MethodOptions.parse(Lrp.SPEC, Map.of("--composite", "epsilon-minus")))
                .contains("unknown composite 'epsilon-minus'"));
        assertTrue(error(() -> Lrp.SPEC.create(nobias, MethodOptions.parse(Lrp.SPEC, Map.of("--composite", "epsilon-gamma-box"))))
                .contains("needs --low and --high"));
        assertTrue(error(() -> LrpRules.alphaBeta(null, 3f, 1f, 1e-6f)).contains("alpha - beta = 1"));
        assertTrue(error(() -> MethodOptions.parse(Lrp.SPEC, Map.of("--low", "0,x"))).contains("--low needs numbers"));
        assertTrue(error(() -> MethodOptions.parse(Lrp.SPEC, Map.of("--lrp-scale", "softmax"))).contains("--lrp-scale"));
        Lrp twoChannels = new Lrp(nobias, Composite.EPSILON_GAMMA_BOX, new float[] {0, 0}, new float[] {1, 1}, false);
        try (Tensor xt = x.upload(CPU)) {
            assertTrue(error(() -> twoChannels.explain(CPU, xt, Target.top1())).contains("2 channels"));
        }
        try (Model sm = Model.load(ROOT.resolve("softmax/model.onnx")); Tensor xt = x.upload(CPU)) {
            String msg = error(() -> new Lrp(sm, Composite.EPSILON_PLUS).explain(CPU, xt, Target.top1()));
            assertTrue(msg.contains("no relevance rule for op Softmax in node '"), msg);
        }
    }

    /** A rule map over a composite: every Conv and Gemm on epsilon is the epsilon composite; unknown nodes are refused. */
    @Test
    void ruleMapAssignsRulesByNode() throws IOException {
        Map<String, String> all = new LinkedHashMap<>();
        for (var n : nobias.graph().nodes())
            if (n.opType().equals("Conv") || n.opType().equals("Gemm")) all.put(n.name(), "epsilon");
        Path f = Files.createTempFile("rulemap", ".json");
        try (Tensor xt = x.upload(CPU)) {
            Files.writeString(f, new com.google.gson.Gson().toJson(all));
            Lrp mapped = (Lrp) Lrp.SPEC.create(nobias, MethodOptions.parse(Lrp.SPEC, Map.of("--rule-map", f.toString())));
            assertArrayEquals(new Lrp(nobias, Composite.EPSILON).explain(CPU, xt, Target.top1()).values(),
                    mapped.explain(CPU, xt, Target.top1()).values());
            Files.writeString(f, "{\"no such node\": \"epsilon\"}");
            assertTrue(error(() -> Lrp.SPEC.create(nobias, MethodOptions.parse(Lrp.SPEC, Map.of("--rule-map", f.toString()))))
                    .contains("names node 'no such node', which the model does not have"));
            Files.writeString(f, "{\"x\": \"alpha-beta:3,1\"}");
            assertTrue(error(() -> MethodOptions.parse(Lrp.SPEC, Map.of("--rule-map", f.toString()))).contains("alpha - beta = 1"));
            Files.writeString(f, "{\"x\": \"zminus\"}");
            assertTrue(error(() -> MethodOptions.parse(Lrp.SPEC, Map.of("--rule-map", f.toString()))).contains("unknown LRP rule"));
            assertTrue(error(() -> MethodOptions.parse(Lrp.SPEC, Map.of("--rule-map", f + ".missing"))).contains("cannot read"));
        } finally {
            Files.deleteIfExists(f);
        }
    }

    /** Modified weights are made once per model and rule: a second explain makes none and gives the same bytes. */
    @Test
    void modifiedWeightsAreCachedPerModel() {
        try (Model m = Model.load(ROOT.resolve("nobias/model.onnx")); Tensor xt = x.upload(CPU)) {
            assertEquals(0, m.derivedCount());
            float[] first = new Lrp(m, Composite.EPSILON_PLUS).explain(CPU, xt, Target.top1()).values();
            int made = m.derivedCount();
            assertTrue(made > 0, "epsilon-plus keeps w+ and w- of its convs");
            float[] second = new Lrp(m, Composite.EPSILON_PLUS).explain(CPU, xt, Target.top1()).values();
            assertEquals(made, m.derivedCount(), "the second explain reuses them");
            assertArrayEquals(first, second);
            new Lrp(m, Composite.EPSILON_GAMMA_BOX, new float[] {-3}, new float[] {3}, false).explain(CPU, xt, Target.top1());
            assertTrue(m.derivedCount() > made, "gamma adds w + gamma w+ and w + gamma w-");
        }
    }

    /** The composites differ where their rules differ (the first layer, the conv rule). */
    @Test
    void compositesAssignDifferentRules() {
        try (Tensor xt = x.upload(CPU)) {
            float[] plus = new Lrp(nobias, Composite.EPSILON_PLUS).explain(CPU, xt, Target.top1()).values();
            float[] flat = new Lrp(nobias, Composite.EPSILON_PLUS_FLAT).explain(CPU, xt, Target.top1()).values();
            float[] ab = new Lrp(nobias, Composite.EPSILON_ALPHA2_BETA1).explain(CPU, xt, Target.top1()).values();
            assertFalse(java.util.Arrays.equals(plus, flat));
            assertFalse(java.util.Arrays.equals(plus, ab));
        }
    }

    @Test
    void cudaMatchesCpu() throws IOException {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
        CudaBackend gpu = CudaBackend.shared();
        for (Arguments arg : cases().toList()) {
            JsonObject c = (JsonObject) arg.get()[1];
            float[] want = run(CPU, c).values(), got = run(gpu, c).values();
            double max = 0;
            for (float v : want) max = Math.max(max, Math.abs(v));
            Parity.assertClose(c.get("id").getAsString() + " cuda", got, want, 1e-4 * max, 1e-4);
        }
    }

    /**
     * The convs behind a ReLU (directly, or through pooling, residual sums and reshapes) are
     * known to see no negative input, so their rules skip the min-reduction; the first conv
     * reads the image and keeps it. Results are unchanged (the goldens above run through it).
     */
    @Test
    void convsBehindAReluSkipTheNegativeCheck() {
        try (Model m = Model.load(Path.of("src/test/resources/fixtures/arch/resnet_bottleneck_folded/model.onnx"))) {
            java.util.List<dev.salient.model.Node> nodes = m.graph().nodes();
            java.util.Set<String> nonNeg = Composite.nonNegative(nodes);
            int convs = 0, behind = 0;
            dev.salient.model.Node first = null;
            for (dev.salient.model.Node n : nodes) {
                if (!n.opType().equals("Conv")) continue;
                if (first == null) first = n;
                convs++;
                if (nonNeg.contains(n.input(0))) behind++;
            }
            assertFalse(nonNeg.contains(first.input(0)), "the image may hold negative values");
            assertEquals(convs - 1, behind, "every conv but the first is behind a ReLU");
        }
    }

    /**
     * The tape keeps only what the composite's rules read: no conv output before a ReLU (the
     * Pass rule reads nothing and z⁺ recomputes its own z, so the forward runs the pair fused)
     * and no residual sum (the Add's Norm rule recomputes it). The relevance is bit for bit that
     * of a tape that keeps everything, and of the Norm rule that reads the kept sum; the chunk
     * sizing counts the smaller tape.
     */
    @Test
    void tapeKeepsOnlyWhatTheRulesRead() {
        try (Model m = Model.load(Path.of("src/test/resources/fixtures/arch/resnet_bottleneck_folded/model.onnx"))) {
            String in = m.inputs().get(0).name();
            long[] shape = m.inputs().get(0).shape().clone();
            shape[0] = 2;
            float[] v = new float[(int) dev.salient.engine.Shapes.numel(shape)];
            java.util.Random r = new java.util.Random(7);
            for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
            dev.salient.explain.core.BackwardRules rules = Composite.EPSILON_PLUS.rules(m, null, null);
            dev.salient.explain.core.BackwardRules readingSums = rules.with(rules.name(), "Add", LrpRules.norm(Composite.EPS));
            java.util.Set<String> wrt = java.util.Set.of(in);
            try (Tensor xt = CPU.upload(v, shape);
                    var all = dev.salient.explain.core.Tape.record(m, CPU, xt, wrt);
                    var some = dev.salient.explain.core.Tape.record(m, CPU, xt, wrt, List.of(rules))) {
                int[] cls = {3, 5};
                float[] want, got, sums;
                try (Tensor g = all.backward(cls, rules).get(in)) {
                    want = g.toArray();
                }
                try (Tensor g = some.backward(cls, rules).get(in)) {
                    got = g.toArray();
                }
                try (Tensor g = all.backward(cls, readingSums).get(in)) {
                    sums = g.toArray();
                }
                assertArrayEquals(want, got, 0f);
                assertArrayEquals(want, sums, 0f);
                int dropped = 0;
                for (dev.salient.model.Node n : m.graph().nodes()) {
                    if (!n.opType().equals("Conv") && !n.opType().equals("Add")) continue;
                    boolean kept = true;
                    try {
                        some.value(n.outputs().get(0));
                    } catch (SalientException e) {
                        kept = false;
                    }
                    boolean beforeRelu = m.graph().nodes().stream()
                            .anyMatch(c -> c.opType().equals("Relu") && c.input(0).equals(n.outputs().get(0)));
                    if (beforeRelu) {
                        assertFalse(kept, n.opType() + " " + n.name() + "'s output feeds only a ReLU");
                        dropped++;
                    }
                    assertDoesNotThrow(() -> all.value(n.outputs().get(0)));
                }
                assertTrue(dropped >= 3, "convs and the sum before a ReLU: " + dropped);
            }
            long[] row = shape.clone();
            row[0] = 1;
            assertTrue(dev.salient.explain.core.Tape.floatsPerRow(m, row, wrt, List.of(rules))
                    < dev.salient.explain.core.Tape.floatsPerRow(m, row, wrt));
        }
    }
}
