package dev.salient.engine.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.Conv3dGeometry;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.Pool3dGeometry;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * conv3d and 3-D pooling on the CUDA engine against their CPU twins (kernels/conv3d.cu,
 * kernels/pool3d.cu vs native/cpu/conv3d.cpp, pool3d.cpp): |got - ref| <= 1e-5 + 1e-4 |ref|.
 * Runs in emulation in CI (small shapes); skips with the reason where no CUDA device answers.
 */
class CudaVolume3dTest {
    static final double ATOL = 1e-5, RTOL = 1e-4;
    static CudaBackend gpu;
    static Backend cpu;

    @BeforeAll
    static void open() {
        if (CudaBackend.isAvailable()) {
            gpu = CudaBackend.create();
            cpu = Engine.cpu();
        }
    }

    @AfterAll
    static void close() {
        if (gpu != null) gpu.close();
    }

    @BeforeEach
    void needsGpu() {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
    }

    static int[] v(int d, int h, int w) {
        return new int[] {d, h, w};
    }

    static Stream<Conv3dGeometry> convs() {
        return Stream.of(
                new Conv3dGeometry(2, 3, 4, 1, v(4, 5, 6), v(3, 3, 3), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1), v(1, 1, 1)),
                new Conv3dGeometry(1, 4, 6, 2, v(5, 6, 5), v(3, 2, 3), v(2, 1, 2), v(0, 1, 1), v(1, 0, 2), v(1, 2, 1)),
                new Conv3dGeometry(1, 4, 4, 4, v(4, 5, 5), v(3, 3, 3), v(1, 2, 1), v(1, 1, 1), v(1, 1, 1), v(2, 1, 1)),
                new Conv3dGeometry(2, 5, 3, 1, v(3, 4, 5), v(1, 1, 1), v(2, 2, 2), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1)));
    }

    static Stream<Pool3dGeometry> pools() {
        return Stream.of(
                new Pool3dGeometry(2, 3, v(5, 6, 7), v(2, 2, 2), v(2, 2, 2), v(0, 0, 0), v(0, 0, 0), v(1, 1, 1), v(2, 3, 3), false),
                new Pool3dGeometry(1, 2, v(5, 5, 6), v(3, 3, 2), v(2, 2, 2), v(1, 1, 0), v(1, 1, 1), v(1, 1, 1), v(3, 3, 4), true),
                new Pool3dGeometry(1, 2, v(6, 5, 5), v(2, 3, 3), v(1, 2, 2), v(1, 1, 0), v(0, 1, 1), v(2, 1, 1), v(5, 3, 3), false));
    }

    static float[] random(Random rnd, long n, float scale) {
        float[] a = new float[(int) n];
        for (int i = 0; i < a.length; i++) a[i] = (float) rnd.nextGaussian() * scale;
        return a;
    }

    static long numel(long[] s) {
        long n = 1;
        for (long d : s) n *= d;
        return n;
    }

    @ParameterizedTest
    @MethodSource("convs")
    void convMatchesCpu(Conv3dGeometry g) {
        Random rnd = new Random(1);
        long fanIn = numel(g.weightShape()) / g.k();
        float[] x = random(rnd, numel(g.inputShape()), 1f), w = random(rnd, numel(g.weightShape()),
                (float) Math.sqrt(2.0 / fanIn));
        float[] b = random(rnd, g.k(), 1f), dy = random(rnd, numel(g.outputShape()), 1f);
        try (Tensor cx = cpu.upload(x, g.inputShape()); Tensor cw = cpu.upload(w, g.weightShape());
                Tensor cb = cpu.upload(b, g.k()); Tensor cy = cpu.allocate(g.outputShape());
                Tensor cdy = cpu.upload(dy, g.outputShape()); Tensor cdx = cpu.allocate(g.inputShape());
                Tensor gx = gpu.upload(x, g.inputShape()); Tensor gw = gpu.upload(w, g.weightShape());
                Tensor gb = gpu.upload(b, g.k()); Tensor gy = gpu.allocate(g.outputShape());
                Tensor gdy = gpu.upload(dy, g.outputShape()); Tensor gdx = gpu.allocate(g.inputShape())) {
            gpu.fill(gy, Float.NaN);
            gpu.fill(gdx, Float.NaN);
            cpu.conv3dForward(cx, cw, cb, cy, g);
            gpu.conv3dForward(gx, gw, gb, gy, g);
            Parity.assertClose("cuda conv3d forward " + g, gy.toArray(), cy.toArray(), ATOL, RTOL);
            cpu.conv3dForwardActivation(cx, cw, null, cy, g, Activation.CLIP, -0.3f, 0.4f);
            gpu.conv3dForwardActivation(gx, gw, null, gy, g, Activation.CLIP, -0.3f, 0.4f);
            Parity.assertClose("cuda conv3d forward clip " + g, gy.toArray(), cy.toArray(), ATOL, RTOL);
            try (Tensor cz = cpu.upload(dy, g.outputShape()); Tensor gz = gpu.upload(dy, g.outputShape())) {
                cpu.conv3dForwardSum(cx, cw, cb, cz, cy, g, Activation.RELU, 0f, 0f);
                gpu.conv3dForwardSum(gx, gw, gb, gz, gy, g, Activation.RELU, 0f, 0f);
                Parity.assertClose("cuda conv3d forward + residual + relu " + g, gy.toArray(), cy.toArray(), ATOL, RTOL);
            }
            cpu.conv3dBackwardData(cdy, cw, cdx, g);
            gpu.conv3dBackwardData(gdy, gw, gdx, g);
            Parity.assertClose("cuda conv3d backward data " + g, gdx.toArray(), cdx.toArray(), ATOL, RTOL);
        }
    }

    @ParameterizedTest
    @MethodSource("pools")
    void poolsMatchCpu(Pool3dGeometry g) {
        Random rnd = new Random(2);
        float[] x = new float[(int) numel(g.inputShape())];
        for (int i = 0; i < x.length; i++) x[i] = rnd.nextInt(3); // many ties: the first-max rule
        x[x.length / 2] = Float.NaN;                              // and NaN wins its windows
        float[] dy = random(rnd, numel(g.outputShape()), 1f);
        for (boolean max : new boolean[] {true, false}) {
            try (Tensor cx = cpu.upload(x, g.inputShape()); Tensor cy = cpu.allocate(g.outputShape());
                    Tensor cdy = cpu.upload(dy, g.outputShape()); Tensor cdx = cpu.allocate(g.inputShape());
                    Tensor gx = gpu.upload(x, g.inputShape()); Tensor gy = gpu.allocate(g.outputShape());
                    Tensor gdy = gpu.upload(dy, g.outputShape()); Tensor gdx = gpu.allocate(g.inputShape())) {
                gpu.fill(gy, Float.NaN);
                gpu.fill(gdx, Float.NaN);
                if (max) {
                    cpu.maxPool3dForward(cx, cy, g);
                    gpu.maxPool3dForward(gx, gy, g);
                    cpu.maxPool3dBackward(cx, cdy, cdx, g);
                    gpu.maxPool3dBackward(gx, gdy, gdx, g);
                } else {
                    cpu.avgPool3dForward(cx, cy, g);
                    gpu.avgPool3dForward(gx, gy, g);
                    cpu.avgPool3dBackward(cdy, cdx, g);
                    gpu.avgPool3dBackward(gdy, gdx, g);
                }
                String what = (max ? "cuda maxpool3d " : "cuda avgpool3d ") + g;
                Parity.assertClose(what + " forward", gy.toArray(), cy.toArray(), ATOL, RTOL);
                Parity.assertClose(what + " backward", gdx.toArray(), cdx.toArray(), ATOL, RTOL);
            }
        }
    }

    @Test
    void cpuTensorsAreRefused() {
        Conv3dGeometry g = new Conv3dGeometry(1, 1, 1, 1, v(3, 3, 3), v(3, 3, 3), v(1, 1, 1), v(0, 0, 0), v(0, 0, 0),
                v(1, 1, 1));
        try (Tensor cx = cpu.allocate(g.inputShape()); Tensor gw = gpu.allocate(g.weightShape());
                Tensor gy = gpu.allocate(g.outputShape())) {
            assertThrows(SalientException.class, () -> gpu.conv3dForward(cx, gw, null, gy, g));
        }
    }
}
