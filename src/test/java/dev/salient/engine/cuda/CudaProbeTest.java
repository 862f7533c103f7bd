package dev.salient.engine.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.salient.engine.Engine;
import dev.salient.engine.SalientException;
import org.junit.jupiter.api.Test;

/** Runs everywhere: probing CUDA never throws or crashes, and says why it is unavailable. */
class CudaProbeTest {

    @Test
    void probeAnswersCleanly() {
        boolean available = assertDoesNotThrow(CudaBackend::isAvailable);
        String reason = CudaBackend.unavailableReason();
        System.out.println("cuda available: " + available + (available ? " (" + CudaBackend.deviceDescription() + ")"
                : " - " + reason));
        if (available) {
            assertEquals("", reason);
            assertNotNull(CudaBackend.deviceDescription());
            try (CudaBackend b = CudaBackend.create()) {
                assertEquals("cuda", b.name());
            }
        } else {
            assertFalse(reason.isBlank(), "an unavailable CUDA names its reason");
            assertFalse(reason.contains("\n"), "the reason is one line");
            assertNull(CudaBackend.deviceDescription());
            SalientException e = assertThrows(SalientException.class, CudaBackend::create);
            assertTrue(e.getMessage().startsWith("cuda: "), e.getMessage());
            // asking again gives the same answer and still does not throw
            assertFalse(CudaBackend.isAvailable());
        }
    }

    @Test
    void emulationSaysWhatItIs() {
        assumeTrue(CudaBackend.isEmulated(), "runs under SALIENT_CUDA=emulate (the CPU emulation of the kernels)");
        assertTrue(CudaBackend.isAvailable(), CudaBackend.unavailableReason());
        assertTrue(CudaBackend.deviceDescription().startsWith("emulated (CPU)"), CudaBackend.deviceDescription());
        assertEquals(1, CudaNative.salient_cuda_is_emulated());
        assertFalse(Engine.cudaAvailable(), "--device auto never picks the emulation");
        assertEquals("cpu", Engine.forName("auto").name());
        assertEquals("cuda", Engine.forName("cuda").name());
    }

    @Test
    void realDriverAnswers() {
        assumeFalse(CudaBackend.isEmulated(), "GPU only: the real driver and runtime (the CUDA backend is the CPU emulation)");
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
        assertEquals(0, CudaNative.salient_cuda_is_emulated());
        assertTrue(CudaNative.salient_cuda_driver_version() >= 13000, "driver " + CudaNative.salient_cuda_driver_version());
        assertTrue(CudaNative.salient_cuda_runtime_version() >= 13000, "runtime " + CudaNative.salient_cuda_runtime_version());
        assertTrue(CudaBackend.deviceDescription().contains(", sm_"), CudaBackend.deviceDescription());
    }

    @Test
    void sizeClassesBoundSlackToAQuarter() {
        assertEquals(64, DevicePool.sizeClass(1));
        assertEquals(64, DevicePool.sizeClass(64));
        assertEquals(80, DevicePool.sizeClass(65));
        assertEquals(1 << 20, DevicePool.sizeClass(1 << 20));
        assertEquals((1 << 20) + (1 << 18), DevicePool.sizeClass((1 << 20) + 1));
        for (long n = 1; n < 5_000_000; n = n * 3 + 7) {
            long c = DevicePool.sizeClass(n);
            assertTrue(c >= n, "class " + c + " holds " + n);
            assertTrue(n < 64 || c <= n + n / 4 + 1, "class " + c + " wastes at most a quarter of " + n);
            assertEquals(c, DevicePool.sizeClass(c), "a class is its own class");
        }
    }
}
