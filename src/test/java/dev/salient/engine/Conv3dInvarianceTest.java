package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * An image's conv3d forward (with and without a fused ReLU) and data gradient on the CPU are the
 * same bits whether it runs alone or in a batch of two, on 1 or 2 threads: the engine cuts each
 * image's work into items whose shapes depend on that image's geometry only, and threads only
 * take items. One geometry per CPU path (Winograd, implicit GEMM, vol2col with sgemm, pointwise,
 * grouped).
 */
class Conv3dInvarianceTest {
    static final Backend B = Engine.cpu();

    static int[] v(int d, int h, int w) {
        return new int[] {d, h, w};
    }

    // n = 2; c, k, groups, in, kernel, stride, padBegin, padEnd, dilation
    static Stream<Conv3dGeometry> convs() {
        return Stream.of(
                // Winograd F(4x4, 3x3) both ways: several depth blocks and tile-row blocks per image
                new Conv3dGeometry(2, 16, 16, 1, v(9, 20, 70), v(3, 3, 3), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)),
                // Winograd F(2x2, 3x3) both ways (a plane of 12 F(4x4) tiles), several depth blocks per image
                new Conv3dGeometry(2, 16, 16, 1, v(17, 12, 14), v(3, 3, 3), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)),
                // implicit GEMM forward (an R3D stem in small), vol2col data gradient
                new Conv3dGeometry(2, 3, 8, 1, v(6, 20, 40), v(3, 7, 7), v(1, 2, 2), v(1, 3, 3), v(1, 3, 3), v(1, 1, 1)),
                // rows too short for the implicit GEMM: vol2col + sgemm both ways without AVX-512, the
                // direct kernel forward with it
                new Conv3dGeometry(2, 8, 16, 1, v(6, 10, 10), v(3, 3, 3), v(2, 2, 2), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)),
                // vol2col + sgemm forward at every level (8 filters, rows of 5)
                new Conv3dGeometry(2, 8, 8, 1, v(6, 10, 10), v(3, 3, 3), v(2, 2, 2), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)),
                // the direct kernel's 32 x 14 and 64 x 7 tiles, several output slices per image
                new Conv3dGeometry(2, 5, 32, 1, v(6, 10, 30), v(3, 3, 3), v(1, 2, 2), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)),
                new Conv3dGeometry(2, 3, 60, 1, v(5, 6, 12), v(3, 3, 3), v(1, 1, 2), v(1, 1, 1), v(1, 1, 1), v(1, 2, 2)),
                // pointwise, strided (with AVX-512 the direct kernel reads the input in place, but for
                // the last image's last block: alone, an image takes that copy, in the batch only image 1)
                new Conv3dGeometry(2, 8, 16, 1, v(6, 10, 10), v(1, 1, 1), v(2, 2, 2), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1)),
                // grouped: implicit GEMM forward
                new Conv3dGeometry(2, 8, 8, 2, v(5, 12, 14), v(3, 3, 3), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)));
    }

    /** Forward (plain, then with a fused ReLU) and data gradient of g's batch on `threads` threads. */
    static float[][] run(Conv3dGeometry g, float[] x, float[] w, float[] bias, float[] dy, int threads) {
        int before = CpuNative.salient_get_num_threads();
        assertEquals(0, CpuNative.salient_set_num_threads(threads));
        try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape());
                Tensor tb = B.upload(bias, g.k()); Tensor ty = B.allocate(g.outputShape());
                Tensor tdy = B.upload(dy, g.outputShape()); Tensor tdx = B.allocate(g.inputShape())) {
            B.conv3dForward(tx, tw, tb, ty, g);
            float[] y = ty.toArray();
            B.conv3dForwardActivation(tx, tw, tb, ty, g, Activation.RELU, 0f, 0f);
            float[] yr = ty.toArray();
            B.conv3dBackwardData(tdy, tw, tdx, g);
            return new float[][] {y, yr, tdx.toArray()};
        } finally {
            CpuNative.salient_set_num_threads(before);
        }
    }

    @ParameterizedTest
    @MethodSource("convs")
    void anImageGetsTheSameBitsAtAnyBatchAndThreadCount(Conv3dGeometry g) {
        int xi = Volume3dTest.numel(g.inputShape()) / g.n(), yi = Volume3dTest.numel(g.outputShape()) / g.n();
        float[] x = Parity.random(21, xi * g.n()), w = Parity.random(22, Volume3dTest.numel(g.weightShape()));
        float[] bias = Parity.random(23, g.k()), dy = Parity.random(24, yi * g.n());
        float[][] batch = run(g, x, w, bias, dy, 2);
        Conv3dGeometry one = g.withBatch(1);
        for (int threads : new int[] {1, 2}) {
            for (int i = 0; i < g.n(); i++) {
                float[][] alone = run(one, Arrays.copyOfRange(x, i * xi, (i + 1) * xi), w, bias,
                        Arrays.copyOfRange(dy, i * yi, (i + 1) * yi), threads);
                String at = g + " image " + i + " alone on " + threads + " thread(s) vs in the batch on 2: ";
                assertBits(at + "forward", Arrays.copyOfRange(batch[0], i * yi, (i + 1) * yi), alone[0]);
                assertBits(at + "forward+relu", Arrays.copyOfRange(batch[1], i * yi, (i + 1) * yi), alone[1]);
                assertBits(at + "data gradient", Arrays.copyOfRange(batch[2], i * xi, (i + 1) * xi), alone[2]);
            }
        }
        // and the whole batch on one thread
        float[][] serial = run(g, x, w, bias, dy, 1);
        for (int j = 0; j < 3; j++) assertBits(g + " batch on 1 thread vs 2, output " + j, batch[j], serial[j]);
    }

    static void assertBits(String what, float[] want, float[] got) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++)
            if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i]))
                fail(what + ": element " + i + " differs: " + want[i] + " vs " + got[i]);
    }
}
