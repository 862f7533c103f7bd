package dev.salient.model.ops;

import dev.salient.model.Attributes;

/**
 * The spatial attributes shared by Conv and the pools (kernel_shape, strides,
 * dilations, pads, auto_pad, ceil_mode), resolved for a concrete input into
 * per-axis pads and output sizes. 1-D inputs are seen as 2-D with H = 1.
 */
final class Spatial {
    final int[] kernel, stride, dilation, padBegin, padEnd, out;

    private Spatial(int nd) {
        kernel = new int[nd];
        stride = new int[nd];
        dilation = new int[nd];
        padBegin = new int[nd];
        padEnd = new int[nd];
        out = new int[nd];
    }

    /**
     * @param in spatial input sizes; kernel spatial kernel sizes
     * @param ceil floor or ceil output rule (pools)
     */
    static Spatial resolve(AbstractOp op, Attributes a, long[] in, long[] kernel, boolean ceil, boolean dilationsAllowed) {
        int nd = in.length;
        Spatial s = new Spatial(nd);
        long[] strides = a.getInts("strides"), dil = dilationsAllowed ? a.getInts("dilations") : null, pads = a.getInts("pads");
        String autoPad = a.getString("auto_pad", "NOTSET");
        if (strides != null && strides.length != nd) throw op.error("strides " + AbstractOp.str(strides) + " do not match " + nd + " spatial dims");
        if (dil != null && dil.length != nd) throw op.error("dilations " + AbstractOp.str(dil) + " do not match " + nd + " spatial dims");
        if (pads != null && pads.length != 2 * nd) throw op.error("pads " + AbstractOp.str(pads) + " do not match " + nd + " spatial dims");
        for (int i = 0; i < nd; i++) {
            s.kernel[i] = toInt(op, kernel[i], "kernel");
            s.stride[i] = strides == null ? 1 : toInt(op, strides[i], "stride");
            s.dilation[i] = dil == null ? 1 : toInt(op, dil[i], "dilation");
            if (s.kernel[i] <= 0 || s.stride[i] <= 0 || s.dilation[i] <= 0)
                throw op.error("kernel, strides and dilations must be positive");
            long x = in[i];
            long eff = (long) (s.kernel[i] - 1) * s.dilation[i] + 1;
            long o;
            switch (autoPad) {
                case "NOTSET" -> {
                    s.padBegin[i] = pads == null ? 0 : toInt(op, pads[i], "pad");
                    s.padEnd[i] = pads == null ? 0 : toInt(op, pads[i + nd], "pad");
                    if (s.padBegin[i] < 0 || s.padEnd[i] < 0) throw op.error("negative pads " + AbstractOp.str(pads));
                    long span = x + s.padBegin[i] + s.padEnd[i] - eff;
                    if (span < 0) throw op.error("kernel " + eff + " larger than padded input " + (x + s.padBegin[i] + s.padEnd[i]));
                    if (ceil) {
                        o = Math.floorDiv(span + s.stride[i] - 1, s.stride[i]) + 1;
                        if ((o - 1) * s.stride[i] >= x + s.padBegin[i]) o--; // last window must start inside (PyTorch, ONNX)
                    } else {
                        o = span / s.stride[i] + 1;
                    }
                }
                case "VALID" -> {
                    if (x < eff) throw op.error("kernel " + eff + " larger than input " + x);
                    o = (x - eff) / s.stride[i] + 1;
                }
                case "SAME_UPPER", "SAME_LOWER" -> {
                    o = (x + s.stride[i] - 1) / s.stride[i];
                    long total = Math.max(0, (o - 1) * s.stride[i] + eff - x);
                    long small = total / 2, big = total - small;
                    boolean upper = autoPad.equals("SAME_UPPER");
                    s.padBegin[i] = (int) (upper ? small : big);
                    s.padEnd[i] = (int) (upper ? big : small);
                }
                default -> throw op.error("unknown auto_pad '" + autoPad + "'");
            }
            if (o <= 0) throw op.error("empty output for input size " + x);
            s.out[i] = toInt(op, o, "output size");
        }
        return s;
    }

    static int toInt(AbstractOp op, long v, String what) {
        if (v > Integer.MAX_VALUE || v < Integer.MIN_VALUE) throw op.error(what + " " + v + " out of range");
        return (int) v;
    }
}
