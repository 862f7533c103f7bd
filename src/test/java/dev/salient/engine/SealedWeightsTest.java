package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * Winograd's transformed filters of a sealed block (salient_host_seal: a model's weights) are
 * cached by address. Lifting the seal (as freeing the block does) must drop them: the block may
 * then hold other filters, and the conv must compute with those, bit for bit as with an unsealed
 * copy (cached by content).
 */
class SealedWeightsTest {
    // one image, 32 -> 32 channels, 3x3, 14x14: the Winograd path
    static final int N = 1, C = 32, K = 32, H = 14, W = 14;

    static float[] conv(FloatPointer w, float[] x) {
        try (FloatPointer xp = new FloatPointer(x); FloatPointer yp = new FloatPointer((long) N * K * H * W)) {
            assertEquals(0, CpuNative.conv2d_forward_cpu(xp, w, null, yp, N, C, H, W, K, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),
                    () -> CpuNative.salient_last_error().getString());
            float[] y = new float[N * K * H * W];
            yp.get(y);
            return y;
        }
    }

    @Test
    void liftingTheSealDropsTheCachedFilters() {
        float[] x = Parity.random(1, N * C * H * W), wa = Parity.random(2, K * C * 9), wb = Parity.random(3, K * C * 9);
        float[] ya, yb;
        try (FloatPointer pa = new FloatPointer(wa); FloatPointer pb = new FloatPointer(wb)) {
            ya = conv(pa, x); // unsealed: keyed by content
            yb = conv(pb, x);
        }
        assertNotEquals(ya[0], yb[0]);
        FloatPointer p = CpuNative.salient_host_alloc(wa.length);
        try {
            p.capacity(wa.length);
            p.put(wa);
            assertEquals(0, CpuNative.salient_host_seal(p, wa.length));
            assertArrayEquals(ya, conv(p, x), "sealed filters A");
            assertArrayEquals(ya, conv(p, x), "sealed filters A, from the cache");
            assertEquals(0, CpuNative.salient_host_unseal(p));
            p.put(wb); // the same address, other filters
            assertArrayEquals(yb, conv(p, x), "filters B, unsealed");
            assertEquals(0, CpuNative.salient_host_seal(p, wb.length));
            assertArrayEquals(yb, conv(p, x), "filters B, sealed at A's address");
        } finally {
            CpuNative.salient_host_free(p);
        }
    }

    @Test
    void sealRefusesANullBlock() {
        assertNotEquals(0, CpuNative.salient_host_seal(null, 4));
    }
}
