package dev.salient.explain.cam;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.Tensor;
import dev.salient.engine.cuda.CudaBackend;
import dev.salient.explain.Attribution;
import dev.salient.explain.Target;
import dev.salient.explain.core.Cost;
import dev.salient.explain.core.Driver;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Score-CAM on volumes against a PyTorch re-implementation of pytorch-grad-cam's ScoreCAM with
 * trilinear {@code align_corners=True} masks (scripts/make_volume_scorecam_fixtures.py, float64)
 * on the R3D parity fixture (batch 2, 3×8×24×24), at layer4 (--layer auto, one depth slice, 8
 * constant channels in image 1) and layer3 (two depth slices, interpolated along depth too).
 * Tolerance as the other CAM goldens: |got − ref| ≤ 1e-4 + 1e-4·|ref|. Also: the constant
 * channels share one scored input (the forward passes counted), and the CUDA engine (in emulation
 * in CI) gives the same maps.
 */
class ScoreCamVolumeTest {
    static final Path FIX = Path.of("src/test/resources/fixtures/volume_methods");
    static final Path MODEL = Path.of("src/test/resources/fixtures/volume/r3d_folded");
    static final String LAYER3 = "/layer3/layer3.0/relu/Relu_output_0";
    static final Backend CPU = Engine.cpu();
    static Model model;
    static NdArray input;

    @BeforeAll
    static void load() {
        model = Model.load(MODEL.resolve("model.onnx"));
        input = Npy.read(MODEL.resolve("input.npy"));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static void check(String what, Attribution a, String fixture) {
        NdArray want = Npy.read(FIX.resolve(fixture));
        assertArrayEquals(want.shape(), a.shape(), what + " shape");
        float[] top1 = Npy.read(FIX.resolve("top1_r3d.npy")).data();
        for (int i = 0; i < top1.length; i++) assertEquals((int) top1[i], a.targets()[i], what + " top-1 of image " + i);
        Parity.assertClose(what, a.values(), want.data(), 1e-4, 1e-4);
        double err = 0;
        for (int i = 0; i < want.data().length; i++) err = Math.max(err, Math.abs(a.values()[i] - want.data()[i]));
        System.out.printf("volume scorecam %s: max|got-ref| %.3g%n", what, err);
    }

    @Test
    void matchesPyTorchAtTwoLayersOnCpu() {
        try (Tensor x = input.upload(CPU)) {
            check("layer4 (auto)", new ScoreCam(model, "auto").explain(CPU, x, Target.top1()), "scorecam_r3d_layer4.npy");
            check("layer3", new ScoreCam(model, LAYER3).explain(CPU, x, Target.top1()), "scorecam_r3d_layer3.npy");
            // one evaluation per chunk: the same maps
            check("layer3, one row a chunk", new ScoreCam(model, LAYER3).memoryBudget(1).explain(CPU, x, Target.top1()),
                    "scorecam_r3d_layer3.npy");
        }
    }

    @Test
    void constantChannelsShareOneScoredInput() {
        try (Tensor x = input.upload(CPU)) {
            // image 0: 16 channels, none constant; image 1: 8 constant channels, scored once with the zero mask
            assertArrayEquals(new int[] {16, 9}, new ScoreCam(model, "auto").evaluationsPerImage(CPU, x));
            try (Tensor x1 = Driver.rows(CPU, x, 1, 1)) {
                Cost.reset();
                Attribution a = new ScoreCam(model, "auto").explain(CPU, x1, Target.top1());
                Cost.Counts c = Cost.counts();
                assertEquals(1 + 9, c.forwards(), "the image's logits, then 8 live channels and one zero mask");
                assertEquals(1, c.prefixForwards(), "the activation, once");
                NdArray want = Npy.read(FIX.resolve("scorecam_r3d_layer4.npy"));
                int per = want.data().length / 2;
                float[] w1 = java.util.Arrays.copyOfRange(want.data(), per, 2 * per);
                Parity.assertClose("image 1 alone", a.values(), w1, 1e-4, 1e-4);
            }
        }
    }

    @Test
    void cudaMatchesPyTorch() {
        Assumptions.assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
        try (Backend gpu = CudaBackend.create(); Tensor x = input.upload(gpu)) {
            check("cuda layer4", new ScoreCam(model, "auto").explain(gpu, x, Target.top1()), "scorecam_r3d_layer4.npy");
            check("cuda layer3", new ScoreCam(model, LAYER3).explain(gpu, x, Target.top1()), "scorecam_r3d_layer3.npy");
        }
    }
}
