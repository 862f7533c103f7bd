package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;

/**
 * Softmax. Opset 13+: over one axis (default -1). Before 13: over the input
 * flattened to 2-D at {@code axis} (default 1), i.e. over all dims from axis on.
 */
final class SoftmaxOp extends AbstractOp {
    private final long axisAttr;
    private final boolean flatten;

    SoftmaxOp(OpContext ctx) {
        super(ctx);
        flatten = ctx.opset() < 13;
        axisAttr = ctx.attrs().getInt("axis", flatten ? 1 : -1);
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        if (in[0].length == 0) throw error("scalar input");
        axis(axisAttr, in[0].length);
        return new long[][] {in[0].clone()};
    }

    private long[] view(long[] s) {
        int ax = axis(axisAttr, s.length);
        if (flatten) return new long[] {prod(s, 0, ax), prod(s, ax, s.length), 1};
        return new long[] {prod(s, 0, ax), s[ax], prod(s, ax + 1, s.length)};
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        long[] v = view(in[0].shape());
        b.softmaxForward(in[0], out[0], v[0], v[1], v[2]);
    }

    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] == null) return;
        long[] v = view(in[0].shape());
        b.softmaxBackward(out[0], dOut[0], dIn[0], v[0], v[1], v[2]);
    }
}
