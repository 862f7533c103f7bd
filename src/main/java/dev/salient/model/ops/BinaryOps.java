package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.model.HostTensor;

/**
 * Add, Sub, Mul, Div with numpy broadcasting (opset 7+), or the legacy
 * {@code broadcast}/{@code axis} attributes of opset 6 and below, where B is
 * aligned to A starting at {@code axis}.
 */
final class BinaryOps extends AbstractOp {
    private final BinaryOp op;
    private final boolean legacy;
    private final long legacyAxis;

    BinaryOps(OpContext ctx) {
        super(ctx);
        op = switch (ctx.node().opType()) {
            case "Add" -> BinaryOp.ADD;
            case "Sub" -> BinaryOp.SUB;
            case "Mul" -> BinaryOp.MUL;
            case "Div" -> BinaryOp.DIV;
            default -> throw error("not a binary op");
        };
        legacy = ctx.opset() < 7;
        legacyAxis = ctx.attrs().getInt("axis", Long.MIN_VALUE);
        if (legacy && ctx.attrs().getInt("broadcast", 0) == 0 && ctx.attrs().has("axis"))
            throw error("attribute axis needs broadcast=1");
    }

    /** B's shape as seen by numpy broadcasting against A (legacy axis alignment applied). */
    private long[] alignedB(long[] a, long[] bShape) {
        if (!legacy || legacyAxis == Long.MIN_VALUE || ctx.attrs().getInt("broadcast", 0) == 0) return bShape;
        int ax = axis(legacyAxis, a.length);
        if (ax + bShape.length > a.length)
            throw error("legacy broadcast of " + str(bShape) + " at axis " + legacyAxis + " does not fit " + str(a));
        long[] s = new long[a.length - ax];
        java.util.Arrays.fill(s, 1);
        System.arraycopy(bShape, 0, s, 0, bShape.length);
        return s;
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        long[] bs = alignedB(in[0], in[1]);
        if (legacy && ctx.attrs().getInt("broadcast", 0) == 0 && !java.util.Arrays.equals(in[0], in[1]))
            throw error("shapes " + str(in[0]) + " and " + str(in[1]) + " differ and broadcast=0");
        try {
            return new long[][] {Shapes.broadcast(in[0], bs)};
        } catch (RuntimeException e) {
            throw error(e.getMessage());
        }
    }

    @Override
    public int inPlaceInput(long[][] inputShapes, long[] outputShape) {
        for (int i = 0; i < 2; i++) if (java.util.Arrays.equals(inputShapes[i], outputShape)) return i;
        return -1;
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        b.binary(op, in[0], TensorViews.view(in[1], alignedB(in[0].shape(), in[1].shape())), out[0]);
    }

    @Override
    public HostTensor[] fold(HostTensor[] in) {
        long[] as = in[0].shape(), bs = alignedB(as, in[1].shape());
        long[] ys = outputShapes(new long[][] {as, in[1].shape()})[0];
        int n = HostTensor.checkedNumel(ctx.name(), ys);
        int[] ia = broadcastIndex(as, ys), ib = broadcastIndex(bs, ys);
        if (!in[0].isFloat() && !in[1].isFloat()) {
            long[] a = in[0].longs(), c = in[1].longs(), y = new long[n];
            for (int i = 0; i < n; i++) {
                long x = a[ia[i]], z = c[ib[i]];
                y[i] = switch (op) {
                    case ADD -> x + z;
                    case SUB -> x - z;
                    case MUL -> x * z;
                    case DIV -> {
                        if (z == 0) throw error("integer division by zero");
                        yield x / z;
                    }
                };
            }
            return new HostTensor[] {HostTensor.ofLongs(y, ys)};
        }
        float[] a = in[0].floats(), c = in[1].floats(), y = new float[n];
        for (int i = 0; i < n; i++) {
            float x = a[ia[i]], z = c[ib[i]];
            y[i] = switch (op) {
                case ADD -> x + z;
                case SUB -> x - z;
                case MUL -> x * z;
                case DIV -> x / z;
            };
        }
        return new HostTensor[] {HostTensor.ofFloats(y, ys)};
    }

    /** For each element of the output shape, the flat index of the broadcast source element. */
    static int[] broadcastIndex(long[] src, long[] out) {
        int n = (int) Shapes.numel(out), r = out.length, off = r - src.length;
        long[] stride = new long[r];
        long s = 1;
        for (int i = r - 1; i >= 0; i--) {
            long d = i >= off ? src[i - off] : 1;
            stride[i] = d == 1 ? 0 : s;
            s *= d;
        }
        int[] idx = new int[n];
        long[] pos = new long[r];
        for (int i = 0; i < n; i++) {
            long f = 0;
            for (int k = 0; k < r; k++) f += pos[k] * stride[k];
            idx[i] = (int) f;
            for (int k = r - 1; k >= 0; k--) {
                if (++pos[k] < out[k]) break;
                pos[k] = 0;
            }
        }
        return idx;
    }

    /** A sum's gradient reads no forward value (numpy broadcasting: each dIn has its input's shape). */
    private boolean sum() {
        return (op == BinaryOp.ADD || op == BinaryOp.SUB) && !legacy;
    }

    @Override
    public boolean backwardReadsInputs() {
        return !sum();
    }

    @Override
    public boolean backwardReadsOutputs() {
        return op == BinaryOp.DIV;
    }

    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        Tensor dy = dOut[0];
        // dIn[1] has b's shape; only the legacy axis form views it aligned to a (which reads a's shape)
        Tensor dbv = dIn[1] == null ? null : legacy ? TensorViews.view(dIn[1], alignedB(in[0].shape(), in[1].shape())) : dIn[1];
        Tensor bv = op == BinaryOp.MUL || op == BinaryOp.DIV ? TensorViews.view(in[1], alignedB(in[0].shape(), in[1].shape())) : null;
        switch (op) {
            case ADD, SUB -> {
                if (dIn[0] != null) b.reduceSumTo(dy, dIn[0]);
                if (dbv != null) {
                    b.reduceSumTo(dy, dbv);
                    if (op == BinaryOp.SUB) b.axpby(0f, dbv, -1f, dbv);
                }
            }
            case MUL -> {
                try (Tensor t = b.allocate(dy.shape())) {
                    if (dIn[0] != null) {
                        b.binary(BinaryOp.MUL, dy, bv, t);
                        b.reduceSumTo(t, dIn[0]);
                    }
                    if (dbv != null) {
                        b.binary(BinaryOp.MUL, dy, in[0], t);
                        b.reduceSumTo(t, dbv);
                    }
                }
            }
            case DIV -> {
                try (Tensor t = b.allocate(dy.shape())) {
                    b.binary(BinaryOp.DIV, dy, bv, t); // dy / b
                    if (dIn[0] != null) b.reduceSumTo(t, dIn[0]);
                    if (dbv != null) { // d/db (a/b) = -(a/b)/b = -y/b
                        b.binary(BinaryOp.MUL, t, out[0], t);
                        b.reduceSumTo(t, dbv);
                        b.axpby(0f, dbv, -1f, dbv);
                    }
                }
            }
        }
    }
}
