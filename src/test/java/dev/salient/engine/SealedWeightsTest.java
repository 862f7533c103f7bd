package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * Winograd's transformed filters of a sealed block (salient_host_seal: a model's weights) are
 * cached by address. A conv with sealed filters must give the bits of the same conv with an
 * unsealed copy, from the cache too, on every path (Winograd, and the GEMM's pointwise, channel-
 * block, batched-image and im2col paths, which may one day keep what they derive from a sealed
 * filter as well); lifting the seal (as freeing the block does) must drop what was derived: the
 * block may then hold other filters, and the conv must compute with those.
 */
class SealedWeightsTest {
    /**
     * conv2d_forward_cpu (stride s, padding r / 2, no bias), then the fused conv + bias + residual +
     * ReLU (conv2d_forward_sum_cpu: the GEMM's residual pass on AVX2), one after the other in one array.
     */
    static float[] conv(FloatPointer w, float[] x, int n, int c, int h, int k, int r, int s) {
        int p = r / 2, oh = (h + 2 * p - r) / s + 1, len = n * k * oh * oh;
        float[] bias = Parity.random(4, k), z = Parity.random(5, len);
        try (FloatPointer xp = new FloatPointer(x); FloatPointer yp = new FloatPointer((long) len);
                FloatPointer bp = new FloatPointer(bias); FloatPointer zp = new FloatPointer(z)) {
            float[] y = new float[2 * len];
            assertEquals(0, CpuNative.conv2d_forward_cpu(xp, w, null, yp, n, c, h, h, k, r, r, s, s, p, p, p, p, 1, 1, 1),
                    () -> CpuNative.salient_last_error().getString());
            yp.get(y, 0, len);
            assertEquals(0, CpuNative.conv2d_forward_sum_cpu(xp, w, bp, zp, yp, n, c, h, h, k, r, r, s, s, p, p, p, p, 1, 1,
                    1, CpuNative.ACT_RELU, 0f, 0f), () -> CpuNative.salient_last_error().getString());
            yp.get(y, len, len);
            return y;
        }
    }

    // Winograd (3x3 stride 1); the GEMM's paths: pointwise by image rows (k past one k
    // block of 256), pointwise on a small plane at batch 1 (channel blocks over the threads),
    // pointwise on small planes batched (images side by side), a stem (3x3 stride 2: the implicit
    // GEMM on AVX2), im2col (3x3 stride 2 of 576 taps: the GEMM's packer), rows of A past the
    // kernel's last full block of 6 (m = 100); on AVX-512 the direct kernel, whose packed filters are
    // cached too (a 3x3 stride-2 conv onto 20x20 at batch 2, a 7x7 stride-2 stem onto 32x32 at batch 1)
    @ParameterizedTest(name = "n{0} c{1} h{2} k{3} r{4} s{5}")
    @CsvSource({"1,32,14,32,3,1", "2,300,9,96,1,1", "1,160,7,256,1,1", "8,64,7,100,1,1", "1,3,30,32,3,2", "1,64,30,32,3,2",
            "2,40,12,100,1,1", "2,16,40,48,3,2", "1,3,64,48,7,2"})
    void liftingTheSealDropsWhatWasDerived(int n, int c, int h, int k, int r, int s) {
        float[] x = Parity.random(1, n * c * h * h), wa = Parity.random(2, k * c * r * r), wb = Parity.random(3, k * c * r * r);
        float[] ya, yb;
        try (FloatPointer pa = new FloatPointer(wa); FloatPointer pb = new FloatPointer(wb)) {
            ya = conv(pa, x, n, c, h, k, r, s); // unsealed
            yb = conv(pb, x, n, c, h, k, r, s);
        }
        assertNotEquals(ya[0], yb[0]);
        FloatPointer p = CpuNative.salient_host_alloc(wa.length);
        try {
            p.capacity(wa.length);
            p.put(wa);
            assertEquals(0, CpuNative.salient_host_seal(p, wa.length));
            assertArrayEquals(ya, conv(p, x, n, c, h, k, r, s), "sealed filters A");
            assertArrayEquals(ya, conv(p, x, n, c, h, k, r, s), "sealed filters A, from the cache");
            assertEquals(0, CpuNative.salient_host_unseal(p));
            p.put(wb); // the same address, other filters
            assertArrayEquals(yb, conv(p, x, n, c, h, k, r, s), "filters B, unsealed");
            assertEquals(0, CpuNative.salient_host_seal(p, wb.length));
            assertArrayEquals(yb, conv(p, x, n, c, h, k, r, s), "filters B, sealed at A's address");
            assertArrayEquals(yb, conv(p, x, n, c, h, k, r, s), "filters B, from the cache");
            CpuNative.salient_trim(); // drops every cache: made again on the next call
            assertArrayEquals(yb, conv(p, x, n, c, h, k, r, s), "filters B, after a trim");
        } finally {
            CpuNative.salient_host_free(p);
        }
    }

    @Test
    void sealRefusesANullBlock() {
        assertNotEquals(0, CpuNative.salient_host_seal(null, 4));
    }
}
