package dev.salient.model.ops;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.Conv3dGeometry;
import dev.salient.engine.Tensor;

/**
 * Conv, 1-D, 2-D and 3-D (1-D runs as 2-D with H = 1; 3-D on the volumetric ops): groups, dilations, strides,
 * asymmetric pads, auto_pad; kernel_shape is taken from the weights and
 * checked against the attribute when given.
 */
final class ConvOp extends AbstractOp {
    ConvOp(OpContext ctx) {
        super(ctx);
    }

    /** The spatial attributes for concrete x and w shapes, after the checks every rank shares. */
    private Spatial spatial(long[] x, long[] w) {
        if (w.length != x.length) throw error("weight " + str(w) + " does not match input " + str(x));
        long[] kernel = java.util.Arrays.copyOfRange(w, 2, w.length);
        long[] ks = ctx.attrs().getInts("kernel_shape");
        if (ks != null && !java.util.Arrays.equals(ks, kernel))
            throw error("kernel_shape " + str(ks) + " does not match weight " + str(w));
        long group = ctx.attrs().getInt("group", 1);
        if (group <= 0 || x[1] != w[1] * group)
            throw error("input channels " + x[1] + " != weight channels " + w[1] + " x group " + group);
        if (w[0] % group != 0) throw error("filters " + w[0] + " not divisible by group " + group);
        return Spatial.resolve(this, ctx.attrs(), java.util.Arrays.copyOfRange(x, 2, x.length), kernel, false, true);
    }

    /** The 3-D geometry for concrete 5-D x and w shapes. */
    Conv3dGeometry geometry3d(long[] x, long[] w) {
        Spatial s = spatial(x, w);
        int[] in = new int[3];
        for (int a = 0; a < 3; a++) in[a] = Spatial.toInt(this, x[2 + a], "spatial size");
        try {
            return new Conv3dGeometry(Spatial.toInt(this, x[0], "batch"), Spatial.toInt(this, x[1], "channels"),
                    Spatial.toInt(this, w[0], "filters"), (int) ctx.attrs().getInt("group", 1), in, s.kernel, s.stride,
                    s.padBegin, s.padEnd, s.dilation);
        } catch (RuntimeException e) {
            throw error(e.getMessage());
        }
    }

    private static boolean volumetric(long[] x) {
        return x.length == 5;
    }

    /** The last geometry made, for the shapes it was made for: a forward asks again for the same shapes. */
    private record Made(long[] x, long[] w, Conv2dGeometry g) {}

    private volatile Made made;

    /** The 2-D geometry for concrete x and w shapes. */
    Conv2dGeometry geometry(long[] x, long[] w) {
        Made m = made;
        if (m != null && java.util.Arrays.equals(m.x, x) && java.util.Arrays.equals(m.w, w)) return m.g;
        Conv2dGeometry g = makeGeometry(x, w);
        made = new Made(x.clone(), w.clone(), g);
        return g;
    }

    private Conv2dGeometry makeGeometry(long[] x, long[] w) {
        if (x.length != 3 && x.length != 4)
            throw error("only 1-D, 2-D and 3-D convolutions are supported, input has shape " + str(x));
        int nd = x.length - 2;
        long group = ctx.attrs().getInt("group", 1);
        Spatial s = spatial(x, w);
        int n = Spatial.toInt(this, x[0], "batch"), c = Spatial.toInt(this, x[1], "channels"), k = Spatial.toInt(this, w[0], "filters");
        try {
            if (nd == 1)
                return new Conv2dGeometry(n, c, 1, Spatial.toInt(this, x[2], "width"), k, 1, s.kernel[0], 1, s.stride[0],
                        0, s.padBegin[0], 0, s.padEnd[0], 1, s.dilation[0], (int) group);
            return new Conv2dGeometry(n, c, Spatial.toInt(this, x[2], "height"), Spatial.toInt(this, x[3], "width"), k,
                    s.kernel[0], s.kernel[1], s.stride[0], s.stride[1], s.padBegin[0], s.padBegin[1], s.padEnd[0],
                    s.padEnd[1], s.dilation[0], s.dilation[1], (int) group);
        } catch (RuntimeException e) {
            throw error(e.getMessage());
        }
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        if (in.length > 2 && in[2] != null && (in[2].length != 1 || in[2][0] != in[1][0]))
            throw error("bias " + str(in[2]) + " does not match " + in[1][0] + " filters");
        if (volumetric(in[0])) return new long[][] {geometry3d(in[0], in[1]).outputShape()};
        Conv2dGeometry g = geometry(in[0], in[1]);
        if (in[0].length == 3) return new long[][] {{g.n(), g.k(), g.outW()}};
        return new long[][] {g.outputShape()};
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        if (volumetric(in[0].shape())) {
            Conv3dGeometry g = geometry3d(in[0].shape(), in[1].shape());
            b.conv3dForward(in[0], in[1], in.length > 2 ? in[2] : null, out[0], g);
            return;
        }
        Conv2dGeometry g = geometry(in[0].shape(), in[1].shape());
        Tensor bias = in.length > 2 ? in[2] : null;
        b.conv2dForward(TensorViews.view(in[0], g.inputShape()), TensorViews.view(in[1], g.weightShape()), bias,
                TensorViews.view(out[0], g.outputShape()), g);
    }

    @Override
    public boolean fuses(Op next, Backend b) {
        return ActivationOp.isEpilogue(next);
    }

    @Override
    public void forwardFused(Backend b, Tensor[] in, Op next, Tensor out) {
        ActivationOp a = (ActivationOp) next;
        if (volumetric(in[0].shape())) {
            Conv3dGeometry g = geometry3d(in[0].shape(), in[1].shape());
            b.conv3dForwardActivation(in[0], in[1], in.length > 2 ? in[2] : null, out, g, a.kind(), a.alpha(), a.beta());
            return;
        }
        Conv2dGeometry g = geometry(in[0].shape(), in[1].shape());
        Tensor bias = in.length > 2 ? in[2] : null;
        b.conv2dForwardActivation(TensorViews.view(in[0], g.inputShape()), TensorViews.view(in[1], g.weightShape()),
                bias, TensorViews.view(out, g.outputShape()), g, a.kind(), a.alpha(), a.beta());
    }

    @Override
    public boolean fusesSum(Op act, Backend b) {
        return act == null || ActivationOp.isEpilogue(act);
    }

    @Override
    public void forwardFusedSum(Backend b, Tensor[] in, Tensor z, Op act, Tensor out) {
        ActivationOp a = (ActivationOp) act;
        Tensor bias = in.length > 2 ? in[2] : null;
        if (volumetric(in[0].shape())) {
            Conv3dGeometry g = geometry3d(in[0].shape(), in[1].shape());
            b.conv3dForwardSum(in[0], in[1], bias, z, out, g, a == null ? null : a.kind(), a == null ? 0f : a.alpha(),
                    a == null ? 0f : a.beta());
            return;
        }
        Conv2dGeometry g = geometry(in[0].shape(), in[1].shape());
        b.conv2dForwardSum(TensorViews.view(in[0], g.inputShape()), TensorViews.view(in[1], g.weightShape()), bias,
                TensorViews.view(z, g.outputShape()), TensorViews.view(out, g.outputShape()), g,
                a == null ? null : a.kind(), a == null ? 0f : a.alpha(), a == null ? 0f : a.beta());
    }

    @Override
    public boolean forwardChannels(Backend b, Tensor[] in, Tensor z, Op act, int[] channels, Tensor out) {
        if (volumetric(in[0].shape()) || in[0].shape().length != 4 || act != null && !ActivationOp.isEpilogue(act))
            return false;
        ActivationOp a = (ActivationOp) act;
        Conv2dGeometry g = geometry(in[0].shape(), in[1].shape());
        b.conv2dForwardChannels(TensorViews.view(in[0], g.inputShape()), TensorViews.view(in[1], g.weightShape()),
                in.length > 2 ? in[2] : null, z == null ? null : TensorViews.view(z, g.outputShape()), channels,
                TensorViews.view(out, g.outputShape()), g, a == null ? null : a.kind(),
                a == null ? 0f : a.alpha(), a == null ? 0f : a.beta());
        return true;
    }

    @Override
    public boolean fusesPrologue(Op pre, long[][] preShapes, Op preAct, long[][] inputShapes, Backend b) {
        if (preAct != null && !ActivationOp.isEpilogue(preAct)) return false;
        if (inputShapes.length < 2 || inputShapes[0] == null || inputShapes[1] == null || volumetric(inputShapes[0]))
            return false;
        if (pre instanceof ConvOp pc) {  // an expansion, then this depthwise conv; or a depthwise conv, then this 1x1
            if (inputShapes[0].length != 4 || preShapes.length < 2 || preShapes[0] == null || preShapes[1] == null
                    || preShapes[0].length != 4)
                return false;
            Conv2dGeometry pg = pc.geometry(preShapes[0], preShapes[1]), g = geometry(inputShapes[0], inputShapes[1]);
            return pg.pointwise() && g.depthwise3x3() && b.fusesPointwiseDepthwise(pg, g)
                    || pg.depthwise3x3() && g.pointwise() && b.fusesDepthwisePointwise(pg, g);
        }
        return b.fusesConvPrologue() && pre instanceof ChannelAffineOp && geometry(inputShapes[0], inputShapes[1]).pointwise();
    }

    @Override
    public void forwardFusedPrologue(Backend b, Tensor[] preIn, Op pre, Op preAct, Tensor[] in, Op next, Tensor out) {
        ActivationOp p = (ActivationOp) preAct, a = (ActivationOp) next;
        if (pre instanceof ConvOp pc) {  // the pair: pc's conv (pg), then this one (g)
            Conv2dGeometry pg = pc.geometry(preIn[0].shape(), preIn[1].shape()), g = geometry(pg.outputShape(), in[1].shape());
            Tensor x = TensorViews.view(preIn[0], pg.inputShape()), w1 = TensorViews.view(preIn[1], pg.weightShape());
            Tensor b1 = preIn.length > 2 ? preIn[2] : null, b2 = in.length > 2 ? in[2] : null;
            Tensor w2 = TensorViews.view(in[1], g.weightShape()), y = TensorViews.view(out, g.outputShape());
            Activation k1 = p == null ? null : p.kind(), k2 = a == null ? null : a.kind();
            float lo1 = p == null ? 0f : p.alpha(), hi1 = p == null ? 0f : p.beta();
            float lo2 = a == null ? 0f : a.alpha(), hi2 = a == null ? 0f : a.beta();
            if (pg.pointwise()) b.conv2dPointwiseDepthwise(x, w1, b1, k1, lo1, hi1, w2, b2, y, pg, g, k2, lo2, hi2);
            else b.conv2dDepthwisePointwise(x, w1, b1, k1, lo1, hi1, w2, b2, y, pg, g, k2, lo2, hi2);
            return;
        }
        Conv2dGeometry g = geometry(preIn[0].shape(), in[1].shape());
        b.conv2dForwardPrologue(TensorViews.view(preIn[0], g.inputShape()), preIn[1], preIn[2], p == null ? null : p.kind(),
                p == null ? 0f : p.alpha(), p == null ? 0f : p.beta(), TensorViews.view(in[1], g.weightShape()),
                in.length > 2 ? in[2] : null, TensorViews.view(out, g.outputShape()), g, a == null ? null : a.kind(),
                a == null ? 0f : a.alpha(), a == null ? 0f : a.beta());
    }

    /** The data gradient reads the filter and the input's shape, never the output. */
    @Override
    public boolean backwardReadsOutputs() {
        return false;
    }

    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] == null) return;
        if (volumetric(in[0].shape())) {
            b.conv3dBackwardData(dOut[0], in[1], dIn[0], geometry3d(in[0].shape(), in[1].shape()));
            return;
        }
        Conv2dGeometry g = geometry(in[0].shape(), in[1].shape());
        b.conv2dBackwardData(TensorViews.view(dOut[0], g.outputShape()), TensorViews.view(in[1], g.weightShape()),
                TensorViews.view(dIn[0], g.inputShape()), g);
    }

    @Override
    public boolean backwardFusesRelu(long[][] inputShapes, boolean sum) {
        return inputShapes.length > 1 && !volumetric(inputShapes[0]);
    }

    @Override
    public void backwardThroughRelu(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn, Tensor reluOut,
            Tensor sum) {
        if (dIn[0] == null) return;
        Conv2dGeometry g = geometry(in[0] != null ? in[0].shape() : reluOut.shape(), in[1].shape());
        b.conv2dBackwardDataRelu(TensorViews.view(dOut[0], g.outputShape()), TensorViews.view(in[1], g.weightShape()),
                TensorViews.view(dIn[0], g.inputShape()), g, TensorViews.view(reluOut, g.inputShape()),
                sum == null ? null : TensorViews.view(sum, g.inputShape()));
    }
}
