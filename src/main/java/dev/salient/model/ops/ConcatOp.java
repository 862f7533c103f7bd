package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.model.HostTensor;
import java.util.ArrayList;
import java.util.List;

/** Concat along an axis (opset 4+: required attribute; before: default 1). Folds on shapes and small constants. */
final class ConcatOp extends AbstractOp {
    private final long axisAttr;

    ConcatOp(OpContext ctx) {
        super(ctx);
        if (!ctx.attrs().has("axis") && ctx.opset() >= 4) throw error("missing attribute axis");
        axisAttr = ctx.attrs().getInt("axis", 1);
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        if (in.length == 0) throw error("no inputs");
        int r = in[0].length;
        int ax = axis(axisAttr, r);
        long[] y = in[0].clone();
        y[ax] = 0;
        for (long[] s : in) {
            if (s.length != r) throw error("inputs of different rank: " + str(in[0]) + " and " + str(s));
            for (int i = 0; i < r; i++)
                if (i != ax && s[i] != y[i]) throw error("input shapes " + str(in[0]) + " and " + str(s) + " differ off axis " + ax);
            y[ax] += s[ax];
        }
        return new long[][] {y};
    }

    @Override
    public boolean concatenatesInPlace(long[][] in) {
        if (in.length == 0 || in[0] == null) return false;
        for (long[] s : in) if (s == null || s.length != in[0].length) return false;
        return prod(in[0], 0, axis(axisAttr, in[0].length)) == 1;
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        List<Tensor> xs = new ArrayList<>();
        for (Tensor t : in) if (t.numel() > 0) xs.add(t);
        if (xs.isEmpty()) return;
        b.concat(xs, axis(axisAttr, out[0].rank()), out[0]);
    }

    @Override
    public HostTensor[] fold(HostTensor[] in) {
        long[][] shapes = new long[in.length][];
        boolean anyFloat = false;
        for (int i = 0; i < in.length; i++) {
            shapes[i] = in[i].shape();
            anyFloat |= in[i].isFloat();
        }
        long[] y = outputShapes(shapes)[0];
        int n = HostTensor.checkedNumel(ctx.name(), y);
        int ax = axis(axisAttr, y.length);
        long outer = prod(y, 0, ax), inner = prod(y, ax + 1, y.length);
        float[] fo = anyFloat ? new float[n] : null;
        long[] lo = anyFloat ? null : new long[n];
        int pos = 0;
        Object[] src = new Object[in.length]; // each input's values, read once (off-heap ones are copied per read)
        for (int i = 0; i < in.length; i++) src[i] = anyFloat ? in[i].floats() : in[i].longs();
        for (long o = 0; o < outer; o++)
            for (int i = 0; i < in.length; i++) {
                int block = (int) (shapes[i][ax] * inner);
                int from = (int) (o * block);
                System.arraycopy(src[i], from, anyFloat ? fo : lo, pos, block);
                pos += block;
            }
        return new HostTensor[] {anyFloat ? HostTensor.ofFloats(fo, y) : HostTensor.ofLongs(lo, y)};
    }

    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        int ax = axis(axisAttr, out[0].rank());
        long offset = 0;
        for (int i = 0; i < in.length; i++) {
            if (dIn[i] != null && in[i].numel() > 0) b.sliceAxis(dOut[0], ax, offset, dIn[i]);
            offset += in[i].dim(ax);
        }
    }
}
