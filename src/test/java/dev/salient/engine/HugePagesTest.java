package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/**
 * Tensors of 4 MiB and more start on a 2 MiB boundary, so that the kernel can back them with
 * transparent huge pages (native/cpu/hugepages.h); smaller ones on a 64-byte boundary. Both hold
 * what is written, and the block cache hands a freed large block back aligned.
 */
class HugePagesTest {
    @Test
    void largeTensorsStartOnHugePageBoundaries() {
        org.junit.jupiter.api.Assumptions.assumeFalse("0".equals(System.getenv("SALIENT_HUGEPAGES")));
        Backend b = Engine.cpu();
        long twoMiB = 2L << 20;
        for (int round = 0; round < 2; round++) {  // the second round takes the cached blocks
            try (Tensor big = b.allocate(5L << 20); Tensor odd = b.allocate((3L << 20) + 17); Tensor small = b.allocate(1000)) {
                assertEquals(0, address(big) % twoMiB, "20 MiB tensor at " + Long.toHexString(address(big)));
                assertEquals(0, address(odd) % twoMiB, "12 MiB tensor at " + Long.toHexString(address(odd)));
                assertEquals(0, address(small) % 64);
                b.fill(big, 3f);
                float[] v = big.toArray();
                assertEquals(3f, v[0]);
                assertEquals(3f, v[v.length - 1]);
            }
        }
    }

    private static long address(Tensor t) {
        return t.data().address() + 4 * t.data().position();
    }
}
