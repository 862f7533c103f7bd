package dev.salient.explain;

import dev.salient.engine.Activation;
import dev.salient.model.ops.Op;
import java.util.HashMap;
import java.util.Map;

/**
 * Backward rules by ONNX op type. {@link #standard()} is the exact gradient;
 * {@link #guided()} and {@link #deconvnet()} swap the rule of Relu as Captum's
 * GuidedBackprop and Deconvolution do. Immutable: {@link #with} returns a copy.
 */
public final class BackwardRules {
    private static final BackwardRule OWN = (op, b, in, out, dOut, dIn) -> op.backward(b, in, out, dOut, dIn);

    private final Map<String, BackwardRule> byType;
    private final String name;

    private BackwardRules(String name, Map<String, BackwardRule> byType) {
        this.name = name;
        this.byType = Map.copyOf(byType);
    }

    /** The exact data gradient of every op. */
    public static BackwardRules standard() {
        return new BackwardRules("standard", Map.of());
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
        return standard().with("deconvnet", "Relu", (op, b, in, out, dOut, dIn) -> {
            if (dIn[0] != null) b.activationForward(Activation.RELU, dOut[0], dIn[0], 0, 0);
        });
    }

    /** A copy with {@code rule} for {@code opType}. */
    public BackwardRules with(String newName, String opType, BackwardRule rule) {
        Map<String, BackwardRule> m = new HashMap<>(byType);
        m.put(opType, rule);
        return new BackwardRules(newName, m);
    }

    public BackwardRule ruleFor(Op op) {
        return byType.getOrDefault(op.opType(), OWN);
    }

    public String name() {
        return name;
    }
}
