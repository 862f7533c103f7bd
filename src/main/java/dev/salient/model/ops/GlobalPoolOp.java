package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Pool2dGeometry;
import dev.salient.engine.Tensor;

/** GlobalAveragePool and GlobalMaxPool over any number of spatial dims (seen as one (1, H*W...) plane). */
final class GlobalPoolOp extends AbstractOp {
    private final boolean max;

    GlobalPoolOp(OpContext ctx) {
        super(ctx);
        max = ctx.node().opType().equals("GlobalMaxPool");
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        if (in[0].length < 3) throw error("input " + str(in[0]) + " has no spatial dims");
        long[] y = new long[in[0].length];
        java.util.Arrays.fill(y, 1);
        y[0] = in[0][0];
        y[1] = in[0][1];
        geometry(in[0]);
        return new long[][] {y};
    }

    private Pool2dGeometry geometry(long[] x) {
        long plane = prod(x, 2, x.length);
        try {
            if (x.length == 4)
                return Pool2dGeometry.global(Spatial.toInt(this, x[0], "batch"), Spatial.toInt(this, x[1], "channels"),
                        Spatial.toInt(this, x[2], "height"), Spatial.toInt(this, x[3], "width"));
            return Pool2dGeometry.global(Spatial.toInt(this, x[0], "batch"), Spatial.toInt(this, x[1], "channels"), 1,
                    Spatial.toInt(this, plane, "plane"));
        } catch (RuntimeException e) {
            throw error(e.getMessage());
        }
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        Pool2dGeometry g = geometry(in[0].shape());
        Tensor x = TensorViews.view(in[0], g.inputShape()), y = TensorViews.view(out[0], g.outputShape());
        if (max) b.maxPool2dForward(x, y, g);
        else b.avgPool2dForward(x, y, g);
    }

    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] == null) return;
        Pool2dGeometry g = geometry(in[0].shape());
        Tensor dy = TensorViews.view(dOut[0], g.outputShape()), dx = TensorViews.view(dIn[0], g.inputShape());
        if (max) b.maxPool2dBackward(TensorViews.view(in[0], g.inputShape()), dy, dx, g);
        else b.avgPool2dBackward(dy, dx, g);
    }
}
