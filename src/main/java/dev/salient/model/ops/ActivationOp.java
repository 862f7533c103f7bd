package dev.salient.model.ops;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.model.HostTensor;

/** Relu, LeakyRelu, Clip, Sigmoid, HardSigmoid, HardSwish: y = act(x), backed by activation_forward. */
final class ActivationOp extends AbstractOp {
    private final Activation kind;
    private final float alpha, beta;
    private final boolean clipParams;

    ActivationOp(OpContext ctx) {
        super(ctx);
        var a = ctx.attrs();
        switch (ctx.node().opType()) {
            case "Relu" -> { kind = Activation.RELU; alpha = 0; beta = 0; clipParams = false; }
            case "LeakyRelu" -> { kind = Activation.LEAKY_RELU; alpha = a.getFloat("alpha", 0.01f); beta = 0; clipParams = false; }
            case "Sigmoid" -> { kind = Activation.SIGMOID; alpha = 0; beta = 0; clipParams = false; }
            case "HardSigmoid" -> { kind = Activation.HARD_SIGMOID; alpha = a.getFloat("alpha", 0.2f); beta = a.getFloat("beta", 0.5f); clipParams = false; }
            case "HardSwish" -> { kind = Activation.HARD_SWISH; alpha = 1f / 6; beta = 0.5f; clipParams = false; }
            case "Clip" -> {
                kind = Activation.CLIP;
                if (ctx.opset() < 11) {
                    alpha = a.getFloat("min", Float.NEGATIVE_INFINITY);
                    beta = a.getFloat("max", Float.POSITIVE_INFINITY);
                    clipParams = false;
                } else {
                    alpha = ctx.hasInput(1) ? scalar(ctx.requireConst(1, "min")) : Float.NEGATIVE_INFINITY;
                    beta = ctx.hasInput(2) ? scalar(ctx.requireConst(2, "max")) : Float.POSITIVE_INFINITY;
                    clipParams = true;
                }
            }
            default -> throw error("not an activation");
        }
    }

    private float scalar(HostTensor t) {
        if (t.numel() != 1) throw error("clip bound must be a scalar, got shape " + str(t.shape()));
        return (float) t.get(0);
    }

    /** Whether {@code op} is an activation its producer may apply in its epilogue (Relu or Clip). */
    static boolean isEpilogue(Op op) {
        return op instanceof ActivationOp a && Backend.fusesConvActivation(a.kind());
    }

    Activation kind() {
        return kind;
    }

    float alpha() {
        return alpha;
    }

    float beta() {
        return beta;
    }

    @Override
    public boolean isParamInput(int i) {
        return clipParams && i > 0;
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        return new long[][] {in[0].clone()};
    }

    @Override
    public int inPlaceInput(long[][] inputShapes, long[] outputShape) {
        return 0;
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        b.activationForward(kind, in[0], out[0], alpha, beta);
    }

    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] == null) return;
        // Relu's mask, x <= 0 (NaN passes dy, as PyTorch's), is the same on y = relu(x): y <= 0
        // exactly where x <= 0, and relu(NaN) is NaN. So the output serves when the input is not kept.
        Tensor v = kind == Activation.RELU && in[0] == null ? out[0] : in[0];
        b.activationBackward(kind, v, dOut[0], dIn[0], alpha, beta);
    }

    /** Relu's gradient is read off its output (see {@link #backward}); the other kinds read the input. */
    @Override
    public boolean backwardReadsInputs() {
        return kind != Activation.RELU;
    }

    @Override
    public boolean backwardReadsOutputs() {
        return kind == Activation.RELU;
    }
}
