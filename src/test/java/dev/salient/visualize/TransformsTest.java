package dev.salient.visualize;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.io.NdArray;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The transforms' primitives against their definitions (crop/pad written out; the affine
 * resample against torch's grid_sample and its autograd adjoint), each transform's backward
 * against finite differences, and the seeded choices.
 */
class TransformsTest {
    static final Backend B = Engine.cpu();
    final Random rnd = new Random(11);

    @Test
    void cropPadIsAWindowWithFill() {
        int n = 2, c = 2, ih = 5, iw = 6, oh = 7, ow = 4;
        float[] x = ParametrisationTest.gauss(rnd, n * c * ih * iw);
        int[] off = {-2, 1, 3, -1};
        try (Tensor xt = B.upload(x, n, c, ih, iw); Tensor y = B.allocate(n, c, oh, ow)) {
            B.cropPad(xt, off, 0.5f, y);
            float[] got = y.toArray();
            for (int b = 0; b < n; b++)
                for (int ch = 0; ch < c; ch++)
                    for (int i = 0; i < oh; i++)
                        for (int j = 0; j < ow; j++) {
                            int si = i + off[2 * b], sj = j + off[2 * b + 1];
                            float want = si >= 0 && si < ih && sj >= 0 && sj < iw ? x[((b * c + ch) * ih + si) * iw + sj] : 0.5f;
                            assertEquals(want, got[((b * c + ch) * oh + i) * ow + j]);
                        }
        }
    }

    @Test
    void affineResampleMatchesTorchGridSampleAndItsAdjoint() {
        NdArray x = Fixtures.npy("resample_x"), dy = Fixtures.npy("resample_dy");
        float[] theta = Fixtures.npy("resample_theta").data();
        try (Tensor xt = x.upload(B); Tensor dyt = dy.upload(B); Tensor y = B.allocate(dy.shape());
                Tensor dx = B.allocate(x.shape())) {
            B.affineResampleForward(xt, theta, y);
            Fixtures.assertClose("grid_sample", Fixtures.npy("resample_y").data(), y.toArray(), 1e-5, 1e-5);
            B.affineResampleBackward(dyt, theta, dx);
            Fixtures.assertClose("grid_sample backward", Fixtures.npy("resample_dx").data(), dx.toArray(), 1e-5, 1e-5);
        }
    }

    @Test
    void singularMapsAndWrongCountsAreOneLineErrors() {
        try (Tensor x = B.zeros(1, 1, 4, 4); Tensor y = B.zeros(1, 1, 4, 4)) {
            SalientException e = assertThrows(SalientException.class,
                    () -> B.affineResampleBackward(y, new float[] {1, 2, 0, 2, 4, 0}, x));
            assertTrue(e.getMessage().contains("singular"), e.getMessage());
            e = assertThrows(SalientException.class, () -> B.cropPad(x, new int[] {1}, 0f, y));
            assertTrue(e.getMessage().contains("2 offsets per image"), e.getMessage());
            e = assertThrows(SalientException.class, () -> B.affineResampleForward(x, new float[5], y));
            assertFalse(e.getMessage().contains("\n"));
        }
    }

    /** L(x) = <w, T(x)>: its finite differences against the backward's dL/dx. */
    interface Op {
        void forward(Tensor x, Tensor y);

        void backward(Tensor dy, Tensor dx);
    }

    void checkFiniteDifferences(String what, long[] xs, long[] ys, Op op) {
        int nx = (int) dev.salient.engine.Shapes.numel(xs), ny = (int) dev.salient.engine.Shapes.numel(ys);
        float[] x0 = ParametrisationTest.gauss(rnd, nx), w = ParametrisationTest.gauss(rnd, ny);
        float[] grad;
        try (Tensor dy = B.upload(w, ys); Tensor dx = B.allocate(xs)) {
            op.backward(dy, dx);
            grad = dx.toArray();
        }
        double eps = 0.25; // the maps are linear: central differences are exact up to rounding
        int checked = 0;
        for (int i = 0; i < nx; i += 3) {
            double fd = (loss(op, x0, i, eps, xs, ys, w) - loss(op, x0, i, -eps, xs, ys, w)) / (2 * eps);
            assertEquals(fd, grad[i], 1e-4 * (1 + Math.abs(fd)), what + ": d/dx[" + i + "]");
            checked++;
        }
        assertTrue(checked > 10);
        double nonzero = 0;
        for (float g : grad) nonzero += g != 0 ? 1 : 0;
        assertTrue(nonzero > nx / 4, what + ": the gradient is mostly zero");
    }

    private static double loss(Op op, float[] x0, int i, double eps, long[] xs, long[] ys, float[] w) {
        float[] x = x0.clone();
        x[i] += (float) eps;
        try (Tensor t = B.upload(x, xs); Tensor y = B.allocate(ys)) {
            op.forward(t, y);
            return Fixtures.dot(y.toArray(), w);
        }
    }

    @Test
    void eachTransformsBackwardMatchesFiniteDifferences() {
        long[] xs = {2, 3, 10, 10};
        int[] pad = {-12, -12, -12, -12}, jitter = {-5, -9, -12, -7}; // pad 12; pad 12 + jitter 8 crops
        checkFiniteDifferences("pad 12", xs, new long[] {2, 3, 34, 34}, new Op() {
            public void forward(Tensor x, Tensor y) { B.cropPad(x, pad, 0.5f, y); }
            public void backward(Tensor dy, Tensor dx) { B.cropPad(dy, neg(pad), 0f, dx); }
        });
        checkFiniteDifferences("pad and jitter", xs, new long[] {2, 3, 26, 26}, new Op() {
            public void forward(Tensor x, Tensor y) { B.cropPad(x, jitter, 0.5f, y); }
            public void backward(Tensor dy, Tensor dx) { B.cropPad(dy, neg(jitter), 0f, dx); }
        });
        Transforms t = new Transforms(true, 3, 10, 10, 0, 0);
        float[] scale = new float[12], rotate = new float[12], both = new float[12], resize = new float[12];
        Transforms fixed = new Transforms(true, 3, 10, 10, 7, 7);
        for (int b = 0; b < 2; b++) {
            System.arraycopy(t.map(b == 0 ? 0.9 : 1.1, 0, 0, 0), 0, scale, 6 * b, 6);
            System.arraycopy(t.map(1, Math.toRadians(b == 0 ? -10 : 7), 0, 0), 0, rotate, 6 * b, 6);
            System.arraycopy(t.map(0.96, Math.toRadians(b == 0 ? 3 : -9), 3, 1), 0, both, 6 * b, 6);
            System.arraycopy(fixed.map(1.04, Math.toRadians(5), 2, 3), 0, resize, 6 * b, 6);
        }
        long[] mid = {2, 3, 18, 18};
        for (var e : new Object[][] {{"scale", scale, t.outShape(2)}, {"rotate", rotate, t.outShape(2)},
                {"scale, rotate and jitter 4", both, t.outShape(2)}, {"... and resize to the model's size", resize, fixed.outShape(2)}}) {
            float[] th = (float[]) e[1];
            checkFiniteDifferences((String) e[0], mid, (long[]) e[2], new Op() {
                public void forward(Tensor x, Tensor y) { B.affineResampleForward(x, th, y); }
                public void backward(Tensor dy, Tensor dx) { B.affineResampleBackward(dy, th, dx); }
            });
        }
        // the whole standard chain as the visualizer runs it
        Transforms.Step st = t.step(9, new long[] {0, 1}, 3);
        checkFiniteDifferences("standard transforms", xs, t.outShape(2), new Op() {
            public void forward(Tensor x, Tensor y) {
                try (Tensor m = B.allocate(t.midShape(2))) {
                    t.forward(B, x, st, m, y);
                }
            }

            public void backward(Tensor dy, Tensor dx) {
                try (Tensor m = B.allocate(t.midShape(2))) {
                    t.backward(B, dy, st, m, dx);
                }
            }
        });
    }

    static int[] neg(int[] a) {
        int[] r = a.clone();
        for (int i = 0; i < r.length; i++) r[i] = -r[i];
        return r;
    }

    @Test
    void choicesAreSeededPerObjectiveAndStepAndCoverLucidsSets() {
        assertEquals(Transforms.draw(3, 7, 11), Transforms.draw(3, 7, 11));
        assertNotEquals(Transforms.draw(3, 7, 11), Transforms.draw(3, 8, 11));
        Set<Double> scales = new HashSet<>();
        Set<Integer> angles = new HashSet<>(), j1 = new HashSet<>(), j2 = new HashSet<>();
        for (int s = 0; s < 2000; s++) {
            Transforms.Draw d = Transforms.draw(1, 0, s);
            scales.add(d.scale());
            angles.add(d.degrees());
            j1.add(d.jx1());
            j1.add(d.jy1());
            j2.add(d.jx2());
        }
        assertEquals(11, scales.size());
        assertTrue(scales.contains(0.9) && scales.contains(1.1));
        assertEquals(21, angles.size());
        assertEquals(Set.of(0, 1, 2, 3, 4, 5, 6, 7), j1);
        assertEquals(Set.of(0, 1, 2, 3), j2);
        Transforms t = new Transforms(true, 3, 128, 128, 0, 0);
        assertArrayEquals(new long[] {1, 3, 140, 140}, t.outShape(1), "Lucid's 128 -> 128+24-8-4 at scale 1");
    }
}
