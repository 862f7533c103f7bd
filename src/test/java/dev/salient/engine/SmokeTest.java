package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

class SmokeTest {
    @Test
    void reluRunsNatively() {
        FloatPointer x = SalientNative.salient_alloc(4);
        FloatPointer y = SalientNative.salient_alloc(4);
        x.put(new float[] {-1, 2, -3, 4});
        assertEquals(0, SalientNative.activation_forward_cpu(SalientNative.ACT_RELU, x, y, 4, 0, 0));
        float[] out = new float[4];
        y.get(out);
        assertArrayEquals(new float[] {0, 2, 0, 4}, out);
        assertNotEquals(0, SalientNative.activation_forward_cpu(99, x, y, 4, 0, 0));
        assertTrue(SalientNative.salient_last_error().getString().contains("unknown kind"));
        SalientNative.salient_free(x);
        SalientNative.salient_free(y);
    }
}
