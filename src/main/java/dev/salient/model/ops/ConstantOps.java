package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.model.HostTensor;

/**
 * Ops whose result is known before any data flows: Constant, Shape (from the
 * planned input shape, start/end of opset 15), ConstantOfShape and Range. They
 * fold at load or plan time; ConstantOfShape of a float value may also run as
 * a fill when its shape is known but the op was kept.
 */
final class ConstantOps extends AbstractOp {
    private final String type;

    ConstantOps(OpContext ctx) {
        super(ctx);
        type = ctx.node().opType();
    }

    @Override
    public boolean isParamInput(int i) {
        return true;
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        return switch (type) {
            case "Shape" -> new long[][] {foldShapes(in)[0].shape()};
            case "ConstantOfShape" -> new long[][] {shapeOf(ctx.requireConst(0, "shape"))};
            default -> new long[][] {fold(new HostTensor[in.length])[0].shape()};
        };
    }

    private long[] shapeOf(HostTensor t) {
        long[] s = t.longs().clone();
        for (long d : s) if (d < 0) throw error("negative dimension in shape " + str(s));
        HostTensor.checkedNumel(ctx.name(), s);
        return s;
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        if (!type.equals("ConstantOfShape")) throw error("must fold at plan time");
        b.fill(out[0], value() == null ? 0f : (float) value().get(0));
    }

    private HostTensor value() {
        HostTensor v = ctx.attrs().getTensor("value");
        if (v != null && v.numel() != 1) throw error("value must hold one element");
        return v;
    }

    @Override
    public HostTensor[] foldShapes(long[][] in) {
        if (!type.equals("Shape")) return null;
        long[] x = in[0];
        int r = x.length;
        long start = ctx.attrs().getInt("start", 0), end = ctx.attrs().getInt("end", r);
        if (start < 0) start += r;
        if (end < 0) end += r;
        start = Math.max(0, Math.min(start, r));
        end = Math.max(start, Math.min(end, r));
        long[] v = java.util.Arrays.copyOfRange(x, (int) start, (int) end);
        return new HostTensor[] {HostTensor.ofLongs(v, v.length)};
    }

    @Override
    public HostTensor[] fold(HostTensor[] in) {
        switch (type) {
            case "Shape":
                return foldShapes(new long[][] {in[0].shape()});
            case "Constant":
                return new HostTensor[] {constant()};
            case "ConstantOfShape": {
                long[] s = shapeOf(ctx.requireConst(0, "shape"));
                int n = HostTensor.checkedNumel(ctx.name(), s);
                HostTensor v = value();
                if (v == null || v.isFloat()) {
                    float[] f = new float[n];
                    java.util.Arrays.fill(f, v == null ? 0f : (float) v.get(0));
                    return new HostTensor[] {HostTensor.ofFloats(f, s)};
                }
                long[] l = new long[n];
                java.util.Arrays.fill(l, v.longs()[0]);
                return new HostTensor[] {HostTensor.ofLongs(l, s)};
            }
            case "Range": {
                HostTensor s = ctx.requireConst(0, "start"), e = ctx.requireConst(1, "limit"), d = ctx.requireConst(2, "delta");
                if (s.isFloat() || e.isFloat() || d.isFloat()) {
                    double a = s.get(0), lim = e.get(0), del = d.get(0);
                    if (del == 0) throw error("delta is 0");
                    long n = Math.max(0, (long) Math.ceil((lim - a) / del));
                    int cnt = HostTensor.checkedNumel(ctx.name(), n);
                    float[] f = new float[cnt];
                    for (int i = 0; i < cnt; i++) f[i] = (float) (a + i * del);
                    return new HostTensor[] {HostTensor.ofFloats(f, cnt)};
                }
                long a = s.longs()[0], lim = e.longs()[0], del = d.longs()[0];
                if (del == 0) throw error("delta is 0");
                long n = Math.max(0, (long) Math.ceil((double) (lim - a) / del));
                int cnt = HostTensor.checkedNumel(ctx.name(), n);
                long[] l = new long[cnt];
                for (int i = 0; i < cnt; i++) l[i] = a + i * del;
                return new HostTensor[] {HostTensor.ofLongs(l, cnt)};
            }
            default:
                throw error("cannot fold");
        }
    }

    private HostTensor constant() {
        var a = ctx.attrs();
        if (a.has("value")) return a.getTensor("value");
        if (a.has("value_float")) return HostTensor.ofFloats(new float[] {a.getFloat("value_float", 0)});
        if (a.has("value_floats")) {
            float[] f = a.getFloats("value_floats");
            return HostTensor.ofFloats(f, f.length);
        }
        if (a.has("value_int")) return HostTensor.ofLongs(new long[] {a.getInt("value_int", 0)});
        if (a.has("value_ints")) {
            long[] l = a.getInts("value_ints");
            return HostTensor.ofLongs(l, l.length);
        }
        throw error("no supported value attribute (value, value_float(s), value_int(s)); got " + a.names());
    }
}
