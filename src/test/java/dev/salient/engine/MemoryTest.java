package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;

/** Allocating and closing tensors (and running ops on them) does not grow the process. */
class MemoryTest {
    static final CpuBackend B = (CpuBackend) Engine.cpu();

    @Test
    void allocateCloseLoopKeepsPhysicalBytesFlat() {
        // 60,000 floats (240 KB) per tensor, written in full: a leak of one tensor per
        // iteration would add 2.4 GB of resident memory over the loop
        int n = 60_000;
        Conv2dGeometry g = new Conv2dGeometry(1, 4, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
        loop(n, g, 300); // warm up: workspaces, JIT, allocator arenas
        long liveBefore = B.liveBytes();
        long before = Pointer.physicalBytes();
        loop(n, g, 10_000);
        long after = Pointer.physicalBytes();
        // every tensor the loop allocated was freed, to the byte
        assertEquals(liveBefore, B.liveBytes(), "tensor bytes still live after the loop");
        long grown = after - before;
        System.out.printf("MemoryTest: resident growth %.1f MiB over 10,000 iterations%n", grown / 1048576.0);
        assertTrue(grown < 32L << 20, "physical bytes grew by " + grown + " over 10,000 iterations");
    }

    private static void loop(int n, Conv2dGeometry g, int iterations) {
        for (int i = 0; i < iterations; i++) {
            try (Tensor a = B.allocate(n); Tensor b = B.allocate(n)) {
                B.fill(a, 0.5f);
                B.axpby(2f, a, 0f, b);
                // read one element in place: a toArray() here would put 24 MB of garbage on the
                // Java heap over the loop, and a heap that grows into it reads as resident growth
                if (i % 100 == 0) assertEquals(1f, b.data().get(n - 1));
            }
            if (i % 10 == 0) {
                try (Tensor x = B.allocate(g.inputShape()); Tensor w = B.allocate(g.weightShape());
                        Tensor y = B.allocate(g.outputShape())) {
                    B.fill(x, 0.5f);
                    B.fill(w, 0.25f);
                    B.conv2dForward(x, w, null, y, g);
                    if (i == 0) assertEquals(0.5f * 0.25f * 4 * 9, y.toArray()[g.outW() + 1], 1e-4f);
                }
            }
        }
    }
}
