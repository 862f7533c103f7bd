package dev.salient.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `salient evaluate` end to end on the embedded demo model: the files it writes, and one line per bad input. */
class EvaluateCommandTest {
    static final Path MODEL = Path.of("src/main/resources/dev/salient/demo/fashion_cnn.onnx");
    static final Path IMAGES = Path.of("src/main/resources/dev/salient/demo/images");
    static final Path MLP = Path.of("src/test/resources/fixtures/metrics/mlp.onnx");

    @TempDir
    Path dir;

    static String[] args(Path out, String methods, String metrics, String... more) {
        List<String> a = new java.util.ArrayList<>(List.of("evaluate", "--model", MODEL.toString(), "--input", IMAGES.toString(),
                "--mean", "0.286", "--std", "0.353", "--methods", methods, "--metrics", metrics, "--out", out.toString(),
                "--device", "cpu", "--no-progress"));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    @Test
    void writesMetricsJsonCsvCurvesAndReport() throws Exception {
        Path boxes = dir.resolve("boxes.json");
        Files.writeString(boxes, "{\"00_ankle_boot.png\": [[2, 2, 25, 25]], \"01_trouser.png\": [[8, 0, 20, 27]]}");
        Path out = dir.resolve("ev");
        CliRunner r = CliRunner.run(args(out, "gradcam,saliency", "deletion,insertion,road,avgdrop,increase,win,"
                + "pointing,energypointing,sparseness,complexity", "--steps", "10", "--boxes", boxes.toString()));
        assertEquals(0, r.code(), r.err());
        JsonObject j = JsonParser.parseString(Files.readString(out.resolve("metrics.json"))).getAsJsonObject();
        assertEquals(MODEL.toString(), j.get("model").getAsString());
        assertEquals(10, j.getAsJsonObject("options").get("steps").getAsInt());
        JsonArray images = j.getAsJsonArray("images");
        assertEquals(8, images.size());
        for (var e : images) {
            JsonObject im = e.getAsJsonObject();
            assertTrue(im.has("source") && im.get("target").getAsInt() >= 0);
            for (String m : List.of("gradcam", "saliency")) {
                JsonObject mm = im.getAsJsonObject("metrics").getAsJsonObject(m);
                double del = mm.get("deletion").getAsDouble(), ins = mm.get("insertion").getAsDouble();
                assertTrue(del >= 0 && del <= 1 && ins >= 0 && ins <= 1, mm.toString());
                assertTrue(mm.getAsJsonObject("road").has("combined"));
                double win = mm.get("win").getAsDouble();
                assertTrue(win == 0 || win == 1);
                boolean boxed = im.get("source").getAsString().contains("ankle") || im.get("source").getAsString().contains("trouser");
                assertEquals(boxed, mm.has("pointing"), "pointing only where a box is given");
            }
        }
        JsonObject sum = j.getAsJsonObject("summary").getAsJsonObject("gradcam");
        assertEquals(8, sum.getAsJsonObject("deletion").get("n").getAsInt());
        assertEquals(2, sum.getAsJsonObject("deletion").getAsJsonArray("ci95").size());
        assertEquals(2, sum.getAsJsonObject("pointing").get("n").getAsInt());
        assertEquals(6, sum.getAsJsonObject("pointing").get("skipped").getAsInt());
        assertTrue(sum.has("road.combined") && sum.has("road.morf"));
        // win: on every image at least one method wins
        for (var e : images) {
            JsonObject m = e.getAsJsonObject().getAsJsonObject("metrics");
            assertTrue(m.getAsJsonObject("gradcam").get("win").getAsDouble() + m.getAsJsonObject("saliency").get("win").getAsDouble() >= 1);
        }
        List<String> csv = Files.readAllLines(out.resolve("metrics.csv"));
        assertEquals("source,target,method,metric,value", csv.get(0));
        assertTrue(csv.stream().anyMatch(l -> l.contains(",gradcam,road.combined,")));
        NdArray curves = Npy.read(out.resolve("curves/gradcam_deletion.npy"));
        assertArrayEquals(new long[] {8, 11}, curves.shape());
        assertArrayEquals(new long[] {11}, Npy.read(out.resolve("curves/fractions.npy")).shape());
        String html = Files.readString(out.resolve("report.html"));
        assertTrue(html.contains("<table id=\"metrics\">") && html.contains("<svg") && html.contains("data:image/png;base64,"));
        String noNs = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assertFalse(noNs.contains("http://") || noNs.contains("https://") || noNs.contains("<script"),
                "no network references and no scripts");
        // a second run refuses the folder, and --overwrite replaces it
        assertTrue(CliRunner.run(args(out, "gradcam", "sparseness")).errorLine().contains("--overwrite"));
        assertEquals(0, CliRunner.run(args(out, "gradcam", "sparseness", "--overwrite")).code());
    }

    @Test
    void badInputIsOneLineEach() throws Exception {
        Path out = dir.resolve("bad");
        Path boxes = dir.resolve("boxes.json");
        Files.writeString(boxes, "{\"00_ankle_boot.png\": [[2, 2, 25, 25]], \"cat.png\": [[0, 0, 5, 5]]}");
        assertTrue(CliRunner.run(args(out, "gradcam", "pointing", "--boxes", boxes.toString())).errorLine()
                .contains("not in the input: cat.png"));
        Path masks = Files.createDirectories(dir.resolve("masks"));
        ImageIO.write(new BufferedImage(20, 20, BufferedImage.TYPE_INT_RGB), "png", masks.resolve("01_trouser.png").toFile());
        String e = CliRunner.run(args(out, "gradcam", "pointing", "--masks", masks.toString())).errorLine();
        assertTrue(e.contains("01_trouser.png is 20x20") && e.contains("28x28"), e);
        e = CliRunner.run(args(out, "gradcam", "deletion,faithfulnes")).errorLine();
        assertTrue(e.contains("unknown metric 'faithfulnes'") && e.contains("deletion"), e);
        e = CliRunner.run(args(out, "gradcam", "deletion", "--steps", "0")).errorLine();
        assertTrue(e.contains("--steps must be at least 1"), e);
        e = CliRunner.run(args(out, "gradcam", "energypointing")).errorLine();
        assertTrue(e.contains("energypointing needs ground-truth regions"), e);
        e = CliRunner.run("evaluate", "--model", MLP.toString(), "--input", npy8x8().toString(), "--methods", "saliency",
                "--metrics", "randomisation", "--out", out.toString(), "--device", "cpu", "--no-progress").errorLine();
        assertTrue(e.contains("randomisation needs a model with conv weights"), e);
        e = CliRunner.run(args(out, "gradcam,nosuchmethod", "deletion")).errorLine();
        assertTrue(e.contains("nosuchmethod"), e);
    }

    private Path npy8x8() {
        float[] v = new float[2 * 64];
        for (int i = 0; i < v.length; i++) v[i] = (float) Math.sin(i);
        Path p = dir.resolve("x.npy");
        Npy.write(p, new NdArray(new long[] {2, 1, 8, 8}, v));
        return p;
    }
}
