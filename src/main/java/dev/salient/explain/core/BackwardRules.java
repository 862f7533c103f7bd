package dev.salient.explain.core;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.model.Node;
import dev.salient.model.ops.Op;
import java.util.HashMap;
import java.util.Map;

/**
 * Backward rules, chosen per node: by node name first (composites that treat the
 * first or last layers differently, as LRP's do), then by ONNX op type, else a
 * fallback: the op's own exact VJP unless {@link #withFallback} says otherwise. {@link #standard()} is the exact gradient;
 * {@link #guided()} and {@link #deconvnet()} swap the rule of Relu as Captum's
 * GuidedBackprop and Deconvolution do. Immutable: {@link #with} returns a copy.
 */
public final class BackwardRules {
    private static final BackwardRule OWN = (op, b, in, out, dOut, dIn) -> op.backward(b, in, out, dOut, dIn);

    /** The op's own VJP, reading what the op declares it reads ({@link Op#backwardReadsInputs}, ...). */
    private static final class Own implements BackwardRule {
        private final boolean readsInputs, readsOutputs;

        Own(Op op) {
            readsInputs = op.backwardReadsInputs();
            readsOutputs = op.backwardReadsOutputs();
        }

        @Override
        public void apply(Op op, Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
            op.backward(b, in, out, dOut, dIn);
        }

        @Override
        public boolean readsInputs() {
            return readsInputs;
        }

        @Override
        public boolean readsOutputs() {
            return readsOutputs;
        }
    }

    private final Map<String, BackwardRule> byType;
    private final Map<String, BackwardRule> byNode;
    private final BackwardRule fallback;
    private final String name;
    private final boolean pairedHalves;

    private BackwardRules(String name, Map<String, BackwardRule> byType, Map<String, BackwardRule> byNode,
            BackwardRule fallback) {
        this(name, byType, byNode, fallback, false);
    }

    private BackwardRules(String name, Map<String, BackwardRule> byType, Map<String, BackwardRule> byNode,
            BackwardRule fallback, boolean pairedHalves) {
        this.name = name;
        this.byType = Map.copyOf(byType);
        this.byNode = Map.copyOf(byNode);
        this.fallback = fallback;
        this.pairedHalves = pairedHalves;
    }

    /**
     * A copy for tapes whose rows are pairs in two halves (see {@link PairedRule}): a backward
     * with these rules walks the first half only where every step keeps rows apart, and all
     * rows where a paired rule finds the halves' gradients diverging. Only the first half's
     * gradients are returned.
     */
    public BackwardRules pairedHalves() {
        return new BackwardRules(name, byType, byNode, fallback, true);
    }

    /** Whether {@link #pairedHalves()} made this set. */
    public boolean isPairedHalves() {
        return pairedHalves;
    }

    /** The exact data gradient of every op. */
    public static BackwardRules standard() {
        return new BackwardRules("standard", Map.of(), Map.of(), OWN);
    }

    /**
     * Guided backpropagation (Springenberg et al. 2015; Captum GuidedBackprop): through
     * every Relu, dx = relu(dy) * (x > 0).
     */
    public static BackwardRules guided() {
        return standard().with("guided", "Relu", (op, b, in, out, dOut, dIn) -> {
            if (dIn[0] == null) return;
            b.activationBackward(Activation.RELU, in[0], dOut[0], dIn[0], 0, 0);
            b.activationForward(Activation.RELU, dIn[0], dIn[0], 0, 0);
        });
    }

    /** Deconvnet (Zeiler and Fergus 2014; Captum Deconvolution): through every Relu, dx = relu(dy). */
    public static BackwardRules deconvnet() {
        return standard().with("deconvolution", "Relu", (op, b, in, out, dOut, dIn) -> {
            if (dIn[0] != null) b.activationForward(Activation.RELU, dOut[0], dIn[0], 0, 0);
        });
    }

    /** A copy with {@code rule} for {@code opType}. */
    public BackwardRules with(String newName, String opType, BackwardRule rule) {
        Map<String, BackwardRule> m = new HashMap<>(byType);
        m.put(opType, rule);
        return new BackwardRules(newName, m, byNode, fallback, pairedHalves);
    }

    /** A copy with {@code rule} for the node named {@code nodeName} (it wins over the op-type rule). */
    public BackwardRules withNode(String newName, String nodeName, BackwardRule rule) {
        Map<String, BackwardRule> m = new HashMap<>(byNode);
        m.put(nodeName, rule);
        return new BackwardRules(newName, byType, m, fallback, pairedHalves);
    }

    /**
     * A copy whose ops without a node or op-type rule take {@code rule} instead of their
     * exact VJP (LRP refuses them: relevance must not silently become a gradient).
     */
    public BackwardRules withFallback(String newName, BackwardRule rule) {
        return new BackwardRules(newName, byType, byNode, rule, pairedHalves);
    }

    /** The op's own exact VJP, as a rule (for rule sets whose fallback is not the gradient). */
    public static BackwardRule gradient() {
        return OWN;
    }

    /** The rule for one node of the plan: its own, its op type's, else the fallback (the op's exact VJP by default). */
    public BackwardRule ruleFor(Node node, Op op) {
        BackwardRule r = node == null ? null : byNode.get(node.name());
        if (r != null) return r;
        r = byType.getOrDefault(op.opType(), fallback);
        return r == OWN ? new Own(op) : r;
    }

    public String name() {
        return name;
    }

    /** Whether the rule for this node is the op's own exact VJP ({@link #standard()}'s). */
    public boolean isOwn(Node node, Op op) {
        if (node != null && byNode.containsKey(node.name())) return byNode.get(node.name()) == OWN;
        return byType.getOrDefault(op.opType(), fallback) == OWN;
    }
}
