package dev.salient.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** `salient explain` end to end on the embedded demo model: outputs, and one clear line for each bad input. */
class ExplainCommandTest {
    static final Path MODEL = Path.of("src/main/resources/dev/salient/demo/fashion_cnn.onnx");
    static final Path IMAGES = Path.of("src/main/resources/dev/salient/demo/images");

    @TempDir
    Path dir;

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(o));
        cl.setErr(new PrintWriter(e));
        int code = cl.execute(args);
        return new Run(code, o.toString(), e.toString());
    }

    private Path npy(String name, int n, float fill) {
        float[] v = new float[n * 28 * 28];
        Random r = new Random(1);
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        if (!Float.isFinite(fill)) v[v.length / 2] = fill;
        Path p = dir.resolve(name);
        Npy.write(p, new NdArray(new long[] {n, 1, 28, 28}, v));
        return p;
    }

    private static String oneErrorLine(Run r, String... words) {
        assertNotEquals(0, r.code(), "exit code");
        String[] lines = r.err().strip().split("\\R");
        assertEquals(1, lines.length, "expected one line, got: " + r.err());
        assertTrue(lines[0].startsWith("salient: error: "), lines[0]);
        assertFalse(r.err().contains("\tat "), "stack trace: " + r.err());
        for (String w : words) assertTrue(lines[0].contains(w), "'" + w + "' not in: " + lines[0]);
        return lines[0];
    }

    @Test
    void npyOutHasTheRawTensor() {
        Path in = npy("x.npy", 3, 0f);
        Path out = dir.resolve("cam.npy");
        Run r = run("explain", "--model", MODEL.toString(), "--method", "gradcam", "--input", in.toString(), "--out",
                out.toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        NdArray a = Npy.read(out);
        assertArrayEquals(new long[] {3, 28, 28}, a.shape());
        Path out2 = dir.resolve("ig.npy");
        r = run("explain", "--model", MODEL.toString(), "--method", "ig", "--steps", "4", "--input", in.toString(), "--out",
                out2.toString(), "--target", "top2");
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(new long[] {6, 1, 28, 28}, Npy.read(out2).shape());
    }

    @Test
    void dirOutHasOverlaysTensorAndReport() throws IOException {
        Path out = dir.resolve("res");
        Run r = run("explain", "--model", MODEL.toString(), "--method", "ig", "--steps", "4", "--input", IMAGES.toString(),
                "--out", out.toString(), "--mean", "0.286", "--std", "0.353", "--colormap", "viridis", "--no-progress");
        assertEquals(0, r.code(), r.err());
        long pngs;
        try (var s = Files.list(out)) {
            pngs = s.filter(p -> RunOutput.OVERLAY.matcher(p.getFileName().toString()).matches()).count();
        }
        assertEquals(8, pngs);
        assertTrue(Files.isRegularFile(out.resolve("overview.png")), "a folder run writes its contact sheet");
        assertArrayEquals(new long[] {8, 1, 28, 28}, Npy.read(out.resolve("attributions.npy")).shape());
        JsonObject rep = JsonParser.parseString(Files.readString(out.resolve("report.json"))).getAsJsonObject();
        assertEquals("ig", rep.get("method").getAsString());
        assertEquals(8, rep.getAsJsonArray("items").size());
        JsonObject it = rep.getAsJsonArray("items").get(0).getAsJsonObject();
        for (String k : new String[] {"source", "target", "score", "convergence_delta", "overlay"}) assertTrue(it.has(k), k);
        assertTrue(rep.getAsJsonObject("timings").has("explain_ms"));
        assertEquals(4, rep.getAsJsonObject("options").get("steps").getAsInt());
    }

    @Test
    void aBadFileInAFolderDoesNotLoseTheOthers() throws IOException {
        Path in = Files.createDirectories(dir.resolve("in"));
        Files.copy(IMAGES.resolve("00_ankle_boot.png"), in.resolve("a.png"));
        Files.write(in.resolve("b.png"), new byte[] {1, 2, 3, 4});
        Files.copy(IMAGES.resolve("01_trouser.png"), in.resolve("c.png"));
        Path out = dir.resolve("res");
        Run r = run("explain", "--model", MODEL.toString(), "--method", "gradcam", "--input", in.toString(), "--out",
                out.toString(), "--no-progress", "--batch", "1");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("b.png"), r.err());
        assertArrayEquals(new long[] {2, 28, 28}, Npy.read(out.resolve("attributions.npy")).shape());
        JsonObject rep = JsonParser.parseString(Files.readString(out.resolve("report.json"))).getAsJsonObject();
        assertEquals(1, rep.getAsJsonArray("failures").size());
    }

    @Test
    void unknownMethod() {
        Path in = npy("x.npy", 1, 0f);
        oneErrorLine(run("explain", "--model", MODEL.toString(), "--method", "gradcammm", "--input", in.toString(),
                "--out", dir.resolve("o.npy").toString()), "unknown method 'gradcammm'", "gradcam++");
    }

    @Test
    void unknownLayerListsValidNames() {
        Path in = npy("x.npy", 1, 0f);
        String line = oneErrorLine(run("explain", "--model", MODEL.toString(), "--method", "gradcam", "--layer", "nope",
                "--input", in.toString(), "--out", dir.resolve("o.npy").toString()), "unknown layer 'nope'", "valid names");
        assertTrue(line.contains("Relu"), line);
    }

    @Test
    void targetOutOfRange() {
        Path in = npy("x.npy", 1, 0f);
        oneErrorLine(run("explain", "--model", MODEL.toString(), "--method", "saliency", "--target", "10", "--input",
                in.toString(), "--out", dir.resolve("o.npy").toString()), "target class 10", "10 classes");
    }

    @Test
    void nanInputNamesTheFile() {
        Path in = npy("bad_input.npy", 1, Float.NaN);
        oneErrorLine(run("explain", "--model", MODEL.toString(), "--method", "saliency", "--input", in.toString(), "--out",
                dir.resolve("o.npy").toString()), "bad_input.npy", "NaN");
        Path inf = npy("inf_input.npy", 1, Float.POSITIVE_INFINITY);
        oneErrorLine(run("explain", "--model", MODEL.toString(), "--method", "ig", "--input", inf.toString(), "--out",
                dir.resolve("o.npy").toString()), "inf_input.npy", "infinite");
    }

    @Test
    void camOnANon4dLayer() {
        Path in = npy("x.npy", 1, 0f);
        oneErrorLine(run("explain", "--model", MODEL.toString(), "--method", "gradcam", "--layer", "logits", "--input",
                in.toString(), "--out", dir.resolve("o.npy").toString()), "4-D", "logits");
    }

    @Test
    void tooFewSteps() {
        Path in = npy("x.npy", 1, 0f);
        oneErrorLine(run("explain", "--model", MODEL.toString(), "--method", "ig", "--steps", "1", "--integration",
                "riemann_trapezoid", "--input", in.toString(), "--out", dir.resolve("o.npy").toString()), "at least 2 steps");
    }
}
