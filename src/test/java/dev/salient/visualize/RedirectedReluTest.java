package dev.salient.visualize;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
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
            RedirectedRelu.apply(b, xt, dyt, dx);
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
}
