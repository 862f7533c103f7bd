package dev.salient.explain;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Methods on volumes against PyTorch re-implementations of their definitions
 * (scripts/make_volume_fixtures.py, in float64) on the VGG-style 3-D net of the parity
 * fixtures, batch 2, top-1 target: Grad-CAM and Grad-CAM++ (maps (N,D,H,W) after the 3-D
 * finish with trilinear resize, half-voxel centres), IG (Gauss-Legendre, 8 steps) and
 * occlusion (3x3x3 windows, stride 2). Tolerances as the 2-D golden tests:
 * {@code |got - ref| <= atol + 1e-4 |ref|}, atol 1e-4 for CAM maps, 1e-4 max|ref| for
 * input-shaped maps. Methods without volume support refuse a volume in one line.
 */
class VolumeMethodGoldenTest {
    static final Path FIX = Path.of("src/test/resources/fixtures/volume_methods");
    static final Path MODEL = Path.of("src/test/resources/fixtures/volume/vgg3d_folded");
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

    static Stream<String[]> cases() {
        return Stream.of(new String[] {"gradcam", "gradcam", ""}, new String[] {"gradcam++", "gradcam++", ""},
                new String[] {"ig", "ig", "--steps=8"}, new String[] {"occlusion", "occlusion", "--window=3,--stride=2"});
    }

    static Attribution run(String method, String opts) {
        MethodSpec spec = Methods.get(method);
        Map<String, String> given = new java.util.LinkedHashMap<>();
        if (!opts.isEmpty())
            for (String kv : opts.split(",")) given.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
        Explainer ex = spec.create(model, MethodOptions.parse(spec, given));
        try (Tensor x = input.upload(CPU)) {
            return ex.explain(CPU, x, Target.top1());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesPyTorch(String method, String fixture, String opts) {
        NdArray want = Npy.read(FIX.resolve(fixture + ".npy"));
        Attribution a = run(method, opts);
        assertArrayEquals(want.shape(), a.shape(), method + " output shape");
        float[] top1 = Npy.read(FIX.resolve("top1.npy")).data();
        for (int i = 0; i < top1.length; i++) assertEquals((int) top1[i], a.targets()[i], "top-1 of image " + i);
        boolean cam = want.shape().length == 4;
        double max = 0;
        for (float v : want.data()) max = Math.max(max, Math.abs(v));
        double atol = cam ? 1e-4 : 1e-4 * max;
        Parity.assertClose("volume " + method, a.values(), want.data(), atol, 1e-4);
        double err = 0;
        for (int i = 0; i < want.data().length; i++) err = Math.max(err, Math.abs(a.values()[i] - want.data()[i]));
        System.out.printf("volume golden %s: max|got-ref| %.3g (atol %.3g)%n", method, err, atol);
    }

    /** The CUDA engine (in emulation in CI) gives the same 3-D Grad-CAM as PyTorch. */
    @Test
    void gradCamOnCudaMatchesPyTorch() {
        org.junit.jupiter.api.Assumptions.assumeTrue(dev.salient.engine.cuda.CudaBackend.isAvailable(),
                "no CUDA device: " + dev.salient.engine.cuda.CudaBackend.unavailableReason());
        NdArray want = Npy.read(FIX.resolve("gradcam.npy"));
        try (Backend gpu = dev.salient.engine.cuda.CudaBackend.create(); Tensor x = input.upload(gpu)) {
            Attribution a = Methods.get("gradcam").create(model).explain(gpu, x, Target.top1());
            Parity.assertClose("cuda volume gradcam", a.values(), want.data(), 1e-4, 1e-4);
        }
    }

    @Test
    void imageOnlyMethodsRefuseVolumesInOneLine() {
        for (String m : new String[] {"eigencam", "rise", "smoothgrad", "guidedgradcam", "featureablation"}) {
            SalientException e = assertThrows(SalientException.class, () -> run(m, ""));
            assertTrue(e.getMessage().startsWith(m + " explains 2-D images (N,C,H,W) only, not volumes"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
        }
    }
}
