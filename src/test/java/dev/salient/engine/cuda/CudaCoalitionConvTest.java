package dev.salient.engine.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.salient.engine.Backend;
import dev.salient.engine.CoalitionConvTest;
import dev.salient.engine.CoalitionConvTest.Case;
import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * CUDA parity of the first conv under coalition masks (kernels/coalition.cu): the shares, the
 * baseline's conv and every coalition's activated, pooled rows bit for bit the CPU's, on
 * CoalitionConvTest's geometries (ResNet and MobileNet stems, asymmetric pads, a 2x2 pool, the
 * four coefficient paths, a baseline), written to rows first + e·step of a larger output, with
 * a NaN pixel on one; and a bad slot is one line before any launch. Skips without a CUDA device.
 */
class CudaCoalitionConvTest {
    @BeforeEach
    void needsGpu() {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
    }

    static float[][] run(Backend b, Case cs, float[] x, float[] base, float[] w, float[] bias, int[] labels, int[] segs,
            int slots, float[] design, int count) {
        Conv2dGeometry g = cs.g();
        long row = (long) g.k() * cs.poolH() * cs.poolW();
        try (Tensor tx = b.upload(x, g.c(), g.h(), g.w()); Tensor tb = base == null ? null : b.upload(base, g.c(), g.h(), g.w());
                Tensor tw = b.upload(w, g.weightShape()); Tensor tbias = b.upload(bias, g.k());
                Tensor part = b.allocate(slots, g.k(), g.outH(), g.outW()); Tensor bout = b.allocate(g.k(), g.outH(), g.outW());
                Tensor y = b.allocate(2L * count + 1, row)) {
            b.coalitionConvPrepare(tx, tb, labels, tw, tbias, g, segs, slots, part, bout);
            b.fill(y, -7f);
            b.coalitionConv(segs, slots, part, bout, design, cs.segments(), count, cs.act(), cs.lo(), cs.hi(), cs.pool8(), y, 1, 2);
            return new float[][] {part.toArray(), bout.toArray(), y.toArray()};
        }
    }

    @Test
    void theCpusBitsOnEveryGeometry() {
        int count = 5;
        for (Case cs : CoalitionConvTest.cases()) {
            Conv2dGeometry g = cs.g();
            float[] x = Parity.random(1, g.c() * g.h() * g.w()), w = Parity.random(2, g.k() * g.c() * g.r() * g.s());
            float[] bias = Parity.random(3, g.k()), base = cs.zeroBase() ? null : Parity.random(4, x.length);
            if (cs.segments() == 40) x[g.h() * g.w() + 7] = Float.NaN;  // one case with a NaN pixel
            int[] labels = CoalitionConvTest.labels(g.h(), g.w(), cs.segments(), 5);
            int[] n = new int[1];
            int[] segs = CoalitionConvTest.slots(g, labels, n);
            float[] design = new float[count * cs.segments()];
            Random r = new Random(6);
            for (int i = 0; i < design.length; i++) design[i] = r.nextInt(3) * 0.5f;
            float[][] cpu = run(Engine.cpu(), cs, x, base, w, bias, labels, segs, n[0], design, count);
            float[][] cuda = run(CudaBackend.shared(), cs, x, base, w, bias, labels, segs, n[0], design, count);
            assertArrayEquals(cpu[0], cuda[0], cs + ": the shares");
            assertArrayEquals(cpu[1], cuda[1], cs + ": the baseline's conv");
            assertArrayEquals(cpu[2], cuda[2], cs + ": the rows, and the rows between them untouched");
            assertEquals(-7f, cuda[2][0], cs + ": row 0 is not written");
        }
    }

    @Test
    void aLabelOutsideItsSlotsIsOneLine() {
        Case cs = CoalitionConvTest.cases().get(0);
        Conv2dGeometry g = cs.g();
        int[] labels = CoalitionConvTest.labels(g.h(), g.w(), cs.segments(), 5);
        int[] n = new int[1];
        int[] segs = CoalitionConvTest.slots(g, labels, n);
        labels[40] = cs.segments() + 3;
        Backend b = CudaBackend.shared();
        try (Tensor tx = b.allocate(g.c(), g.h(), g.w()); Tensor tw = b.allocate(g.weightShape());
                Tensor part = b.allocate(n[0], g.k(), g.outH(), g.outW()); Tensor bout = b.allocate(g.k(), g.outH(), g.outW())) {
            var e = assertThrows(SalientException.class, () -> b.coalitionConvPrepare(tx, null, labels, tw, null, g, segs, n[0], part, bout));
            assertTrue(e.getMessage().contains("none of the slots"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }
}
