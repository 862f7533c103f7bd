package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * With AVX-512, 3x3 stride-2 max pooling (the stem pool) runs a fused 16-wide kernel over its rows read
 * in place, -inf outside them (native pool2d.cpp, s2k3_applies); AVX2 and other windows run the two-pass
 * row scan. Both scan the window columns then rows with PyTorch's take rule (larger, or NaN), so the
 * outputs must be the same bits: checked on inputs with ties of +0 and -0, -inf, and NaNs of different
 * payloads, at pads 0 and 1, odd and even sizes, floor and ceil outputs, against AVX2 and against one
 * image alone.
 * (The AVX-512 comparison skips on processors without it.)
 */
class MaxPoolStride2Test {
    static final Backend CPU = Engine.cpu();

    static Stream<Pool2dGeometry> geometries() {
        return Stream.of(
                new Pool2dGeometry(3, 5, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 56, 56, false),
                new Pool2dGeometry(2, 3, 57, 41, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 29, 21, false),
                new Pool2dGeometry(2, 4, 40, 35, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 19, 17, false),
                // ceil mode: the last window reaches past the input
                new Pool2dGeometry(2, 2, 20, 18, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, 10, 9, false),
                // rows of 3 and 1 outputs
                new Pool2dGeometry(2, 2, 5, 6, 3, 3, 2, 2, 1, 0, 1, 1, 1, 1, 3, 3, false),
                new Pool2dGeometry(2, 2, 3, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 1, false));
    }

    static float[] input(Pool2dGeometry g) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(g.h() * 31L + g.w());
        float[] x = new float[g.n() * g.c() * g.h() * g.w()];
        for (int i = 0; i < x.length; i++) {
            switch (r.nextInt(12)) {
                case 0 -> x[i] = 0f;
                case 1 -> x[i] = -0f;
                case 2 -> x[i] = Float.NEGATIVE_INFINITY;
                case 3 -> x[i] = Float.intBitsToFloat(0x7fc00000 | r.nextInt(1 << 20)); // NaNs of several payloads
                case 4 -> x[i] = 1f; // ties
                default -> x[i] = (float) r.nextGaussian();
            }
        }
        return x;
    }

    static float[] pool(Pool2dGeometry g, float[] x) {
        try (Tensor tx = CPU.upload(x, g.n(), g.c(), g.h(), g.w()); Tensor ty = CPU.allocate(g.n(), g.c(), g.outH(), g.outW())) {
            CPU.maxPool2dForward(tx, ty, g);
            return ty.toArray();
        }
    }

    @ParameterizedTest
    @MethodSource("geometries")
    void theFusedKernelGivesTheRowScansBits(Pool2dGeometry g) {
        float[] x = input(g);
        int threads = CpuNative.salient_get_num_threads(), isa = CpuNative.salient_get_isa();
        try {
            assertEquals(0, CpuNative.salient_set_num_threads(2));
            float[] got = pool(g, x);
            int in = g.c() * g.h() * g.w(), out = g.c() * g.outH() * g.outW();
            Pool2dGeometry one = new Pool2dGeometry(1, g.c(), g.h(), g.w(), g.kernelH(), g.kernelW(), g.strideH(), g.strideW(),
                    g.padTop(), g.padLeft(), g.padBottom(), g.padRight(), g.dilationH(), g.dilationW(), g.outH(), g.outW(), false);
            for (int i = 0; i < g.n(); i++)
                BatchInvarianceTest.assertSameBits(g + ": image " + i + " alone",
                        pool(one, java.util.Arrays.copyOfRange(x, i * in, (i + 1) * in)), got, i * out);
            if (CpuNative.salient_max_isa() >= CpuNative.ISA_AVX512) {
                assertEquals(0, CpuNative.salient_set_isa(CpuNative.ISA_AVX2));
                BatchInvarianceTest.assertSameBits(g + ": AVX-512 against AVX2", pool(g, x), got, 0);
            }
        } finally {
            CpuNative.salient_set_isa(isa);
            CpuNative.salient_set_num_threads(threads);
        }
    }
}
