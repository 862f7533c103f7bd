package dev.salient.engine.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.cam.GradCam;
import dev.salient.explain.gradient.IntegratedGradients;
import dev.salient.explain.Target;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The out-of-memory split on the CUDA engine: with the device memory capped
 * ({@link CudaBackend#setMemoryLimit}, served by the emulated or the real device), IG splits
 * its chunk of steps and gives the unsplit result; an image that cannot fit at all is one
 * clear line. Runs in CI under the CPU emulation.
 */
class CudaOutOfMemorySplitTest {
    static final Path MODEL = Path.of("src/test/resources/fixtures/arch/resnet_basic_bn/model.onnx");

    @BeforeEach
    void needsCuda() {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
        CudaBackend.shared().trim(); // blocks other tests left in the shared pool count against the cap
    }

    @AfterEach
    void noCap() {
        if (CudaBackend.isAvailable()) CudaBackend.setMemoryLimit(0);
    }

    private static float[] input(int n) {
        Random r = new Random(3);
        float[] x = new float[n * 3 * 64 * 64];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    @Test
    void igSplitsItsStepsWhenTheDeviceIsFull() {
        try (Model m = Model.load(MODEL)) {
            var o = IntegratedGradients.Options.steps(4);
            Attribution ref;
            long footprint;
            try (CudaBackend free = CudaBackend.create(); Tensor x = free.upload(input(2), 2, 3, 64, 64)) {
                ref = new IntegratedGradients(m).explain(free, x, Target.top1(), o);
                footprint = free.cachedBytes() + free.liveBytes(); // every block the unsplit run held
            }
            assertTrue(footprint > 0);
            // a third of what one chunk of 8 rows (4 steps x 2 images) took: the chunk must split.
            // (A quarter left too little for one row once the tape kept no Conv outputs: the
            // standard rules read a Relu's output, so each Conv runs fused and keeps nothing.)
            long cap = footprint / 3;
            Attribution got;
            try (CudaBackend small = CudaBackend.create()) {
                CudaBackend.setMemoryLimit(cap);
                try (Tensor x = small.upload(input(2), 2, 3, 64, 64)) {
                    got = new IntegratedGradients(m).explain(small, x, Target.top1(), o);
                }
                assertTrue(small.cachedBytes() + small.liveBytes() <= cap, "the run stayed under the cap");
            }
            float[] a = ref.values(), b = got.values();
            assertEquals(a.length, b.length);
            for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], 1e-6f + 1e-5f * Math.abs(a[i]), "at " + i);
        }
    }

    @Test
    void oneImageThatCannotFitIsOneClearLine() {
        try (Model m = Model.load(MODEL); CudaBackend tiny = CudaBackend.create()) {
            try (Tensor x = tiny.upload(input(1), 1, 3, 64, 64)) {
                CudaBackend.setMemoryLimit(64L * 64 * 4 * 3); // the input and little else
                SalientException e = assertThrows(SalientException.class,
                        () -> new GradCam(m, "auto").explain(tiny, x, Target.top1()));
                assertTrue(e.getMessage().contains("does not fit"), e.getMessage());
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
            }
        }
    }
}
