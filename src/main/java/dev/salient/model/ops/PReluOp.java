package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import java.util.Arrays;

/**
 * PRelu: y = x >= 0 ? x : slope * x. Slope broadcasts to x numpy-style (opset
 * 7+); before opset 7 a 1-D slope of length C is per channel (axis 1), which is
 * what PyTorch exported then.
 */
final class PReluOp extends AbstractOp {
    PReluOp(OpContext ctx) {
        super(ctx);
    }

    private long[] slopeShape(long[] x, long[] s) {
        if (ctx.opset() < 7 && s.length == 1 && x.length >= 2 && s[0] == x[1] && s[0] != 1) {
            long[] v = new long[x.length - 1];
            Arrays.fill(v, 1);
            v[0] = s[0];
            return v;
        }
        return s;
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        long[] s = slopeShape(in[0], in[1]);
        long[] y;
        try {
            y = Shapes.broadcast(in[0], s);
        } catch (RuntimeException e) {
            throw error(e.getMessage());
        }
        if (!Arrays.equals(y, in[0])) throw error("slope " + str(in[1]) + " does not broadcast to x " + str(in[0]));
        return new long[][] {in[0].clone()};
    }

    @Override
    public int inPlaceInput(long[][] inputShapes, long[] outputShape) {
        return 0;
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        b.preluForward(in[0], TensorViews.view(in[1], slopeShape(in[0].shape(), in[1].shape())), out[0]);
    }

    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] != null)
            b.preluBackward(in[0], TensorViews.view(in[1], slopeShape(in[0].shape(), in[1].shape())), dOut[0], dIn[0]);
    }
}
