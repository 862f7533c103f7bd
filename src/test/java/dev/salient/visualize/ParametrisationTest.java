package dev.salient.visualize;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.io.NdArray;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * The Fourier parametrisation and the colour step against a numpy re-implementation of
 * Lucent's fft_image and to_valid_rgb (fixtures from scripts/make_featviz_fixtures.py),
 * elementwise, and their backward passes as the adjoints of their forward passes.
 */
class ParametrisationTest {
    static final Backend B = Engine.cpu();

    /** Lucent's spectrum (N,C,H,K',2) into this parametrisation's layout (N,C,H,2,K), K = W/2+1 (K' = K+1 for odd W). */
    static float[] toLayout(NdArray s, int w) {
        int n = (int) s.dim(0), c = (int) s.dim(1), h = (int) s.dim(2), kp = (int) s.dim(3), k = w / 2 + 1;
        float[] out = new float[n * c * h * 2 * k];
        for (int p = 0; p < n * c; p++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < k; x++)
                    for (int ri = 0; ri < 2; ri++)
                        out[((p * h + y) * 2 + ri) * k + x] = s.data()[((p * h + y) * kp + x) * 2 + ri];
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"6x6", "5x7", "16x16"})
    void fftImageAndValidRgbMatchLucent(String size) {
        int h = Integer.parseInt(size.split("x")[0]), w = Integer.parseInt(size.split("x")[1]);
        NdArray spectrum = Fixtures.npy("fft_" + size + "_spectrum");
        float[] image = Fixtures.npy("fft_" + size + "_image").data(), rgb = Fixtures.npy("fft_" + size + "_rgb").data();
        int n = (int) spectrum.dim(0), c = (int) spectrum.dim(1);
        try (FourierImage f = new FourierImage(B, n, c, h, w); ValidRgb v = new ValidRgb(B, c, true);
                Tensor x = B.allocate(n, c, h, w); Tensor pre = B.allocate(n, c, h, w); Tensor y = B.allocate(n, c, h, w);
                Tensor up = B.upload(toLayout(spectrum, w), f.values().shape())) {
            B.copy(up, f.values());
            f.forward(x);
            double maxAbs = 0;
            for (float a : image) maxAbs = Math.max(maxAbs, Math.abs(a));
            // float32 products against numpy's float64 FFT: errors of a few ulps of the largest value
            Fixtures.assertClose("fft_image " + size, image, x.toArray(), 1e-6 * maxAbs, 1e-4);
            v.forward(x, pre, y);
            Fixtures.assertClose("to_valid_rgb " + size, rgb, y.toArray(), 1e-6, 1e-5);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"6x6", "5x7", "9x4", "8x8", "16x5"}) // H a power of two: the engine's FFT along H
    void fftBackwardIsTheAdjoint(String size) {
        int h = Integer.parseInt(size.split("x")[0]), w = Integer.parseInt(size.split("x")[1]);
        Random r = new Random(3);
        try (FourierImage f = new FourierImage(B, 2, 3, h, w); Tensor x = B.allocate(2, 3, h, w);
                Tensor dy = B.upload(gauss(r, 2 * 3 * h * w), 2, 3, h, w); Tensor dp = B.allocate(f.values().shape())) {
            float[] p = gauss(r, (int) f.values().numel());
            try (Tensor up = B.upload(p, f.values().shape())) {
                B.copy(up, f.values());
            }
            f.forward(x);
            f.backward(dy, dp);
            double lhs = Fixtures.dot(x.toArray(), dy.toArray()), rhs = Fixtures.dot(p, dp.toArray());
            assertEquals(lhs, rhs, 1e-5 * (Math.abs(lhs) + 1), "<F p, dy> = <p, Fᵀ dy>");
        }
    }

    @Test
    void validRgbBackwardMatchesFiniteDifferences() {
        Random r = new Random(5);
        int n = 2, c = 3, h = 3, w = 4, len = n * c * h * w;
        float[] x0 = gauss(r, len), wts = gauss(r, len);
        try (ValidRgb v = new ValidRgb(B, c, true); Tensor x = B.upload(x0, n, c, h, w); Tensor pre = B.allocate(n, c, h, w);
                Tensor y = B.allocate(n, c, h, w); Tensor dy = B.upload(wts, n, c, h, w); Tensor dx = B.allocate(n, c, h, w)) {
            v.forward(x, pre, y);
            v.backward(pre, dy, dx);
            float[] g = dx.toArray();
            double eps = 1e-2;
            for (int i = 0; i < len; i += 5) {
                double fd = (loss(v, x0, i, eps, wts) - loss(v, x0, i, -eps, wts)) / (2 * eps);
                assertEquals(fd, g[i], 2e-4, "d/dx[" + i + "]");
            }
        }
    }

    private static double loss(ValidRgb v, float[] x0, int i, double eps, float[] wts) {
        float[] x = x0.clone();
        x[i] += (float) eps;
        try (Tensor t = B.upload(x, 2, 3, 3, 4); Tensor pre = B.allocate(2, 3, 3, 4); Tensor y = B.allocate(2, 3, 3, 4)) {
            v.forward(t, pre, y);
            return Fixtures.dot(y.toArray(), wts);
        }
    }

    @Test
    void decorrelationMatrixIsLucidsNormalisedByItsLargestColumnNorm() {
        float[] m = ValidRgb.normalised();
        double colNorm0 = Math.sqrt(0.26 * 0.26 + 0.27 * 0.27 + 0.27 * 0.27);
        assertEquals(0.26 / colNorm0, m[0], 1e-6);
        assertEquals(-0.05 / colNorm0, m[5], 1e-6);
        try (ValidRgb gray = new ValidRgb(B, 1, true)) {
            assertFalse(gray.decorrelates(), "one channel: no colours to decorrelate");
        }
    }

    @Test
    void initialValuesDependOnTheObjectiveIndexOnly() {
        try (FourierImage a = new FourierImage(B, 3, 3, 8, 8); FourierImage b = new FourierImage(B, 1, 3, 8, 8)) {
            a.init(7, new long[] {4, 5, 6}, 0.01f);
            b.init(7, new long[] {5}, 0.01f);
            float[] va = a.values().toArray(), vb = b.values().toArray();
            int per = vb.length;
            for (int i = 0; i < per; i++) assertEquals(va[per + i], vb[i], "element " + i);
            double s = 0;
            for (float v : vb) s += v * v;
            assertEquals(0.01, Math.sqrt(s / per), 0.002, "sd 0.01");
        }
    }

    static float[] gauss(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }
}
