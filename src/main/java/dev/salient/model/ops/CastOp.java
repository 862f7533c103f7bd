package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.model.HostTensor;
import dev.salient.onnx.TensorDecoder;

/** Cast: folds on constants (to float or integer types); at run time only float-to-float (a copy) is supported. */
final class CastOp extends AbstractOp {
    private final int to;

    CastOp(OpContext ctx) {
        super(ctx);
        if (!ctx.attrs().has("to")) throw error("missing attribute to");
        to = (int) ctx.attrs().getInt("to", 1);
        if (to == 8) throw error("cast to STRING is not supported");
        if (to <= 0 || to > 16 || to == 14 || to == 15) throw error("cast to data type " + to + " is not supported");
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        if (!TensorDecoder.isFloatType(to))
            throw error("casting a run-time tensor to data type " + to + " is not supported (float engine)");
        return new long[][] {in[0].clone()};
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        b.copy(in[0], out[0]);
    }

    @Override
    public HostTensor[] fold(HostTensor[] in) {
        HostTensor x = in[0];
        if (TensorDecoder.isFloatType(to)) return new HostTensor[] {HostTensor.ofFloats(x.floats(), x.shape())};
        long[] l = x.longs().clone();
        if (to == 9) for (int i = 0; i < l.length; i++) l[i] = x.get(i) != 0 ? 1 : 0;
        return new HostTensor[] {HostTensor.ofLongs(l, x.shape())};
    }

    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] != null) b.copy(dOut[0], dIn[0]);
    }
}
