package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.model.HostTensor;
import java.util.Arrays;

/**
 * Pad in constant mode with non-negative pads (attributes before opset 11,
 * constant inputs pads/constant_value/axes from 11). PyTorch writes one before
 * AveragePool; an all-zero Pad is removed at load. At run time the output is
 * filled with the value and the input copied in row by row.
 */
public final class PadOp extends AbstractOp {
    private final long[] pads; // null: resolved per rank from axes
    private final long[] axes;
    private final float value;

    PadOp(OpContext ctx) {
        super(ctx);
        String mode = ctx.attrs().getString("mode", "constant");
        if (!mode.equals("constant")) throw error("mode '" + mode + "' is not supported (constant only)");
        if (ctx.opset() < 11) {
            pads = ctx.attrs().getInts(ctx.opset() < 2 ? "paddings" : "pads");
            value = ctx.attrs().getFloat("value", 0f);
            axes = null;
        } else {
            pads = ctx.requireConst(1, "pads").longs();
            HostTensor v = ctx.hasInput(2) ? ctx.requireConst(2, "constant_value") : null;
            value = v == null ? 0f : (float) v.get(0);
            axes = ctx.hasInput(3) ? ctx.requireConst(3, "axes").longs() : null;
        }
        if (pads == null) throw error("missing pads");
        for (long p : pads) if (p < 0) throw error("negative pads " + str(pads) + " (cropping) are not supported");
    }

    /** True when the node pads nothing (removable at load); needs its pads to be constant. */
    public static boolean isNoOp(OpContext ctx) {
        PadOp p = new PadOp(ctx);
        for (long v : p.pads) if (v != 0) return false;
        return true;
    }

    /**
     * For a zero-valued Pad over all axes that pads only the spatial axes (not
     * N or C): its pads in ONNX order for those axes ([begin..., end...]), to
     * merge into a following Conv or AveragePool; otherwise null.
     */
    public static long[] spatialZeroPads(OpContext ctx) {
        PadOp p = new PadOp(ctx);
        if (p.value != 0f || p.axes != null || p.pads.length < 6 || p.pads.length % 2 != 0) return null;
        int r = p.pads.length / 2;
        if (p.pads[0] != 0 || p.pads[1] != 0 || p.pads[r] != 0 || p.pads[r + 1] != 0) return null;
        long[] out = new long[2 * (r - 2)];
        for (int i = 0; i < r - 2; i++) {
            out[i] = p.pads[2 + i];
            out[i + r - 2] = p.pads[r + 2 + i];
        }
        return out;
    }

    @Override
    public boolean isParamInput(int i) {
        return i > 0;
    }

    /** {begin[], end[]} over all axes of a rank-r input. */
    private long[][] perAxis(int r) {
        long[] begin = new long[r], end = new long[r];
        int na = axes == null ? r : axes.length;
        if (pads.length != 2 * na) throw error("pads " + str(pads) + " do not match " + na + " axes");
        for (int i = 0; i < na; i++) {
            int ax = axes == null ? i : axis(axes[i], r);
            begin[ax] = pads[i];
            end[ax] = pads[i + na];
        }
        return new long[][] {begin, end};
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        long[] x = in[0];
        long[][] p = perAxis(x.length);
        long[] y = x.clone();
        for (int i = 0; i < y.length; i++) y[i] += p[0][i] + p[1][i];
        return new long[][] {y};
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        long[] x = in[0].shape(), y = out[0].shape();
        long[][] p = perAxis(x.length);
        b.fill(out[0], value);
        if (in[0].numel() == 0) return;
        int r = x.length;
        long[] ys = new long[r];
        long s = 1;
        for (int i = r - 1; i >= 0; i--) {
            ys[i] = s;
            s *= y[i];
        }
        long row = r == 0 ? 1 : x[r - 1];
        long rows = in[0].numel() / row;
        long[] pos = new long[r];
        for (long k = 0; k < rows; k++) {
            long dst = 0;
            for (int i = 0; i < r; i++) dst += (pos[i] + p[0][i]) * ys[i];
            b.copyRange(in[0], k * row, out[0], dst, row);
            for (int i = r - 2; i >= 0; i--) {
                if (++pos[i] < x[i]) break;
                pos[i] = 0;
            }
        }
    }

    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] == null) return;
        long[] x = in[0].shape();
        long[] step = new long[x.length];
        Arrays.fill(step, 1);
        CopyRuns.slice(b, dOut[0], dIn[0], out[0].shape(), perAxis(x.length)[0], step, x);
    }
}
