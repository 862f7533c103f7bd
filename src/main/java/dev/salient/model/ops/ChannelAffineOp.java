package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;

/**
 * salient's internal op for a BatchNormalization that could not be folded
 * into a Conv: y[n,c,...] = x[n,c,...] * scale[c] + shift[c], with
 * scale = gamma / sqrt(var + eps) and shift = beta - mean * scale computed at load.
 */
final class ChannelAffineOp extends AbstractOp {
    ChannelAffineOp(OpContext ctx) {
        super(ctx);
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        if (in[0].length < 2) throw error("input " + str(in[0]) + " has no channel axis");
        for (int i = 1; i <= 2; i++)
            if (in[i].length != 1 || in[i][0] != in[0][1])
                throw error("per-channel parameter " + str(in[i]) + " does not match " + in[0][1] + " channels");
        return new long[][] {in[0].clone()};
    }

    @Override
    public int inPlaceInput(long[][] inputShapes, long[] outputShape) {
        return 0;
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        b.channelAffine(in[0], in[1], in[2], out[0]);
    }

    @Override
    public boolean fuses(Op next, Backend b) {
        return ActivationOp.isEpilogue(next);
    }

    @Override
    public boolean fusesInPlace() {
        return true;  // y[i] = act(x[i] * scale[c] + shift[c]): x[i] read, then y[i] written
    }

    @Override
    public void forwardFused(Backend b, Tensor[] in, Op next, Tensor out) {
        ActivationOp a = (ActivationOp) next;
        b.channelAffineActivation(in[0], in[1], in[2], out, a.kind(), a.alpha(), a.beta());
    }

    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] != null) b.channelAffine(dOut[0], in[1], null, dIn[0]);
    }
}
