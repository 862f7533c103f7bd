package dev.salient.explain.perturbation;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.Methods;
import dev.salient.explain.Target;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad options of the perturbation family: one clear line each, before any forward pass. */
class PerturbationBadInputTest {
    static final Path METHODS = Path.of("src/test/resources/fixtures/methods");
    static final Backend CPU = Engine.cpu();
    static Model model;

    @TempDir
    Path dir;

    @BeforeAll
    static void load() {
        model = Model.load(METHODS.resolve("resnet/model.onnx"));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** The one-line message of running {@code method} with these options on a (2,3,32,32) batch. */
    private static String error(String method, Map<String, String> opts) {
        MethodSpec spec = Methods.get(method);
        SalientException e = assertThrows(SalientException.class, () -> {
            try (Tensor x = CPU.zeros(2, 3, 32, 32)) {
                spec.create(model, MethodOptions.parse(spec, opts)).explain(CPU, x, Target.top1());
            }
        });
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    @Test
    void windowLargerThanTheImage() {
        assertTrue(error("occlusion", Map.of("--window", "40")).contains("larger than the image"));
        assertTrue(error("occlusion", Map.of("--window", "8x33")).contains("larger than the image"));
    }

    @Test
    void strideZeroOrBadWindow() {
        assertTrue(error("occlusion", Map.of("--stride", "0")).contains("--stride must be at least 1"));
        assertTrue(error("occlusion", Map.of("--window", "0")).contains("--window"));
        assertTrue(error("occlusion", Map.of("--window", "4x")).contains("--window"));
        assertTrue(error("occlusion", Map.of("--window", "4", "--stride", "5")).contains("in no window"));
    }

    @Test
    void segmentFiles() {
        Path wrongShape = dir.resolve("shape.npy"), negative = dir.resolve("neg.npy"), many = dir.resolve("many.npy"),
                frac = dir.resolve("frac.npy"), perImage = dir.resolve("n.npy");
        Npy.write(wrongShape, new long[] {16, 32}, new float[16 * 32]);
        float[] neg = new float[32 * 32];
        neg[7] = -1;
        Npy.write(negative, new long[] {32, 32}, neg);
        float[] big = new float[32 * 32];
        big[3] = 1 << 16;
        Npy.write(many, new long[] {32, 32}, big);
        float[] half = new float[32 * 32];
        half[0] = 0.5f;
        Npy.write(frac, new long[] {32, 32}, half);
        Npy.write(perImage, new long[] {3, 32, 32}, new float[3 * 32 * 32]);
        assertTrue(error("featureablation", Map.of("--segments", wrongShape.toString())).contains("do not match the input"));
        assertTrue(error("featureablation", Map.of("--segments", perImage.toString())).contains("do not match the input"));
        assertTrue(error("featureablation", Map.of("--segments", negative.toString())).contains("non-negative"));
        assertTrue(error("featureablation", Map.of("--segments", many.toString())).contains("at most 65536 segments"));
        assertTrue(error("featureablation", Map.of("--segments", frac.toString())).contains("integers"));
        assertTrue(error("featureablation", Map.of("--segments", "grid:0")).contains("K >= 1"));
        assertTrue(error("featureablation", Map.of("--segments", "grid:33")).contains("more cells than the image"));
        assertTrue(error("featureablation", Map.of("--segments", "slic:x")).contains("bad --segments"));
    }
}
