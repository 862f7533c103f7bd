package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/**
 * NaN propagates through the activations as in PyTorch on the CPU, and the
 * native engine checks its thread count (libgomp overflows its stack on tens of
 * thousands of threads).
 */
class NanAndThreadsTest {
    static final Backend B = Engine.cpu();
    static final float NAN = Float.NaN;

    /** y = act(x) on the CPU engine; n > 32768 takes the parallel vector path too. */
    static float[] act(Activation kind, float alpha, float beta, float[] x) {
        try (Tensor tx = B.upload(x, x.length); Tensor ty = B.allocate(x.length)) {
            B.activationForward(kind, tx, ty, alpha, beta);
            return ty.toArray();
        }
    }

    // torch 1.13: x = [nan, -1, 2, 7]
    //   relu -> [nan, 0, 2, 7]; clamp(0, 6) -> [nan, 0, 2, 6]; hardsigmoid -> [nan, 0.3333, 0.8333, 1]
    //   hardswish -> [nan, -0.3333, 1.6667, 7]; leaky_relu(0.1) -> [nan, -0.1, 2, 7]
    @Test
    void activationsPropagateNanAsPyTorch() {
        for (int n : new int[] {4, 40_000}) {
            float[] x = new float[n];
            for (int i = 0; i < n; i++) x[i] = new float[] {NAN, -1, 2, 7}[i % 4];
            check("relu", act(Activation.RELU, 0, 0, x), NAN, 0, 2, 7);
            check("clip", act(Activation.CLIP, 0, 6, x), NAN, 0, 2, 6);
            check("hardsigmoid", act(Activation.HARD_SIGMOID, 1f / 6, 0.5f, x), NAN, 1f / 3, 5f / 6, 1);
            check("hardswish", act(Activation.HARD_SWISH, 1f / 6, 0.5f, x), NAN, -1f / 3, 5f / 3, 7);
            check("leakyrelu", act(Activation.LEAKY_RELU, 0.1f, 0, x), NAN, -0.1f, 2, 7);
            check("sigmoid", act(Activation.SIGMOID, 0, 0, x), NAN, 0.26894143f, 0.8807971f, 0.99908894f);
        }
    }

    /** dx = dy * act'(x) with dy = 1. */
    static float[] grad(Activation kind, float alpha, float beta, float[] x) {
        float[] ones = new float[x.length];
        java.util.Arrays.fill(ones, 1f);
        try (Tensor tx = B.upload(x, x.length); Tensor dy = B.upload(ones, x.length); Tensor dx = B.allocate(x.length)) {
            B.activationBackward(kind, tx, dy, dx, alpha, beta);
            return dx.toArray();
        }
    }

    // torch 1.13, gradients of sum(act(x)) at x = [nan, -1, 2, 7]:
    //   relu [1, 0, 1, 1] (PyTorch masks by the output, relu(nan) <= 0 is false); clamp(0, 6) [0, 0, 1, 0];
    //   hardsigmoid [0, 1/6, 1/6, 0]; hardswish [1, 1/6, 7/6, 1]; leaky_relu(0.1) [0.1, 0.1, 1, 1]; abs [0, -1, 1, 1]
    @Test
    void activationGradientsAtNanAsPyTorch() {
        for (int n : new int[] {4, 40_000}) {
            float[] x = new float[n];
            for (int i = 0; i < n; i++) x[i] = new float[] {NAN, -1, 2, 7}[i % 4];
            check("relu'", grad(Activation.RELU, 0, 0, x), 1, 0, 1, 1);
            check("clip'", grad(Activation.CLIP, 0, 6, x), 0, 0, 1, 0);
            check("hardsigmoid'", grad(Activation.HARD_SIGMOID, 1f / 6, 0.5f, x), 0, 1f / 6, 1f / 6, 0);
            check("hardswish'", grad(Activation.HARD_SWISH, 1f / 6, 0.5f, x), 1, 1f / 6, 7f / 6, 1);
            check("leakyrelu'", grad(Activation.LEAKY_RELU, 0.1f, 0, x), 0.1f, 0.1f, 1, 1);
            check("abs'", grad(Activation.ABS, 0, 0, x), 0, -1, 1, 1);
        }
    }

    private static void check(String what, float[] got, float... expect4) {
        for (int i = 0; i < got.length; i++) {
            float e = expect4[i % 4];
            if (Float.isNaN(e)) assertTrue(Float.isNaN(got[i]), what + "(NaN) = " + got[i] + " at " + i);
            else assertEquals(e, got[i], 1e-6f, what + " at " + i);
        }
    }

    @Test
    void nativeRefusesAbsurdThreadCounts() {
        int max = CpuNative.salient_max_threads();
        assertTrue(max >= 8 && max <= 1024, "max threads " + max);
        int before = CpuNative.salient_get_num_threads();
        assertTrue(before >= 1 && before <= max);
        for (int bad : new int[] {0, -3, max + 1, 10_000, Integer.MAX_VALUE}) {
            assertEquals(-1, CpuNative.salient_set_num_threads(bad), "accepted " + bad);
            assertTrue(CpuNative.salient_last_error().getString().contains("between 1 and " + max));
            assertEquals(before, CpuNative.salient_get_num_threads(), "changed by a refused count " + bad);
        }
        assertEquals(0, CpuNative.salient_set_num_threads(before));
    }
}
