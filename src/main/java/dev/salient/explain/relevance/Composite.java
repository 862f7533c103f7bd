package dev.salient.explain.relevance;

import dev.salient.engine.SalientException;
import dev.salient.explain.core.BackwardRule;
import dev.salient.explain.core.BackwardRules;
import dev.salient.model.Model;
import dev.salient.model.Node;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Zennit's composites (zennit/composites.py): which LRP rule each node of the
 * ONNX graph takes. A composite names the rule of the first layer, of the other
 * convolutions and of the dense layers; every composite shares Zennit's base map
 * ({@code layer_map_base}): Pass for activations and a standalone BatchNorm
 * (ChannelAffine), Norm for Add and average or global average pooling, the plain
 * gradient for max pooling and for ops that only move values (Flatten, Reshape,
 * Concat, Slice, Pad). Any other op is refused with one line naming it and its node.
 *
 * <p>The graph is in canonical form when it reaches a composite: the loader folds
 * a BatchNorm into its Conv (Zennit's SequentialMergeBatchNorm) and every residual
 * sum is an explicit Add node (what Zennit's ResNetCanonizer builds by hand).
 */
public enum Composite {
    EPSILON_PLUS("epsilon-plus", Layer.NONE, Layer.Z_PLUS),
    EPSILON_PLUS_FLAT("epsilon-plus-flat", Layer.FLAT, Layer.Z_PLUS),
    EPSILON_GAMMA_BOX("epsilon-gamma-box", Layer.Z_BOX, Layer.GAMMA),
    EPSILON_ALPHA2_BETA1("epsilon-alpha2-beta1", Layer.NONE, Layer.ALPHA2_BETA1),
    EPSILON_ALPHA2_BETA1_FLAT("epsilon-alpha2-beta1-flat", Layer.FLAT, Layer.ALPHA2_BETA1),
    EPSILON("epsilon", Layer.NONE, Layer.EPSILON);

    /** Zennit's default epsilon and stabiliser. */
    public static final float EPS = 1e-6f;

    /** Zennit's Gamma default. */
    public static final float GAMMA = 0.25f;

    /** Activations (Zennit's Activation type) and a BatchNorm that could not be folded: Pass. */
    static final Set<String> PASS_OPS = Set.of("Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "PRelu",
            "ChannelAffine");
    /** Parameter-free sums and averages (Zennit's Sum and AvgPool): Norm. */
    static final Set<String> NORM_OPS = Set.of("Add", "AveragePool", "GlobalAveragePool");
    /** Max pooling and ops that only move values: the plain gradient (Concat splits relevance by slice). */
    static final Set<String> GRADIENT_OPS = Set.of("MaxPool", "GlobalMaxPool", "Flatten", "Reshape", "Squeeze", "Unsqueeze",
            "Identity", "Dropout", "Concat", "Slice", "Pad");
    static final Set<String> CONV_OPS = Set.of("Conv");
    static final Set<String> DENSE_OPS = Set.of("Gemm");

    /** The rule kinds a composite assigns. */
    enum Layer {
        NONE, EPSILON, Z_PLUS, GAMMA, ALPHA2_BETA1, FLAT, Z_BOX
    }

    public final String id;
    private final Layer first, conv;

    Composite(String id, Layer first, Layer conv) {
        this.id = id;
        this.first = first;
        this.conv = conv;
    }

    /** By CLI name; an unknown one is one line listing the known ones. */
    public static Composite parse(String s) {
        for (Composite c : values()) if (c.id.equals(s.trim().toLowerCase(Locale.ROOT))) return c;
        throw new SalientException("unknown composite '" + s + "' (use one of: "
                + Arrays.stream(values()).map(c -> c.id).collect(Collectors.joining(", ")) + ")");
    }

    /** Whether the composite needs the input bounds --low/--high (z^B on the first layer). */
    public boolean needsBounds() {
        return first == Layer.Z_BOX;
    }

    /**
     * The backward rules of this composite on {@code model}'s graph. {@code low}/{@code high}
     * are the per-channel input bounds of z^B (null unless {@link #needsBounds()}).
     */
    public BackwardRules rules(Model model, float[] low, float[] high) {
        if (needsBounds() && (low == null || high == null))
            throw new SalientException("composite " + id + " needs the input bounds --low and --high (per channel, in model-input units)");
        BackwardRule refuse = (op, b, in, out, dOut, dIn) -> {
            throw new SalientException("lrp: no relevance rule for op " + op.opType() + " (composite " + id + ")");
        };
        BackwardRules r = BackwardRules.standard().withFallback("lrp-" + id, refuse);
        BackwardRule pass = LrpRules.PASS, norm = LrpRules.norm(EPS), grad = BackwardRules.gradient();
        for (String t : PASS_OPS) r = r.with(r.name(), t, pass);
        for (String t : NORM_OPS) r = r.with(r.name(), t, t.equals("Add") ? LrpRules.normSum(EPS) : norm);
        for (String t : GRADIENT_OPS) r = r.with(r.name(), t, grad);
        for (String t : CONV_OPS) r = r.with(r.name(), t, rule(model, conv, low, high));
        // convs whose input the graph keeps at or above 0 (behind a ReLU) skip the rule's check for x⁻
        BackwardRule behindRelu = rule(model, conv, low, high, true);
        Set<String> nonNegative = nonNegative(model.graph().nodes());
        for (Node n : model.graph().nodes())
            if (CONV_OPS.contains(n.opType()) && n.hasInput(0) && nonNegative.contains(n.input(0)))
                r = r.withNode(r.name(), n.name(), behindRelu);
        for (String t : DENSE_OPS) r = r.with(r.name(), t, LrpRules.epsilon(EPS));
        for (Node n : model.graph().nodes()) {
            String t = n.opType();
            if (PASS_OPS.contains(t) || NORM_OPS.contains(t) || GRADIENT_OPS.contains(t) || CONV_OPS.contains(t)
                    || DENSE_OPS.contains(t)) continue;
            r = r.withNode(r.name(), n.name(), (op, b, in, out, dOut, dIn) -> {
                throw new SalientException("lrp: no relevance rule for op " + t + " in node '" + n.name() + "' (composite "
                        + id + ")");
            });
        }
        if (first != Layer.NONE) {
            // Zennit's first layer: the first module of the first-layer kinds in definition order;
            // z^B takes convolutions only, Flat any linear layer
            Set<String> kinds = first == Layer.Z_BOX ? CONV_OPS : Set.of("Conv", "Gemm");
            Node f = firstOf(model.graph().nodes(), kinds);
            if (f != null) r = r.withNode(r.name(), f.name(), rule(model, first, low, high));
        }
        return r;
    }

    /**
     * A user composite on top of this one ({@code --rule-map}): rules by node name. A node
     * the graph lacks is an error naming it.
     */
    public BackwardRules rules(Model model, float[] low, float[] high, Map<String, String> ruleMap) {
        BackwardRules r = rules(model, low, high);
        if (ruleMap == null) return r;
        Set<String> names = model.graph().nodes().stream().map(Node::name).collect(Collectors.toSet());
        for (Map.Entry<String, String> e : ruleMap.entrySet()) {
            if (!names.contains(e.getKey()))
                throw new SalientException("the rule map names node '" + e.getKey() + "', which the model does not have");
            r = r.withNode(r.name(), e.getKey(), LrpRules.parse(model, e.getValue(), low, high, EPS));
        }
        return r;
    }

    /** The first node of the given op types in the graph's (topological) order, or null. */
    static Node firstOf(List<Node> nodes, Set<String> kinds) {
        for (Node n : nodes) if (kinds.contains(n.opType())) return n;
        return null;
    }

    /**
     * The tensors the graph keeps at or above 0 (or NaN): Relu outputs, and what pooling, reshaping,
     * sums and concatenations make of those alone. A rule's min-reduction check for x⁻ would find
     * no element below 0 in them, so it is skipped.
     */
    static Set<String> nonNegative(List<Node> nodes) {
        Set<String> out = new java.util.HashSet<>();
        Set<String> keeps = Set.of("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape",
                "Identity", "Dropout");
        for (Node n : nodes) {
            boolean yes;
            switch (n.opType()) {
                case "Relu" -> yes = true;
                case "Add", "Concat" -> {
                    yes = !n.inputs().isEmpty();
                    for (String i : n.inputs()) yes &= out.contains(i);
                }
                default -> yes = keeps.contains(n.opType()) && n.hasInput(0) && out.contains(n.input(0));
            }
            if (yes) out.add(n.outputs().get(0));
        }
        return out;
    }

    /** The rule of a layer kind; its modified weights are cached by {@code model}. */
    static BackwardRule rule(Model model, Layer l, float[] low, float[] high) {
        return rule(model, l, low, high, false);
    }

    /** As {@link #rule(Model, Layer, float[], float[])}; {@code nonNegative}: the layer's input holds no value below 0. */
    static BackwardRule rule(Model model, Layer l, float[] low, float[] high, boolean nonNegative) {
        return switch (l) {
            case EPSILON -> LrpRules.epsilon(EPS);
            case Z_PLUS -> LrpRules.zPlus(model, EPS, nonNegative);
            case GAMMA -> LrpRules.gamma(model, GAMMA, EPS, nonNegative);
            case ALPHA2_BETA1 -> LrpRules.alphaBeta(model, 2f, 1f, EPS, nonNegative);
            case FLAT -> LrpRules.flat(model, EPS);
            case Z_BOX -> LrpRules.zBox(model, low, high, EPS);
            case NONE -> throw new IllegalStateException("no rule");
        };
    }
}
