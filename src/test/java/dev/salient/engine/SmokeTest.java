package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

class SmokeTest {
    @Test
    void reluRunsNatively() {
        FloatPointer x = CpuNative.salient_alloc(4);
        FloatPointer y = CpuNative.salient_alloc(4);
        x.put(new float[] {-1, 2, -3, 4});
        assertEquals(0, CpuNative.activation_forward_cpu(CpuNative.ACT_RELU, x, y, 4, 0, 0));
        float[] out = new float[4];
        y.get(out);
        assertArrayEquals(new float[] {0, 2, 0, 4}, out);
        assertNotEquals(0, CpuNative.activation_forward_cpu(99, x, y, 4, 0, 0));
        assertTrue(CpuNative.salient_last_error().getString().contains("unknown kind"));
        CpuNative.salient_free(x);
        CpuNative.salient_free(y);
    }
}
