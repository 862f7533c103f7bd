package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Backend.dftRows against the DFT's definition in double, for powers of two (the radix-2 FFT) and
 * other lengths (the direct sum), both directions; the two directions are each other's transpose
 * (the backward of the one is the other), and an inverse after a forward gives the input back.
 */
class DftRowsTest {
    static final Backend B = Engine.cpu();

    static double[] reference(float[] x, int p, int h, int k, int sign) {
        double[] y = new double[x.length];
        for (int q = 0; q < p; q++)
            for (int m = 0; m < h; m++)
                for (int i = 0; i < k; i++) {
                    double re = 0, im = 0;
                    for (int j = 0; j < h; j++) {
                        double a = sign * 2 * Math.PI * ((long) j * m % h) / h, c = Math.cos(a), s = Math.sin(a);
                        double xr = x[((q * h + j) * 2) * k + i], xi = x[((q * h + j) * 2 + 1) * k + i];
                        re += c * xr - s * xi;
                        im += c * xi + s * xr;
                    }
                    y[((q * h + m) * 2) * k + i] = re / Math.sqrt(h);
                    y[((q * h + m) * 2 + 1) * k + i] = im / Math.sqrt(h);
                }
        return y;
    }

    @ParameterizedTest
    @CsvSource({"3, 1, 4", "2, 2, 3", "2, 8, 5", "4, 128, 65", "1, 512, 3", "2, 3, 4", "2, 12, 7", "1, 100, 9", "2, 6, 33"})
    void matchesTheDefinition(int p, int h, int k) {
        float[] x = Parity.random(40 + h, p * h * 2 * k);
        long[] shape = {p, h, 2, k};
        for (int sign : new int[] {1, -1}) {
            try (Tensor tx = B.upload(x, shape); Tensor ty = B.allocate(shape)) {
                B.dftRows(tx, ty, sign == 1);
                // ortho scaling keeps magnitudes: float rounding of log2(H) or H terms of size ~1
                Parity.assertClose("dft rows " + p + "x" + h + "x" + k + " sign " + sign, ty.toArray(), reference(x, p, h, k, sign),
                        2e-6 * Math.sqrt(h), 1e-4, shape);
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"2, 16, 5", "1, 12, 4", "3, 64, 9"})
    void directionsAreTransposesAndInverses(int p, int h, int k) {
        long[] shape = {p, h, 2, k};
        float[] x = Parity.random(7, p * h * 2 * k), g = Parity.random(8, p * h * 2 * k);
        try (Tensor tx = B.upload(x, shape); Tensor tg = B.upload(g, shape); Tensor fx = B.allocate(shape);
                Tensor bg = B.allocate(shape); Tensor back = B.allocate(shape)) {
            B.dftRows(tx, fx, true);
            B.dftRows(tg, bg, false);
            // <inverse(x), g> = <x, forward(g)> in the real layout
            double lhs = Parity.dot(fx.toArray(), g), rhs = Parity.dot(x, bg.toArray());
            Parity.assertClose("adjoint " + p + "x" + h + "x" + k, rhs, lhs, 1e-5 * (Parity.absDot(fx.toArray(), g) + 1), 0);
            B.dftRows(fx, back, false);
            Parity.assertClose("forward after inverse", back.toArray(), x, 1e-5, 1e-4);
        }
    }

    @org.junit.jupiter.api.Test
    void badShapesAreOneLine() {
        try (Tensor x = B.zeros(2, 4, 3, 5); Tensor y = B.zeros(2, 4, 3, 5); Tensor z = B.zeros(2, 4, 2, 5); Tensor w = B.zeros(2, 4, 2, 6)) {
            for (Runnable r : new Runnable[] {() -> B.dftRows(x, y, true), () -> B.dftRows(z, w, true), () -> B.dftRows(z, z, false)}) {
                SalientException e = assertThrows(SalientException.class, r::run);
                assertTrue(e.getMessage().startsWith("dftRows"), e.getMessage());
                assertFalse(e.getMessage().contains("\n"));
            }
        }
    }
}
