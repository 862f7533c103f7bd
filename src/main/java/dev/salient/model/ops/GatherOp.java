package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.model.HostTensor;

/** Gather along an axis with constant indices (negative ones wrap); runs on constants at load or as copies at run time. */
final class GatherOp extends AbstractOp {
    private final long axisAttr;
    private final HostTensor indices;

    GatherOp(OpContext ctx) {
        super(ctx);
        axisAttr = ctx.attrs().getInt("axis", 0);
        indices = ctx.requireConst(1, "indices");
        if (indices.isFloat()) throw error("indices must be integers");
    }

    @Override
    public boolean isParamInput(int i) {
        return i == 1;
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        long[] d = in[0];
        if (d.length == 0) throw error("data is a scalar");
        int ax = axis(axisAttr, d.length);
        long[] is = indices.shape();
        long[] y = new long[d.length - 1 + is.length];
        int k = 0;
        for (int i = 0; i < ax; i++) y[k++] = d[i];
        for (long v : is) y[k++] = v;
        for (int i = ax + 1; i < d.length; i++) y[k++] = d[i];
        return new long[][] {y};
    }

    private long[] normalized(long dim) {
        long[] idx = indices.longs().clone();
        for (int i = 0; i < idx.length; i++) {
            if (idx[i] < -dim || idx[i] >= dim) throw error("index " + idx[i] + " out of range for axis of size " + dim);
            if (idx[i] < 0) idx[i] += dim;
        }
        return idx;
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        long[] d = in[0].shape();
        int ax = axis(axisAttr, d.length);
        CopyRuns.gather(b, in[0], out[0], prod(d, 0, ax), d[ax], prod(d, ax + 1, d.length), normalized(d[ax]));
    }

    /**
     * dData[.., i, ..] = the sum of the gradients of every output block that gathered index i.
     * Blocks are copied back in rounds in which each index appears at most once: the first
     * round straight into dData, later ones (repeated indices) through a zeroed buffer that is
     * then added.
     */
    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] == null) return;
        long[] d = in[0].shape();
        int ax = axis(axisAttr, d.length);
        long[] idx = normalized(d[ax]);
        long outer = prod(d, 0, ax), inner = prod(d, ax + 1, d.length), n = idx.length;
        // round[j]: how many earlier positions hold the same index
        int[] round = new int[idx.length];
        java.util.Map<Long, Integer> seen = new java.util.HashMap<>();
        int rounds = 0;
        for (int j = 0; j < idx.length; j++) {
            round[j] = seen.merge(idx[j], 1, Integer::sum) - 1;
            rounds = Math.max(rounds, round[j] + 1);
        }
        b.fill(dIn[0], 0f);
        Tensor extra = rounds > 1 ? b.allocate(dIn[0].shape()) : null;
        try {
            for (int r = 0; r < rounds; r++) {
                Tensor dst = r == 0 ? dIn[0] : extra;
                if (r > 0) b.fill(extra, 0f);
                for (long o = 0; o < outer; o++)
                    for (int j = 0; j < n; j++)
                        if (round[j] == r)
                            b.copyRange(dOut[0], (o * n + j) * inner, dst, (o * d[ax] + idx[j]) * inner, inner);
                if (r > 0) b.axpby(1f, extra, 1f, dIn[0]);
            }
        } finally {
            if (extra != null) extra.close();
        }
    }

    @Override
    public HostTensor[] fold(HostTensor[] in) {
        long[] d = in[0].shape();
        int ax = axis(axisAttr, d.length);
        long[] y = outputShapes(new long[][] {d, indices.shape()})[0];
        int n = HostTensor.checkedNumel(ctx.name(), y);
        long[] idx = normalized(d[ax]);
        long outer = prod(d, 0, ax), inner = prod(d, ax + 1, d.length);
        int[] src = new int[n];
        int p = 0;
        for (long o = 0; o < outer; o++)
            for (long j : idx)
                for (long i = 0; i < inner; i++) src[p++] = (int) ((o * d[ax] + j) * inner + i);
        return new HostTensor[] {in[0].gather(src, y)};
    }
}
