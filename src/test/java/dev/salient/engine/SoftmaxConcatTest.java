package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Softmax forward/backward and concat/sliceAxis. */
class SoftmaxConcatTest {
    static final Backend B = Engine.cpu();

    static float[] softmax(float[] x, int outer, int dim, int inner) {
        try (Tensor tx = B.upload(x, outer, dim, inner); Tensor ty = B.allocate(outer, dim, inner)) {
            B.softmaxForward(tx, ty, outer, dim, inner);
            return ty.toArray();
        }
    }

    @Test
    void softmaxForwardIsStableAndMatchesReference() {
        int[][] views = {{1, 10, 1}, {4, 7, 1}, {2, 5, 3}, {3, 4, 130}, {64, 1000, 1}, {2, 1, 5}};
        for (int[] v : views) {
            int outer = v[0], dim = v[1], inner = v[2];
            float[] x = Parity.random(new java.util.Random(1), outer * dim * inner, -30f, 30f);
            x[0] = 1000f; // would overflow without max subtraction
            double[] ref = new double[x.length];
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++) {
                    double mx = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int d = 0; d < dim; d++) mx = Math.max(mx, x[(o * dim + d) * inner + i]);
                    for (int d = 0; d < dim; d++) sum += Math.exp(x[(o * dim + d) * inner + i] - mx);
                    for (int d = 0; d < dim; d++)
                        ref[(o * dim + d) * inner + i] = Math.exp(x[(o * dim + d) * inner + i] - mx) / sum;
                }
            Parity.assertClose("softmax " + java.util.Arrays.toString(v), softmax(x, outer, dim, inner), ref, 1e-7,
                    1e-5);
        }
    }

    @Test
    void softmaxBackwardMatchesFiniteDifferences() {
        int[][] views = {{2, 6, 1}, {2, 5, 3}, {1, 4, 70}};
        for (int[] v : views) {
            int outer = v[0], dim = v[1], inner = v[2], n = outer * dim * inner;
            float[] x = Parity.random(2, n), dy = Parity.random(3, n);
            float[] y = softmax(x, outer, dim, inner);
            float[] dx;
            try (Tensor ty = B.upload(y, outer, dim, inner); Tensor tdy = B.upload(dy, outer, dim, inner);
                    Tensor tdx = B.allocate(outer, dim, inner)) {
                B.softmaxBackward(ty, tdy, tdx, outer, dim, inner);
                dx = tdx.toArray();
            }
            float eps = 1e-3f;
            for (int i = 0; i < n; i += Math.max(1, n / 17)) {
                float[] xp = x.clone(), xm = x.clone();
                xp[i] += eps;
                xm[i] -= eps;
                double fd = (Parity.dot(softmax(xp, outer, dim, inner), dy) - Parity.dot(softmax(xm, outer, dim, inner), dy))
                        / (2 * eps);
                Parity.assertClose("softmax fd dx[" + i + "] " + java.util.Arrays.toString(v), dx[i], fd, 1e-3, 1e-2);
            }
        }
    }

    @Test
    void concatThenSliceRoundTrips() {
        // the second base shape has runs past 65536 floats at batch 1, which are copied in pieces
        for (long[] base : new long[][] {{2, 3, 4, 5}, {1, 3, 151, 157}})
            for (int axis : new int[] {0, 1, 2, 3, -1}) roundTrip(base, axis);
    }

    private static void roundTrip(long[] base, int axis) {
        long[] lens = {3, 1, 6};
        {
            int ax = axis < 0 ? axis + 4 : axis;
            long[][] parts = new long[3][];
            long total = 0;
            for (int i = 0; i < 3; i++) {
                parts[i] = base.clone();
                parts[i][ax] = lens[i];
                total += parts[i][ax];
            }
            long[] ys = base.clone();
            ys[ax] = total;
            float[][] data = new float[3][];
            Tensor[] ts = new Tensor[3];
            for (int i = 0; i < 3; i++) {
                data[i] = Parity.random(10 + i, (int) Shapes.numel(parts[i]));
                ts[i] = B.upload(data[i], parts[i]);
            }
            try (Tensor ty = B.allocate(ys)) {
                B.concat(List.of(ts), axis, ty);
                float[] y = ty.toArray();
                // reference: index arithmetic
                int outer = 1, inner = 1;
                for (int d = 0; d < ax; d++) outer *= ys[d];
                for (int d = ax + 1; d < 4; d++) inner *= ys[d];
                double[] ref = new double[y.length];
                long off = 0;
                for (int i = 0; i < 3; i++) {
                    int len = (int) parts[i][ax];
                    for (int o = 0; o < outer; o++)
                        for (int j = 0; j < len; j++)
                            for (int t = 0; t < inner; t++)
                                ref[(int) ((o * total + off + j) * inner + t)] = data[i][(o * len + j) * inner + t];
                    off += len;
                }
                Parity.assertClose("concat axis " + axis, y, ref, 0, 0, ys);
                off = 0;
                for (int i = 0; i < 3; i++) {
                    try (Tensor back = B.allocate(parts[i])) {
                        B.sliceAxis(ty, axis, off, back);
                        Parity.assertClose("slice " + i + " axis " + axis, back.toArray(), data[i], 0, 0);
                    }
                    off += parts[i][ax];
                }
            } finally {
                for (Tensor t : ts) t.close();
            }
        }
    }

    @Test
    void concatAndSliceRejectBadShapes() {
        try (Tensor a = B.zeros(2, 3); Tensor b = B.zeros(2, 4); Tensor y = B.zeros(2, 8); Tensor z = B.zeros(3, 3)) {
            SalientException e = assertThrows(SalientException.class, () -> B.concat(List.of(a, b), 1, y));
            assertTrue(e.getMessage().contains("sum to 7"), e.getMessage());
            e = assertThrows(SalientException.class, () -> B.concat(List.of(a, z), 1, y));
            assertTrue(e.getMessage().contains("differ outside axis"), e.getMessage());
            e = assertThrows(SalientException.class, () -> B.sliceAxis(y, 1, 6, a));
            assertTrue(e.getMessage().contains("outside axis"), e.getMessage());
            e = assertThrows(SalientException.class, () -> B.sliceAxis(y, 2, 0, a));
            assertTrue(e.getMessage().contains("axis 2 out of range"), e.getMessage());
            e = assertThrows(SalientException.class, () -> B.softmaxForward(y, y, 2, 3, 3));
            assertTrue(e.getMessage().contains("does not cover"), e.getMessage());
        }
    }
}
