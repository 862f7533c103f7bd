package dev.salient.engine.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
    @Test
    void matchesCpu() {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
        int h = 5 * 301;
        float[][] p = SecantBackwardTest.pairsForParity(h, 11);
        float[] x = p[0], dy = p[1], own = p[2];
        float[] y = new float[2 * h];
        for (int i = 0; i < y.length; i++) y[i] = x[i] > 0 ? x[i] : 0.1f * x[i];
        Backend cpu = Engine.cpu();
        try (CudaBackend gpu = CudaBackend.create()) {
            float[][] got = new float[2][];
            int k = 0;
            for (Backend b : new Backend[] {cpu, gpu}) {
                try (Tensor xt = b.upload(x, 2, 5, 301); Tensor yt = b.upload(y, 2, 5, 301); Tensor dyt = b.upload(dy, 2, 5, 301);
                        Tensor dxt = b.upload(own, 2, 5, 301)) {
                    b.secantBackward(xt, yt, dyt, dxt, 1e-10f, null);
                    got[k++] = dxt.toArray();
                }
            }
            for (int i = 0; i < got[0].length; i++)
                assertEquals(Float.floatToIntBits(got[0][i]), Float.floatToIntBits(got[1][i]),
                        "at " + i + ": cpu " + got[0][i] + ", cuda " + got[1][i]);
        }
    }

    /** The CUDA stabilised quotient against the CPU's, byte for byte (one IEEE sum, one IEEE quotient). */
    @Test
    void stabilizedDivideMatchesCpu() {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
        int n = 7 * 301;
        float[][] q = SecantBackwardTest.quotientsForParity(n, 5);
        Backend cpu = Engine.cpu();
        try (CudaBackend gpu = CudaBackend.create()) {
            float[][] got = new float[2][];
            int k = 0;
            for (Backend b : new Backend[] {cpu, gpu}) {
                try (Tensor rt = b.upload(q[0], 7, 301); Tensor zt = b.upload(q[1], 7, 301); Tensor yt = b.allocate(7, 301)) {
                    b.stabilizedDivide(rt, zt, yt, 1e-6f);
                    got[k++] = yt.toArray();
                }
            }
            for (int i = 0; i < n; i++)
                assertEquals(Float.floatToIntBits(got[0][i]), Float.floatToIntBits(got[1][i]),
                        "at " + i + ": cpu " + got[0][i] + ", cuda " + got[1][i]);
        }
    }

    /** The secant with the ReLU's own gradient computed in the kernel, against the CPU's, byte for byte. */
    @Test
    void reluOwnGradientMatchesCpu() {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
        int h = 5 * 301;
        float[][] p = SecantBackwardTest.pairsForParity(h, 13);
        float[] x = p[0], dy = p[1];
        for (int i = 0; i < h; i += 17) x[h + i] = x[i];
        Backend cpu = Engine.cpu();
        try (CudaBackend gpu = CudaBackend.create()) {
            float[][] got = new float[2][];
            int k = 0;
            for (Backend b : new Backend[] {cpu, gpu}) {
                try (Tensor xt = b.upload(x, 2, 5, 301); Tensor yt = b.allocate(2, 5, 301); Tensor dyt = b.upload(dy, 2, 5, 301);
                        Tensor dxt = b.allocate(2, 5, 301)) {
                    b.activationForward(dev.salient.engine.Activation.RELU, xt, yt, 0, 0);
                    b.secantBackward(xt, yt, dyt, dxt, 1e-10f, dev.salient.engine.Activation.RELU);
                    got[k++] = dxt.toArray();
                }
            }
            for (int i = 0; i < got[0].length; i++)
                assertEquals(Float.floatToIntBits(got[0][i]), Float.floatToIntBits(got[1][i]),
                        "at " + i + ": cpu " + got[0][i] + ", cuda " + got[1][i]);
        }
    }
}
