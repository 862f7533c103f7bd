package dev.salient.visualize;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BatchInvarianceTest;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Engine;
import dev.salient.engine.Reduction;
import dev.salient.engine.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Lucid's redirected ReLU gradient against its definition written out, with a batch element whose ReLU gradient is zero. */
class RedirectedReluTest {
    @Test
    void matchesLucidsDefinition() {
        Backend b = Engine.cpu();
        Random r = new Random(2);
        int n = 3, per = 2 * 4 * 4;
        float[] x = new float[n * per], dy = new float[n * per];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
            dy[i] = (float) r.nextGaussian();
            if (i / per == 1) x[i] = -Math.abs(x[i]) - 0.1f; // image 1: all inputs negative, dead
        }
        try (Tensor xt = b.upload(x, n, 2, 4, 4); Tensor dyt = b.upload(dy, n, 2, 4, 4); Tensor dx = b.allocate(n, 2, 4, 4)) {
            b.redirectedReluBackward(xt, dyt, dx);
            float[] got = dx.toArray();
            for (int k = 0; k < n; k++) {
                double mag = 0;
                for (int i = k * per; i < (k + 1) * per; i++) mag += x[i] < 0 ? 0 : dy[i] * dy[i];
                for (int i = k * per; i < (k + 1) * per; i++) {
                    float relu = x[i] < 0 ? 0 : dy[i], redirected = x[i] < 0 && dy[i] > 0 ? 0 : dy[i];
                    assertEquals(mag > 0 ? relu : redirected, got[i], 0f, "element " + i);
                }
            }
            boolean passed = false;
            for (int i = per; i < 2 * per; i++) passed |= got[i] != 0;
            assertTrue(passed, "the dead image receives the redirected gradient");
        }
    }

    /** The rule as it was composed from ten engine passes; the engine's one op gives its bits. */
    static void composed(Backend b, Tensor x, Tensor dy, Tensor dx) {
        long n = x.dim(0), per = x.numel() / n;
        try (Tensor relu = b.allocate(x.shape()); Tensor push = b.allocate(x.shape()); Tensor mag = b.allocate(n)) {
            b.axpby(-1f, x, 0f, push);
            b.activationBackward(Activation.RELU, push, dy, relu, 0f, 0f);
            b.axpby(1f, dy, -1f, relu);
            b.activationForward(Activation.ABS, relu, dx, 0f, 0f);
            b.reduceRows(Reduction.MAX, Views.view(dx, n, per), mag);
            float[] m = mag.toArray();
            b.activationForward(Activation.RELU, dy, dx, 0f, 0f);
            b.activationBackward(Activation.RELU, push, dx, dx, 0f, 0f);
            b.binary(BinaryOp.SUB, dy, dx, dx);
            for (int i = 0; i < n; i++)
                if (m[i] > 0) b.copyRange(relu, i * per, dx, i * per, per);
        }
    }

    /**
     * Rows alive, dead, alive only through a NaN gradient (which does not count), long enough for
     * the op's blocks; x with NaN and signed zeros, dy with NaN, infinities and signed zeros.
     */
    @Test
    void oneEngineOpGivesTheComposedBits() {
        Backend b = Engine.cpu();
        Random r = new Random(8);
        int n = 5, per = 3 * 30 * 30;
        float[] x = new float[n * per], dy = new float[n * per];
        float[] specials = {Float.NaN, 0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1e-42f};
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
            dy[i] = (float) r.nextGaussian();
            if (r.nextInt(50) == 0) x[i] = specials[r.nextInt(3)];
            if (r.nextInt(50) == 0) dy[i] = specials[r.nextInt(specials.length)];
            int row = i / per;
            if (row == 1 || row == 3) x[i] = -Math.abs(x[i]) - 0.1f; // dead
            if (row == 4) x[i] = -Math.abs(x[i]) - 0.1f;
        }
        x[4 * per + per - 1] = 1f; // row 4 alive only where dy is NaN: not counted
        dy[4 * per + per - 1] = Float.NaN;
        x[3 * per + 2000] = 0f; // row 3 alive at x = 0 (x >= 0 passes) with dy 0: still dead
        dy[3 * per + 2000] = 0f;
        try (Tensor xt = b.upload(x, n, 3, 30, 30); Tensor dyt = b.upload(dy, n, 3, 30, 30);
                Tensor one = b.allocate(n, 3, 30, 30); Tensor ten = b.allocate(n, 3, 30, 30)) {
            b.redirectedReluBackward(xt, dyt, one);
            composed(b, xt, dyt, ten);
            BatchInvarianceTest.assertSameBits("redirected relu gradient", ten.toArray(), one.toArray(), 0);
        }
    }
}
