package dev.salient.engine.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.salient.engine.BatchInvarianceTest;
import dev.salient.model.Model;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The determinism contract on the CUDA engine (README "Determinism"): an image's logits and
 * input gradient are the same bits alone and in a batch. The conv and GEMM kernels accumulate
 * every output in k order with FP32 FMAs whatever tile the batch size picks, and no kernel adds
 * with atomics; this runs BatchInvarianceTest's fixture (im2col, Winograd-eligible, batched small
 * planes, 1x1, Gemm) through them. Runs in emulation (SALIENT_CUDA=emulate) in CI; skips
 * without a CUDA device.
 */
class CudaBatchInvarianceTest {
    @Test
    void anImageGetsTheSameBitsAloneAndInABatch(@TempDir Path dir) throws Exception {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
        try (Model m = Model.load(BatchInvarianceTest.model(dir))) {
            BatchInvarianceTest.assertBatchInvariant(CudaBackend.shared(), m, "cuda");
        }
    }
}
