package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.model.HostTensor;

/** Slice with starts/ends/axes/steps (attributes before opset 10, constant inputs from 10), ONNX clamping rules. */
final class SliceOp extends AbstractOp {
    private final long[] starts, ends, axes, steps;

    SliceOp(OpContext ctx) {
        super(ctx);
        if (ctx.opset() < 10) {
            starts = ctx.attrs().getInts("starts");
            ends = ctx.attrs().getInts("ends");
            axes = ctx.attrs().getInts("axes");
            steps = null;
        } else {
            starts = ctx.requireConst(1, "starts").longs();
            ends = ctx.requireConst(2, "ends").longs();
            axes = ctx.hasInput(3) ? ctx.requireConst(3, "axes").longs() : null;
            steps = ctx.hasInput(4) ? ctx.requireConst(4, "steps").longs() : null;
        }
        if (starts == null || ends == null || starts.length != ends.length)
            throw error("starts and ends must be given with equal lengths");
        if (axes != null && axes.length != starts.length) throw error("axes length differs from starts");
        if (steps != null && steps.length != starts.length) throw error("steps length differs from starts");
    }

    @Override
    public boolean isParamInput(int i) {
        return i > 0;
    }

    /** {start[], step[], outShape[]} per axis of x. */
    private long[][] resolve(long[] x) {
        int r = x.length;
        long[] st = new long[r], sp = new long[r], y = x.clone();
        java.util.Arrays.fill(sp, 1);
        boolean[] seen = new boolean[r];
        for (int i = 0; i < starts.length; i++) {
            int ax = axis(axes == null ? i : axes[i], r);
            if (seen[ax]) throw error("axis " + ax + " repeated");
            seen[ax] = true;
            long dim = x[ax], step = steps == null ? 1 : steps[i];
            if (step == 0) throw error("step 0");
            long s = starts[i], e = ends[i];
            if (s < 0) s += dim;
            if (e < 0) e += dim;
            if (step > 0) {
                s = Math.max(0, Math.min(s, dim));
                e = Math.max(0, Math.min(e, dim));
            } else {
                s = Math.max(0, Math.min(s, dim - 1));
                e = Math.max(-1, Math.min(e, dim - 1));
            }
            long count = step > 0 ? Math.max(0, (e - s + step - 1) / step) : Math.max(0, (s - e + (-step) - 1) / (-step));
            st[ax] = s;
            sp[ax] = step;
            y[ax] = count;
        }
        return new long[][] {st, sp, y};
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        return new long[][] {resolve(in[0])[2]};
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        long[] x = in[0].shape();
        long[][] r = resolve(x);
        CopyRuns.slice(b, in[0], out[0], x, r[0], r[1], r[2]);
    }

    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] == null) return;
        long[] x = in[0].shape();
        long[][] r = resolve(x);
        CopyRuns.unslice(b, dOut[0], dIn[0], x, r[0], r[1], r[2]);
    }

    @Override
    public HostTensor[] fold(HostTensor[] in) {
        long[] x = in[0].shape();
        long[][] r = resolve(x);
        long[] y = r[2];
        int n = HostTensor.checkedNumel(ctx.name(), y);
        int rank = x.length;
        long[] stride = new long[rank];
        long s = 1;
        for (int i = rank - 1; i >= 0; i--) {
            stride[i] = s;
            s *= x[i];
        }
        int[] src = new int[n];
        long[] pos = new long[rank];
        for (int p = 0; p < n; p++) {
            long f = 0;
            for (int i = 0; i < rank; i++) f += (r[0][i] + pos[i] * r[1][i]) * stride[i];
            src[p] = (int) f;
            for (int k = rank - 1; k >= 0; k--) {
                if (++pos[k] < y[k]) break;
                pos[k] = 0;
            }
        }
        return new HostTensor[] {in[0].gather(src, y)};
    }
}
