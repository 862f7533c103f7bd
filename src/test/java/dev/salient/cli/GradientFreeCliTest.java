package dev.salient.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.Target;
import dev.salient.explain.cam.IsCam;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gradient-free methods from the command line: report.json counts the forward passes
 * per image (whole, up to the layer, after the layer), RISE's raw map keeps its layout and
 * values, a progress bar shows only for slow images, and each bad option is one error line.
 */
class GradientFreeCliTest {
    static final Path FIX = Path.of("src/test/resources/fixtures/methods");
    static final String RESNET = FIX.resolve("resnet/model.onnx").toString();
    static final String INPUT = FIX.resolve("resnet/input.npy").toString();

    @TempDir
    Path dir;

    CliRunner explain(String method, String out, String... extra) {
        String[] base = {"explain", "--model", RESNET, "--method", method, "--input", INPUT, "--out", dir.resolve(out).toString(),
                "--no-progress"};
        String[] all = new String[base.length + extra.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(extra, 0, all, base.length, extra.length);
        return CliRunner.run(all);
    }

    JsonObject report(String method, String... extra) throws IOException {
        CliRunner r = explain(method, method, extra);
        assertEquals(0, r.code(), r.err());
        return JsonParser.parseString(Files.readString(dir.resolve(method).resolve("report.json"))).getAsJsonObject();
    }

    static double perImage(JsonObject rep, String kind) {
        return rep.getAsJsonObject("forward_passes_per_image").get(kind).getAsDouble();
    }

    @Test
    void reportCountsTheForwardPassesPerImage() throws IOException {
        // 32 channels at the CAM layer; 3 images
        JsonObject abl = report("ablationcam");
        assertEquals(1, perImage(abl, "whole"));
        assertEquals(1, perImage(abl, "up_to_layer"));
        assertEquals(32, perImage(abl, "after_layer"));
        assertEquals(96, abl.getAsJsonObject("forward_passes").get("after_layer").getAsLong());
        JsonObject sc = report("scorecam");
        // one per channel whose plane is not constant, one for all the constant ones, the most any image of the batch
        // needs; plus the target's
        int most;
        try (Model m = Model.load(Path.of(RESNET)); Tensor x = Npy.read(Path.of(INPUT)).upload(Engine.cpu())) {
            most = java.util.Arrays.stream(new dev.salient.explain.cam.ScoreCam(m, "auto").evaluationsPerImage(Engine.cpu(), x))
                    .max().getAsInt();
        }
        assertTrue(most <= 32, "at most one evaluation per channel, got " + most);
        assertEquals(1 + most, perImage(sc, "whole"));
        assertEquals(3 + 3 * most, sc.getAsJsonObject("forward_passes").get("whole").getAsLong());
        assertEquals(1, perImage(sc, "up_to_layer"));
        JsonObject is = report("iscam", "--samples", "2");
        assertEquals(65, perImage(is, "whole"));
        // occlusion window 16 stride 8 on 32x32: 3x3 windows and the clean image, whose forward gives the
        // target (the CPU runs the fixture's first conv by its linearity, the image as evaluation 0)
        assertEquals(10, perImage(report("occlusion", "--window", "16", "--stride", "8"), "whole"));
        JsonObject g = report("gradcam");
        assertEquals(1, perImage(g, "whole"));
        assertEquals(0, perImage(g, "after_layer"));
    }

    @Test
    void riseIsARawMap() throws IOException {
        JsonObject rep = report("rise", "--masks", "16", "--cells", "4");
        assertEquals("(rows,H,W) raw", rep.get("layout").getAsString());
        NdArray a = Npy.read(dir.resolve("rise").resolve("attributions.npy"));
        assertArrayEquals(new long[] {3, 32, 32}, a.shape());
        boolean outside = false;
        for (float v : a.data()) outside |= v < 0f || v > 1f;
        assertTrue(outside, "RISE's saliency is the raw logit average, not a [0,1] map");
        assertEquals(3, rep.getAsJsonArray("items").size());
        assertTrue(Files.exists(dir.resolve("rise").resolve(rep.getAsJsonArray("items").get(0).getAsJsonObject().get("overlay").getAsString())));
        assertEquals(16.0 + 1, perImage(rep, "whole"));
    }

    @Test
    void progressBarShowsOnlyForSlowImages() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(buf, true, StandardCharsets.UTF_8);
        try (Model m = Model.load(Path.of(RESNET)); Tensor x = Npy.read(Path.of(INPUT)).upload(Engine.cpu())) {
            try (EvaluationProgress p = EvaluationProgress.start("test", 3, true, err)) {
                new IsCam(m, "auto", 2).explain(Engine.cpu(), x, Target.top1());
                assertFalse(p.shown(), "a fast image shows no bar");
            }
            try (EvaluationProgress p = EvaluationProgress.start("slow", 3, true, err, 0L)) {
                new IsCam(m, "auto", 2).memoryBudget(1).explain(Engine.cpu(), x, Target.top1());
                assertTrue(p.shown(), "an image over the threshold shows a bar");
            }
            try (EvaluationProgress p = EvaluationProgress.start("off", 3, false, err, 0L)) {
                new IsCam(m, "auto", 2).memoryBudget(1).explain(Engine.cpu(), x, Target.top1());
                assertFalse(p.shown(), "--no-progress shows nothing");
            }
        }
        String shown = buf.toString(StandardCharsets.UTF_8);
        assertTrue(shown.contains("slow") && !shown.contains("off") && !shown.contains("test"), shown);
    }

    @Test
    void badOptionsAreOneLine() {
        assertTrue(explain("occlusion", "o.npy", "--window", "40").errorLine().contains("larger than the image"));
        assertTrue(explain("occlusion", "o.npy", "--stride", "0").errorLine().contains("--stride must be at least 1"));
        assertTrue(explain("rise", "r.npy", "--p", "0").errorLine().contains("--p must be in (0, 1)"));
        assertTrue(explain("rise", "r.npy", "--p", "1.5").errorLine().contains("--p must be in (0, 1)"));
        assertTrue(explain("rise", "r.npy", "--cells", "40").errorLine().contains("bigger than the image"));
        for (String m : new String[] {"sscam", "iscam", "smoothgrad"})
            assertTrue(explain(m, "s.npy", "--samples", "0").errorLine().contains("--samples must be at least 1"), m);
        assertTrue(explain("sscam", "s.npy", "--noise-std", "-1").errorLine().contains("--noise-std"));
        assertTrue(explain("ablationcam", "a.npy", "--layer", "nope").errorLine().contains("unknown layer"));
        assertTrue(explain("ablationcam", "a.npy", "--samples", "3").errorLine().contains("--samples"));
    }
}
