package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Pool2dGeometry;
import dev.salient.engine.Pool3dGeometry;
import dev.salient.engine.Tensor;

/**
 * MaxPool and AveragePool over 1-D (as 2-D with H = 1), 2-D and 3-D inputs:
 * kernel_shape, strides, pads, dilations, auto_pad, ceil_mode and (average)
 * count_include_pad. MaxPool's optional Indices output is not supported.
 */
final class PoolOp extends AbstractOp {
    private final boolean max;

    PoolOp(OpContext ctx) {
        super(ctx);
        max = ctx.node().opType().equals("MaxPool");
        if (max && ctx.node().outputs().size() > 1 && !ctx.node().outputs().get(1).isEmpty())
            throw error("the Indices output is not supported");
        if (ctx.attrs().getInts("kernel_shape") == null) throw error("missing attribute kernel_shape");
    }

    private Spatial spatial(long[] x) {
        long[] kernel = ctx.attrs().getInts("kernel_shape");
        if (kernel.length != x.length - 2) throw error("kernel_shape " + str(kernel) + " does not match input " + str(x));
        boolean ceil = ctx.attrs().getInt("ceil_mode", 0) != 0;
        return Spatial.resolve(this, ctx.attrs(), java.util.Arrays.copyOfRange(x, 2, x.length), kernel, ceil, true);
    }

    private boolean countIncludePad() {
        return !max && ctx.attrs().getInt("count_include_pad", 0) != 0;
    }

    private static boolean volumetric(long[] x) {
        return x.length == 5;
    }

    /** The 3-D geometry for a concrete 5-D input shape. */
    Pool3dGeometry geometry3d(long[] x) {
        Spatial s = spatial(x);
        int[] in = new int[3];
        for (int a = 0; a < 3; a++) in[a] = Spatial.toInt(this, x[2 + a], "spatial size");
        try {
            return new Pool3dGeometry(Spatial.toInt(this, x[0], "batch"), Spatial.toInt(this, x[1], "channels"), in,
                    s.kernel, s.stride, s.padBegin, s.padEnd, s.dilation, s.out, countIncludePad());
        } catch (RuntimeException e) {
            throw error(e.getMessage());
        }
    }

    Pool2dGeometry geometry(long[] x) {
        if (x.length != 3 && x.length != 4)
            throw error("only 1-D, 2-D and 3-D pooling is supported, input has shape " + str(x));
        int nd = x.length - 2;
        Spatial s = spatial(x);
        boolean cip = countIncludePad();
        int n = Spatial.toInt(this, x[0], "batch"), c = Spatial.toInt(this, x[1], "channels");
        try {
            if (nd == 1)
                return new Pool2dGeometry(n, c, 1, Spatial.toInt(this, x[2], "width"), 1, s.kernel[0], 1, s.stride[0], 0,
                        s.padBegin[0], 0, s.padEnd[0], 1, s.dilation[0], 1, s.out[0], cip);
            return new Pool2dGeometry(n, c, Spatial.toInt(this, x[2], "height"), Spatial.toInt(this, x[3], "width"),
                    s.kernel[0], s.kernel[1], s.stride[0], s.stride[1], s.padBegin[0], s.padBegin[1], s.padEnd[0],
                    s.padEnd[1], s.dilation[0], s.dilation[1], s.out[0], s.out[1], cip);
        } catch (RuntimeException e) {
            throw error(e.getMessage());
        }
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        if (volumetric(in[0])) return new long[][] {geometry3d(in[0]).outputShape()};
        Pool2dGeometry g = geometry(in[0]);
        if (in[0].length == 3) return new long[][] {{g.n(), g.c(), g.outW()}};
        return new long[][] {g.outputShape()};
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        if (volumetric(in[0].shape())) {
            Pool3dGeometry g = geometry3d(in[0].shape());
            if (max) b.maxPool3dForward(in[0], out[0], g);
            else b.avgPool3dForward(in[0], out[0], g);
            return;
        }
        Pool2dGeometry g = geometry(in[0].shape());
        Tensor x = TensorViews.view(in[0], g.inputShape()), y = TensorViews.view(out[0], g.outputShape());
        if (max) b.maxPool2dForward(x, y, g);
        else b.avgPool2dForward(x, y, g);
    }

    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] == null) return;
        if (volumetric(in[0].shape())) {
            Pool3dGeometry g = geometry3d(in[0].shape());
            if (max) b.maxPool3dBackward(in[0], dOut[0], dIn[0], g);
            else b.avgPool3dBackward(dOut[0], dIn[0], g);
            return;
        }
        Pool2dGeometry g = geometry(in[0].shape());
        Tensor dy = TensorViews.view(dOut[0], g.outputShape()), dx = TensorViews.view(dIn[0], g.inputShape());
        if (max) b.maxPool2dBackward(TensorViews.view(in[0], g.inputShape()), dy, dx, g);
        else b.avgPool2dBackward(dy, dx, g);
    }

    /** Max pooling over planes: its input is the Relu's output, whose mask the winners carry. */
    @Override
    public boolean backwardFusesRelu(long[][] inputShapes, boolean sum) {
        return max && !sum && !volumetric(inputShapes[0]);
    }

    @Override
    public void backwardThroughRelu(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn, Tensor reluOut,
            Tensor sum) {
        if (sum != null) throw new dev.salient.engine.SalientException("MaxPool: no backward through a Relu with a sum");
        if (dIn[0] == null) return;
        Pool2dGeometry g = geometry(reluOut.shape());
        b.maxPool2dBackwardRelu(TensorViews.view(reluOut, g.inputShape()), TensorViews.view(dOut[0], g.outputShape()),
                TensorViews.view(dIn[0], g.inputShape()), g);
    }
}
