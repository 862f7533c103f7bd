package dev.salient.explain.relevance;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.core.BackwardRules;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.gradient.GradientExplainer;
import dev.salient.model.Model;
import dev.salient.model.Node;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Layer-wise Relevance Propagation (Bach et al. 2015; Montavon et al. 2019) with
 * Zennit's rules and composites on the ONNX graph: relevance (N,C,H,W) at the
 * input, starting from relevance 1 at the target logit (Zennit's one-hot
 * {@code attr_output}); {@code --lrp-scale logit} multiplies it by the logit, as
 * Captum's LRP does. The graph is in canonical form as loaded (BatchNorm folded,
 * residual sums explicit Add nodes), so ResNets need no canoniser.
 * <pre>{@code
 * Attribution a = new Lrp(model, Composite.EPSILON_PLUS).explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class Lrp extends GradientExplainer {
    public static final MethodOption<Composite> COMPOSITE = MethodOption.of("--composite", "NAME", Composite.EPSILON_PLUS,
            Composite::parse, "LRP composite: epsilon-plus (default), epsilon-plus-flat, epsilon-gamma-box, "
                    + "epsilon-alpha2-beta1, epsilon-alpha2-beta1-flat, epsilon.")
            .reportedAs(c -> c.id);
    public static final MethodOption<float[]> LOW = MethodOption.of("--low", "V[,V...]", null, s -> floats("--low", s),
            "Lowest input value per channel for z^B (epsilon-gamma-box), in model-input units.");
    public static final MethodOption<float[]> HIGH = MethodOption.of("--high", "V[,V...]", null, s -> floats("--high", s),
            "Highest input value per channel for z^B (epsilon-gamma-box), in model-input units.");
    public static final MethodOption<String> SCALE = MethodOption.of("--lrp-scale", "one|logit", "one", s -> {
        if (!s.equals("one") && !s.equals("logit")) throw new SalientException("--lrp-scale takes one or logit, got '" + s + "'");
        return s;
    }, "Starting relevance at the target: one (Zennit, default) or logit (Captum).");

    /** Rules for named nodes, over the composite: a JSON object {"node name": "rule"}. */
    public static final MethodOption<String> RULE_MAP = MethodOption.of("--rule-map", "FILE.json", null, s -> {
        readRuleMap(s);
        return s;
    }, "JSON object of node name -> rule (epsilon[:EPS], zplus, gamma[:G], alpha-beta[:A,B], flat, wsquare, zbox, pass, "
            + "norm, gradient), over the composite.");

    public static final MethodSpec SPEC = new MethodSpec("lrp", MethodSpec.Family.RELEVANCE, Attribution.Layout.INPUT,
            "relevance from 1 at the target, Zennit's rules and composites (`--composite`, default `epsilon-plus`); "
                    + "stabiliser `z + sign(z)*1e-6`",
            List.of(COMPOSITE, LOW, HIGH, SCALE, RULE_MAP), Lrp::new, Lrp::conservation);

    private final Composite composite;
    private final float[] low, high;
    private final boolean byLogit;
    private final Map<String, String> ruleMap;

    public Lrp(Model model, Composite composite) {
        this(model, composite, null, null, false);
    }

    public Lrp(Model model, Composite composite, float[] low, float[] high, boolean byLogit) {
        this(model, composite, low, high, byLogit, null);
    }

    /**
     * With input bounds (z^B; per channel, or one value for every channel), the starting
     * relevance, and rules for named nodes over the composite (null: none).
     */
    public Lrp(Model model, Composite composite, float[] low, float[] high, boolean byLogit, Map<String, String> ruleMap) {
        super(model);
        this.composite = composite;
        this.low = low == null ? null : low.clone();
        this.high = high == null ? null : high.clone();
        this.byLogit = byLogit;
        this.ruleMap = ruleMap == null ? null : Map.copyOf(ruleMap);
        if (composite.needsBounds()) {
            if (low == null || high == null)
                throw new SalientException("composite " + composite.id + " needs --low and --high (the input range per channel)");
            if (low.length != high.length)
                throw new SalientException("--low has " + low.length + " values, --high " + high.length);
        }
        rules(); // refuse bad combinations now, not at the first image
    }

    /** From spec options: --composite, --low, --high, --lrp-scale. */
    public Lrp(Model model, MethodOptions o) {
        this(model, o.get(COMPOSITE), o.get(LOW), o.get(HIGH), o.get(SCALE).equals("logit"),
                o.get(RULE_MAP) == null ? null : readRuleMap(o.get(RULE_MAP)));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    public Composite composite() {
        return composite;
    }

    @Override
    protected BackwardRules rules() {
        return composite.rules(model, channels(low), channels(high), ruleMap);
    }

    /** One bound for every input channel when a single value is given. */
    private float[] channels(float[] v) {
        if (v == null || v.length != 1) return v;
        long[] shape = model.inputs().get(0).shape();
        if (shape == null || shape.length < 2 || shape[1] <= 0) return v;
        float[] all = new float[(int) shape[1]];
        java.util.Arrays.fill(all, v[0]);
        return all;
    }

    @Override
    protected void finish(Backend b, Tensor x, Tensor grad) {}

    @Override
    protected Expansion expansion(Backend backend, Tensor batch) {
        Expansion e = super.expansion(backend, batch);
        if (!byLogit) return e;
        return new Expansion() {
            @Override
            public java.util.Set<String> wrt() {
                return e.wrt();
            }

            @Override
            public List<Pass> passes() {
                return e.passes();
            }

            @Override
            public long[] rowShape(long[] inputShape) {
                return e.rowShape(inputShape);
            }

            @Override
            public Chunk begin(Backend b, Tensor x, int firstImage) {
                return e.begin(b, x, firstImage);
            }

            /** Captum's scale: each row times its target's logit. */
            @Override
            public Attribution complete(Backend b, Attribution a) {
                float[] v = a.values().clone();
                int row = a.rowSize();
                for (int r = 0; r < a.rows(); r++)
                    for (int i = r * row; i < (r + 1) * row; i++) v[i] *= a.scores()[r];
                return new Attribution(v, a.shape(), a.layout(), a.images(), a.targets(), a.scores(), a.deltas());
            }
        };
    }

    /**
     * Conservation: with the epsilon composite on a graph whose Conv and Gemm nodes have
     * no biases, each row's relevance sums to its starting relevance (1, or the logit)
     * within 1e-3 relative; other composites and biased graphs absorb relevance by design.
     */
    private static String conservation(Explainer e, Backend b, Tensor x, Attribution a) {
        Lrp l = (Lrp) e;
        if (l.composite != Composite.EPSILON) return null;
        for (Node n : l.model.graph().nodes())
            if ((n.opType().equals("Conv") || n.opType().equals("Gemm")) && n.hasInput(2)) return null;
        for (int r = 0; r < a.rows(); r++) {
            double s = 0;
            for (float v : a.row(r)) s += v;
            double want = l.byLogit ? a.scores()[r] : 1.0;
            if (Math.abs(s - want) > 1e-3 * Math.max(1, Math.abs(want)))
                return "row " + r + ": relevance sums to " + s + ", started from " + want;
        }
        return null;
    }

    /** A JSON object of node name -> rule text. */
    static Map<String, String> readRuleMap(String file) {
        String text;
        try {
            text = java.nio.file.Files.readString(java.nio.file.Path.of(file));
        } catch (java.io.IOException | java.nio.file.InvalidPathException e) {
            throw new SalientException("cannot read the rule map " + file + " (" + e.getMessage() + ")");
        }
        Map<String, String> m = new java.util.LinkedHashMap<>();
        try {
            var obj = com.google.gson.JsonParser.parseString(text).getAsJsonObject();
            for (var e : obj.entrySet()) m.put(e.getKey(), e.getValue().getAsString());
        } catch (RuntimeException e) {
            throw new SalientException("the rule map " + file + " is not a JSON object of node name -> rule name");
        }
        for (String rule : m.values()) LrpRules.parse(null, rule, new float[1], new float[1], Composite.EPS);
        return m;
    }

    private static float[] floats(String cli, String s) {
        String[] parts = s.split(",");
        float[] v = new float[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                v[i] = Float.parseFloat(parts[i].trim());
            } catch (NumberFormatException ex) {
                throw new SalientException(cli + " needs numbers separated by commas, got '" + s + "'");
            }
            if (!Float.isFinite(v[i])) throw new SalientException(cli + " needs finite numbers, got '" + s + "'");
        }
        return v;
    }

    @Override
    public String toString() {
        return "lrp[" + composite.id.toLowerCase(Locale.ROOT) + "]";
    }
}
