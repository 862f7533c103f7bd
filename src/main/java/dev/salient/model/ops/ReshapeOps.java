package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.model.HostTensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Ops that change only the shape, never the data: Reshape (0 and -1,
 * allowzero), Flatten, Squeeze, Unsqueeze (axes as attribute before opset 13,
 * as input from 13), and Identity/Dropout (inference) when they were not
 * removed at load. At run time they copy; on constants they fold.
 */
final class ReshapeOps extends AbstractOp {
    private final String type;
    private final long[] shapeParam; // Reshape target or Squeeze/Unsqueeze axes; null when absent
    private final boolean paramInput;

    ReshapeOps(OpContext ctx) {
        super(ctx);
        type = ctx.node().opType();
        var a = ctx.attrs();
        switch (type) {
            case "Reshape" -> {
                paramInput = ctx.opset() >= 5;
                shapeParam = paramInput ? ctx.requireConst(1, "shape").longs() : a.getInts("shape");
                if (shapeParam == null) throw error("missing attribute shape");
            }
            case "Squeeze", "Unsqueeze" -> {
                paramInput = ctx.opset() >= 13;
                shapeParam = paramInput ? (ctx.hasInput(1) ? ctx.requireConst(1, "axes").longs() : null) : a.getInts("axes");
                if (type.equals("Unsqueeze") && shapeParam == null) throw error("missing axes");
            }
            case "Dropout" -> {
                paramInput = true;
                if (ctx.hasInput(2) && ctx.requireConst(2, "training_mode").longs()[0] != 0)
                    throw error("training_mode=true is not supported (inference only)");
                if (ctx.opset() < 7 && a.getInt("is_test", 1) == 0 && ctx.opset() >= 6)
                    throw error("is_test=0 is not supported (inference only)");
                shapeParam = null;
            }
            default -> {
                paramInput = false;
                shapeParam = null;
            }
        }
    }

    @Override
    public boolean isParamInput(int i) {
        return paramInput && i > 0;
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        long[] x = in[0];
        long[] y = switch (type) {
            case "Reshape" -> reshape(x);
            case "Flatten" -> {
                int ax = (int) ctx.attrs().getInt("axis", 1);
                if (ax < 0) ax += x.length;
                if (ax < 0 || ax > x.length) throw error("axis " + ctx.attrs().getInt("axis", 1) + " out of range for rank " + x.length);
                yield new long[] {prod(x, 0, ax), prod(x, ax, x.length)};
            }
            case "Squeeze" -> squeeze(x);
            case "Unsqueeze" -> unsqueeze(x);
            default -> x.clone();
        };
        return new long[][] {y};
    }

    private long[] reshape(long[] x) {
        boolean allowZero = ctx.attrs().getInt("allowzero", 0) != 0;
        long[] y = shapeParam.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < y.length; i++) {
            if (y[i] == 0 && !allowZero) {
                if (i >= x.length) throw error("shape " + str(shapeParam) + " copies dim " + i + " of " + str(x));
                y[i] = x[i];
            }
            if (y[i] == -1) {
                if (infer >= 0) throw error("shape " + str(shapeParam) + " has more than one -1");
                infer = i;
            } else if (y[i] < 0) {
                throw error("invalid dimension " + y[i] + " in shape " + str(shapeParam));
            } else {
                known = Math.multiplyExact(known, y[i]);
            }
        }
        long n = Shapes.numel(x);
        if (infer >= 0) {
            if (known == 0 || n % known != 0) throw error("cannot reshape " + str(x) + " to " + str(shapeParam));
            y[infer] = n / known;
        }
        if (Shapes.numel(y) != n) throw error("cannot reshape " + str(x) + " to " + str(shapeParam));
        return y;
    }

    private long[] squeeze(long[] x) {
        List<Long> out = new ArrayList<>();
        boolean[] drop = new boolean[x.length];
        if (shapeParam == null) {
            for (int i = 0; i < x.length; i++) drop[i] = x[i] == 1;
        } else {
            for (long a : shapeParam) {
                int ax = axis(a, x.length);
                if (x[ax] != 1) throw error("cannot squeeze axis " + a + " of size " + x[ax] + " in " + str(x));
                drop[ax] = true;
            }
        }
        for (int i = 0; i < x.length; i++) if (!drop[i]) out.add(x[i]);
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    private long[] unsqueeze(long[] x) {
        int r = x.length + shapeParam.length;
        boolean[] ins = new boolean[r];
        for (long a : shapeParam) {
            int ax = axis(a, r);
            if (ins[ax]) throw error("duplicate axis " + a);
            ins[ax] = true;
        }
        long[] y = new long[r];
        int j = 0;
        for (int i = 0; i < r; i++) y[i] = ins[i] ? 1 : x[j++];
        return y;
    }

    @Override
    public int inPlaceInput(long[][] inputShapes, long[] outputShape) {
        return 0;
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        if (in[0].data().address() == out[0].data().address()) return; // planned in place: nothing to move
        b.copy(in[0], out[0]);
    }

    @Override
    public HostTensor[] fold(HostTensor[] in) {
        long[][] shapes = new long[in.length][];
        for (int i = 0; i < in.length; i++) shapes[i] = in[i] == null ? null : in[i].shape();
        return new HostTensor[] {in[0].reshape(outputShapes(shapes)[0])};
    }

    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] != null) b.copy(dOut[0], dIn[0]);
    }

    @Override
    public String toString() {
        return type + (shapeParam == null ? "" : Arrays.toString(shapeParam));
    }
}
