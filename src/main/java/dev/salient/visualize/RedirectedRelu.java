package dev.salient.visualize;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Reduction;
import dev.salient.engine.Tensor;
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
 * Composed from engine primitives.
 */
final class RedirectedRelu {
    /** Lucid's step count for the override. */
    static final int STEPS = 16;

    private RedirectedRelu() {}

    static BackwardRules rules() {
        return BackwardRules.standard().with("redirected-relu", "Relu", (op, b, in, out, dOut, dIn) -> {
            if (dIn[0] != null) apply(b, in[0], dOut[0], dIn[0]);
        });
    }

    static void apply(Backend b, Tensor x, Tensor dy, Tensor dx) {
        long n = x.dim(0), per = x.numel() / n;
        try (Tensor relu = b.allocate(x.shape()); Tensor push = b.allocate(x.shape()); Tensor mag = b.allocate(n)) {
            // relu_grad = dy ⊙ [x ≥ 0] = dy − dy ⊙ [x < 0], [x < 0] from the sign of −relu(−x)... via relu'(−x)
            b.axpby(-1f, x, 0f, push); //                                    push = −x
            b.activationBackward(Activation.RELU, push, dy, relu, 0f, 0f); // relu = dy ⊙ [x < 0]
            b.axpby(1f, dy, -1f, relu); //                                   relu = dy ⊙ [x ≥ 0]
            b.activationForward(Activation.ABS, relu, dx, 0f, 0f);
            b.reduceRows(Reduction.MAX, Views.view(dx, n, per), mag);
            float[] m = mag.toArray();
            // redirected = dy − relu(dy) ⊙ [x < 0]
            b.activationForward(Activation.RELU, dy, dx, 0f, 0f); //         dx = relu(dy)
            b.activationBackward(Activation.RELU, push, dx, dx, 0f, 0f); //   dx = relu(dy) ⊙ [x < 0]
            b.binary(BinaryOp.SUB, dy, dx, dx); //                            dx = redirected
            for (int i = 0; i < n; i++)
                if (m[i] > 0) b.copyRange(relu, i * per, dx, i * per, per);
        }
    }
}
