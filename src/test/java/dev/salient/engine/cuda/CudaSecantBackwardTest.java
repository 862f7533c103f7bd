package dev.salient.engine.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.SecantBackwardTest;
import dev.salient.engine.Tensor;
import org.junit.jupiter.api.Test;

/**
 * The CUDA secant backward against its CPU twin, byte for byte (one product and one IEEE
 * quotient per element on both engines), on pairs with ties, moves below and above eps and
 * ordinary values, over a size that leaves a partial block. Skips without a CUDA device; CI
 * runs it under the emulation.
 */
class CudaSecantBackwardTest {
    /** Runs {@code run} on the CPU and on the CUDA backend and compares the two results byte for byte. */
    static void sameBitsOnBoth(java.util.function.Function<Backend, float[]> run) {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
        try (CudaBackend gpu = CudaBackend.create()) {
            float[] want = run.apply(Engine.cpu()), got = run.apply(gpu);
            assertEquals(want.length, got.length);
            for (int i = 0; i < want.length; i++)
                assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits(got[i]), "at " + i + ": cpu " + want[i] + ", cuda " + got[i]);
        }
    }

    @Test
    void matchesCpu() {
        int h = 5 * 301;
        float[][] p = SecantBackwardTest.pairsForParity(h, 11);
        float[] x = p[0], dy = p[1], own = p[2];
        float[] y = new float[2 * h];
        for (int i = 0; i < y.length; i++) y[i] = x[i] > 0 ? x[i] : 0.1f * x[i];
        sameBitsOnBoth(b -> {
            try (Tensor xt = b.upload(x, 2, 5, 301); Tensor yt = b.upload(y, 2, 5, 301); Tensor dyt = b.upload(dy, 2, 5, 301);
                    Tensor dxt = b.upload(own, 2, 5, 301)) {
                b.secantBackward(xt, yt, dyt, dxt, 1e-10f, null);
                return dxt.toArray();
            }
        });
    }

    /** The CUDA stabilised quotient against the CPU's, byte for byte (one IEEE sum, one IEEE quotient). */
    @Test
    void stabilizedDivideMatchesCpu() {
        float[][] q = SecantBackwardTest.quotientsForParity(7 * 301, 5);
        sameBitsOnBoth(b -> {
            try (Tensor rt = b.upload(q[0], 7, 301); Tensor zt = b.upload(q[1], 7, 301); Tensor yt = b.allocate(7, 301)) {
                b.stabilizedDivide(rt, zt, yt, 1e-6f);
                return yt.toArray();
            }
        });
    }

    /** The CUDA Norm shares against the CPU's, byte for byte, both shares and each alone. */
    @Test
    void normSharesMatchCpu() {
        float[][] q = SecantBackwardTest.sharesForParity(7 * 301, 13);
        for (int want = 0; want < 3; want++) {
            int w = want;
            sameBitsOnBoth(b -> {
                try (Tensor at = b.upload(q[0], 7, 301); Tensor bt = b.upload(q[1], 7, 301); Tensor rt = b.upload(q[2], 7, 301);
                        Tensor da = b.allocate(7, 301); Tensor db = b.allocate(7, 301)) {
                    b.fill(da, 0f);
                    b.fill(db, 0f);
                    b.normShares(at, bt, rt, w == 2 ? null : da, w == 1 ? null : db, 1e-6f);
                    float[] x = da.toArray(), y = db.toArray(), both = java.util.Arrays.copyOf(x, x.length * 2);
                    System.arraycopy(y, 0, both, x.length, y.length);
                    return both;
                }
            });
        }
    }

    /** The input-half Relu secant (composed on CUDA) against the CPU's, byte for byte, with straddles reported by both. */
    @Test
    void reluHalfMatchesCpu() {
        int h = 5 * 301;
        float[][] p = SecantBackwardTest.pairsForParity(h, 17);
        float[] x = p[0], dy = java.util.Arrays.copyOf(p[1], h);
        for (int i = 3; i < h; i += 97) {
            x[i] = -2e-11f;
            x[h + i] = 3e-11f;
        }
        reluHalfOnBoth(x, 2, dy, 1);
        // the compact layout: 3 input rows of 5 x 301 against one reference row
        float[] xs = java.util.Arrays.copyOf(x, 4 * 5 * 301), dys = java.util.Arrays.copyOf(p[1], 3 * 5 * 301);
        for (int i = 7; i < 3 * 5 * 301; i += 53) {
            xs[i] = -1e-11f;
            xs[3 * 5 * 301 + i % (5 * 301)] = 2e-11f;
        }
        reluHalfOnBoth(xs, 4, dys, 3);
    }

    /** secantReluHalf on x (xRows, 5, 301) and dy (dyRows, 5, 301) on both engines, each reporting straddles. */
    private static void reluHalfOnBoth(float[] x, int xRows, float[] dy, int dyRows) {
        sameBitsOnBoth(b -> {
            try (Tensor xt = b.upload(x, xRows, 5, 301); Tensor yt = b.allocate(xRows, 5, 301);
                    Tensor dyt = b.upload(dy, dyRows, 5, 301); Tensor dxt = b.allocate(dyRows, 5, 301)) {
                b.activationForward(Activation.RELU, xt, yt, 0, 0);
                assertTrue(b.secantReluHalf(xt, yt, dyt, dxt, 1e-10f) > 0, b.name() + " reports the straddles");
                return dxt.toArray();
            }
        });
    }

    /** The secant with the ReLU's own gradient computed in the kernel, against the CPU's, byte for byte. */
    @Test
    void reluOwnGradientMatchesCpu() {
        int h = 5 * 301;
        float[][] p = SecantBackwardTest.pairsForParity(h, 13);
        float[] x = p[0], dy = p[1];
        for (int i = 0; i < h; i += 17) x[h + i] = x[i];
        sameBitsOnBoth(b -> {
            try (Tensor xt = b.upload(x, 2, 5, 301); Tensor yt = b.allocate(2, 5, 301); Tensor dyt = b.upload(dy, 2, 5, 301);
                    Tensor dxt = b.allocate(2, 5, 301)) {
                b.activationForward(Activation.RELU, xt, yt, 0, 0);
                b.secantBackward(xt, yt, dyt, dxt, 1e-10f, Activation.RELU);
                return dxt.toArray();
            }
        });
    }
}
