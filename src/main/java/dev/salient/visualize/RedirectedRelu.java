package dev.salient.visualize;

import dev.salient.engine.Backend;
import dev.salient.explain.core.BackwardRules;

/**
 * Lucid's redirected ReLU gradient (lucid/misc/redirected_relu_grad.py), which render_vis uses
 * for the first 16 steps ({@code relu_gradient_override=True}; Lucent has no such override):
 * with L the loss being minimised and dy = dL/dy,
 * <pre>
 *   relu_grad  = dy where x ≥ 0, else 0
 *   redirected = dy, except 0 where x &lt; 0 and dy &gt; 0 (a negative input pushed lower)
 *   result[n]  = relu_grad[n] if ‖relu_grad[n]‖ &gt; 0, else redirected[n]      (per batch element)
 * </pre>
 * so a unit that is dead on the initial image still receives the gradient that would wake it.
 * One engine op ({@link Backend#redirectedReluBackward}).
 */
final class RedirectedRelu {
    /** Lucid's step count for the override. */
    static final int STEPS = 16;

    private RedirectedRelu() {}

    static BackwardRules rules() {
        return BackwardRules.standard().with("redirected-relu", "Relu", (op, b, in, out, dOut, dIn) -> {
            if (dIn[0] != null) b.redirectedReluBackward(in[0], dOut[0], dIn[0]);
        });
    }
}
