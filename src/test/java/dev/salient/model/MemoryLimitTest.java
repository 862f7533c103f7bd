package dev.salient.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.OutOfDeviceMemoryException;
import dev.salient.engine.Tensor;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A plan knows its activation memory before it allocates, and a call over the model's budget is refused. */
class MemoryLimitTest {
    @TempDir
    Path dir;

    @Test
    void aCallOverTheBudgetIsRefusedBeforeItAllocates() throws Exception {
        // x (N,4,64,64) -> Relu -> Relu: one intermediate (16 KiB floats per image) and the output
        Path f = new OnnxBuilder().input("x", -1, 4, 64, 64).output("y", -1, 4, 64, 64)
                .node("Relu", "r1", new String[] {"x"}, new String[] {"r"})
                .node("Relu", "r2", new String[] {"r"}, new String[] {"y"}).write(dir, "m.onnx");
        Backend cpu = Engine.cpu();
        try (Model m = Model.load(f)) {
            assertTrue(m.memoryLimit() >= 256L << 20);
            Plan p = m.plan(Map.of("x", new long[] {8, 4, 64, 64}), Set.of("y"));
            long need = p.activationBytes();
            assertTrue(need >= 8L * 4 * 64 * 64 * 4, "counts at least the output: " + need);
            m.memoryLimit(need - 1);
            try (Tensor x = cpu.allocate(8, 4, 64, 64)) {
                OutOfDeviceMemoryException e = assertThrows(MemoryLimit.Exceeded.class, () -> m.forward(cpu, x));
                assertTrue(e.getMessage().contains("(8,4,64,64)") && e.getMessage().contains("needs"), e.getMessage());
            }
            m.memoryLimit(need);
            try (Tensor x = cpu.allocate(8, 4, 64, 64); Tensor y = m.forward(cpu, x)) {
                assertEquals(8, y.dim(0));
            }
        }
    }

    @Test
    void theHostDefaultFollowsAvailableMemory() {
        long avail = MemoryLimit.availableBytes();
        assertTrue(avail > 0);
        long d = MemoryLimit.hostDefault(); // a quarter of what is available (which moves), at least 256 MiB
        assertTrue(d >= 256L << 20 && d <= Math.max(256L << 20, avail / 2), d + " of " + avail);
        assertEquals("16 MiB", MemoryLimit.mib(16L << 20));
    }
}
