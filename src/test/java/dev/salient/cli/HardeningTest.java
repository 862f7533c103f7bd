package dev.salient.cli;

import static dev.salient.cli.BadInputTest.convModel;
import static dev.salient.cli.BadInputTest.floats;
import static dev.salient.cli.BadInputTest.goodWeight;
import static dev.salient.cli.BadInputTest.node;
import static dev.salient.cli.BadInputTest.value;
import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.stream.JsonReader;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.io.Png;
import dev.salient.onnx.proto.Onnx;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The reproducers of the hardening issue, each through the command line as a
 * user meets it: every one ends in a result or one clean line, never a crash, a
 * stack trace, an allocation without bound, a silent NaN or lost output.
 */
class HardeningTest {
    @TempDir
    Path dir;

    Path good, x, out;

    @BeforeEach
    void setUp() throws IOException {
        good = write("good/model.onnx", convModel(goodWeight()));
        x = dir.resolve("x.npy");
        float[] v = new float[2 * 3 * 16];
        for (int i = 0; i < v.length; i++) v[i] = (i % 7) - 3;
        Npy.write(x, new long[] {2, 3, 4, 4}, v);
        out = dir.resolve("logits.npy");
    }

    Path write(String name, Onnx.ModelProto.Builder m) throws IOException {
        Path p = dir.resolve(name);
        Files.createDirectories(p.getParent());
        Files.write(p, m.build().toByteArray());
        return p;
    }

    static Onnx.ModelProto.Builder model(Onnx.GraphProto.Builder g) {
        return Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).setGraph(g.setName("g"));
    }

    static Onnx.AttributeProto ints(String name, long... v) {
        Onnx.AttributeProto.Builder a = Onnx.AttributeProto.newBuilder().setName(name).setType(Onnx.AttributeProto.AttributeType.INTS);
        for (long l : v) a.addInts(l);
        return a.build();
    }

    static Onnx.TensorProto longs(String name, long... v) {
        return Onnx.TensorProto.newBuilder().setName(name).setDataType(7).addDims(v.length)
                .addAllInt64Data(Arrays.stream(v).boxed().toList()).build();
    }

    String predictFails(Path model, Path input, String... extra) {
        List<String> args = new ArrayList<>(List.of("predict", "--model", model.toString(), "--input", input.toString(),
                "--out", out.toString()));
        args.addAll(List.of(extra));
        CliRunner r = CliRunner.run(args.toArray(String[]::new));
        assertEquals(2, r.code(), r.err());
        return r.errorLine();
    }

    String explainFails(Path model, Path input, Path to, String... extra) {
        List<String> args = new ArrayList<>(List.of("explain", "--model", model.toString(), "--input", input.toString(),
                "--out", to.toString(), "--no-progress"));
        args.addAll(List.of(extra));
        CliRunner r = CliRunner.run(args.toArray(String[]::new));
        assertEquals(2, r.code(), r.err());
        return r.errorLine();
    }

    static void names(String line, String... words) {
        for (String w : words) assertTrue(line.contains(w), "'" + w + "' not named in: " + line);
    }

    // ---- 1. thread counts

    @Test
    void absurdThreadCountsAreOneLine() {
        names(predictFails(good, x, "--threads", "8000"), "--threads", "between 1 and");
        names(explainFails(good, x, dir.resolve("a.npy"), "--method", "saliency", "--threads", "10000"), "--threads");
        names(predictFails(good, x, "--threads", "0"), "--threads");
        assertFalse(Files.exists(out));
    }

    // ---- 2. Errors never pass picocli's handler

    @Test
    void anErrorInACommandIsOneLine() {
        CommandLine cl = Main.commandLine();
        cl.addSubcommand("boom", new Boom());
        java.io.StringWriter err = new java.io.StringWriter();
        cl.setErr(new java.io.PrintWriter(err, true));
        int code = cl.execute("boom");
        assertEquals(2, code);
        String e = err.toString().strip();
        assertEquals(1, e.lines().count(), e);
        names(e, "salient: error: out of memory");
    }

    @CommandLine.Command(name = "boom")
    static final class Boom implements Callable<Integer> {
        @Override
        public Integer call() {
            throw new OutOfMemoryError("Java heap space");
        }
    }

    // ---- 2/3/4. images: sizes from the header, long arithmetic, windowed resize

    @Test
    void aHugeImageIsRefusedFromItsHeader() throws IOException {
        Path png = Png.write(dir.resolve("tall.png"), 5, 20_000_000, 0, 8, 128); // ~100 KB, 100 Mpx
        names(predictFails(good, png), "tall.png", "5x20000000", "would need");
        Path rgba = Png.write(dir.resolve("rgba16.png"), 23_000, 23_000, 6, 16, 7, 10); // 16-bit RGBA: a 4 GiB raster
        names(predictFails(good, rgba), "rgba16.png", "23000x23000", "would need");
    }

    @Test
    void extremeAspectRatiosAndResizesWork() throws IOException {
        Path wide = Png.write(dir.resolve("wide.png"), 1_000_000, 1, 2, 8, 200); // resized: 4 x 4,000,000
        CliRunner r = CliRunner.run("predict", "--model", good.toString(), "--input", wide.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(new long[] {1, 2}, Npy.read(out).shape());
        Path thin = Png.write(dir.resolve("thin.png"), 1, 100_000, 2, 8, 30);
        r = CliRunner.run("predict", "--model", good.toString(), "--input", thin.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        Path small = Png.write(dir.resolve("small.png"), 6, 5, 2, 8, 90);
        for (String resize : new String[] {"40000", "100000"}) {
            r = CliRunner.run("predict", "--model", good.toString(), "--input", small.toString(), "--out",
                    out.toString(), "--resize", resize);
            assertEquals(0, r.code(), resize + ": " + r.err());
        }
        names(predictFails(good, small, "--resize", "5000000"), "--resize", "at most");
    }

    // ---- 3. empty and rank-1 outputs

    @Test
    void emptyOutputIsRefusedBeforeAnythingIsWritten() throws IOException {
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder()
                .addInput(value("x", -1, 3, 4, 4)).addOutput(value("y", -1, 0))
                .addInitializer(longs("st", 0)).addInitializer(longs("en", 0)).addInitializer(longs("ax", 1))
                .addNode(node("Flatten", "flat", new String[] {"x"}, "f"))
                .addNode(node("Slice", "cut", new String[] {"f", "st", "en", "ax"}, "y"));
        Path m = write("empty/model.onnx", model(g));
        names(predictFails(m, x), "empty");
        assertFalse(Files.exists(out), "nothing written");
    }

    @Test
    void rankOneOutputIsRefusedByEveryMethod() throws IOException {
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder()
                .addInput(value("x", -1, 3, 4, 4)).addOutput(value("y", -1))
                .addInitializer(floats("W", new long[] {1, 3, 1, 1}, 1, 2, 3)).addInitializer(longs("shape", -1))
                .addNode(node("Conv", "conv", new String[] {"x", "W"}, "c"))
                .addNode(node("GlobalAveragePool", "gap", new String[] {"c"}, "p"))
                .addNode(node("Reshape", "flat", new String[] {"p", "shape"}, "y"));
        Path m = write("rank1/model.onnx", model(g));
        for (String method : new String[] {"ig", "saliency", "gradcam"})
            names(explainFails(m, x, dir.resolve(method + ".npy"), "--method", method), "(N, classes)");
    }

    // ---- 4. the plan knows its memory before it allocates

    @Test
    void aPlanOverTheBudgetIsRefusedSayingWhatItNeeds() throws IOException {
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder()
                .addInput(value("x", -1, 3, 4, 4)).addOutput(value("y", -1, 2)).addInitializer(goodWeight())
                .addNode(node("Conv", "conv0", new String[] {"x", "W"}, "c").toBuilder()
                        .addAttribute(ints("pads", 1000, 1000, 1000, 1000)).build())
                .addNode(node("GlobalAveragePool", "gap", new String[] {"c"}, "p"))
                .addNode(node("Flatten", "flat", new String[] {"p"}, "y"));
        Path m = write("pads/model.onnx", model(g));
        // (2,2,2004,2004) floats = 61 MiB for the batch
        String line = predictFails(m, x, "--memory-budget", "16");
        names(line, "needs", "MiB", "memory budget of 16 MiB", "--memory-budget");
        assertFalse(Files.exists(out));
        names(explainFails(m, x, dir.resolve("e.npy"), "--method", "saliency", "--memory-budget", "16"), "needs", "MiB");
        CliRunner r = CliRunner.run("predict", "--model", m.toString(), "--input", x.toString(), "--out", out.toString(),
                "--memory-budget", "256");
        assertEquals(0, r.code(), r.err());
        names(predictFails(m, x, "--memory-budget", "-1"), "--memory-budget");
    }

    // ---- 5. FIFO

    @Test
    void aFifoInputIsRefusedNotReadForever() throws Exception {
        Path fifo = dir.resolve("pipe.npy");
        Process p = new ProcessBuilder("mkfifo", fifo.toString()).start();
        org.junit.jupiter.api.Assumptions.assumeTrue(p.waitFor() == 0, "mkfifo is not available");
        names(predictFails(good, fifo), "pipe.npy", "not a regular file");
        names(explainFails(good, x, dir.resolve("e.npy"), "--method", "ig", "--baseline", fifo.toString()), "pipe.npy");
    }

    // ---- 6. NaN

    Path nanModel() throws IOException {
        return write("nan/model.onnx", convModel(floats("W", new long[] {2, 3, 1, 1}, Float.NaN, 2, 3, -1, 0.5f, 0.25f).build()));
    }

    @Test
    void nonFiniteLogitsWarnAndStrictFails() throws IOException {
        Path m = nanModel();
        CliRunner r = CliRunner.run("predict", "--model", m.toString(), "--input", x.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        names(r.err(), "salient: warning: 2 non-finite logit(s)");
        names(predictFails(m, x, "--strict"), "non-finite", "--strict");
    }

    @Test
    void reportJsonIsStrictJsonWithNullsAndCounts() throws IOException {
        Path m = nanModel();
        Path folder = dir.resolve("nanrun");
        CliRunner r = CliRunner.run("explain", "--model", m.toString(), "--method", "saliency", "--input", x.toString(),
                "--out", folder.toString());
        assertEquals(0, r.code(), r.err());
        names(r.err(), "salient: warning:", "non-finite");
        String json = Files.readString(folder.resolve("report.json"));
        JsonReader strict = new JsonReader(new StringReader(json));
        strict.setLenient(false);
        JsonObject rep = JsonParser.parseReader(strict).getAsJsonObject(); // throws on a bare NaN
        assertTrue(rep.getAsJsonArray("items").get(0).getAsJsonObject().get("score").isJsonNull());
        JsonObject nf = rep.getAsJsonObject("non_finite");
        assertTrue(nf.get("attribution_and_score_values").getAsLong() > 0);
        assertEquals(2, nf.get("report_numbers_written_as_null").getAsLong());
        assertTrue(rep.get("complete").getAsBoolean());
        names(explainFails(m, x, dir.resolve("nan2"), "--method", "saliency", "--strict"), "non-finite");
    }

    @Test
    void anErrorAfterSomeRowsKeepsThemAndRecordsTheError() throws IOException {
        Path in = Files.createDirectories(dir.resolve("two"));
        float[] a = new float[48], b = new float[48];
        Arrays.fill(a, 0.5f);
        Arrays.fill(b, 1e38f); // finite input, infinite logits (3 x 1e38)
        Npy.write(in.resolve("a.npy"), new long[] {1, 3, 4, 4}, a);
        Npy.write(in.resolve("b.npy"), new long[] {1, 3, 4, 4}, b);
        Path folder = dir.resolve("strictrun");
        names(explainFails(good, in, folder, "--method", "saliency", "--batch", "1", "--strict"), "non-finite", "b.npy");
        assertEquals(1, Npy.read(folder.resolve("attributions.npy")).dim(0));
        JsonObject rep = JsonParser.parseString(Files.readString(folder.resolve("report.json"))).getAsJsonObject();
        assertFalse(rep.get("complete").getAsBoolean());
        assertEquals(1, rep.get("rows").getAsInt());
        names(rep.get("error").getAsString(), "non-finite");
    }

    @Test
    void nonFiniteOptionsAreRefused() {
        Path to = dir.resolve("o.npy");
        names(explainFails(good, x, to, "--method", "ig", "--baseline", "constant:NaN"), "constant", "NaN");
        names(explainFails(good, x, to, "--method", "ig", "--baseline", "constant:Infinity"), "constant");
        names(explainFails(good, x, to, "--method", "ig", "--baseline", "blur:NaN"), "blur");
        names(explainFails(good, x, to, "--method", "smoothgrad", "--noise-std", "NaN"), "--noise-std");
        names(explainFails(good, x, to, "--method", "smoothgrad", "--noise-std", "-1"), "--noise-std");
        names(explainFails(good, x, to, "--method", "smoothgrad", "--noise-std", "Infinity"), "--noise-std");
        names(explainFails(good, x, to, "--method", "saliency", "--alpha", "NaN"), "--alpha");
        assertFalse(Files.exists(to));
    }

    // ---- 7. model validation at load, per op

    @Test
    void opSignaturesAreCheckedAtLoad() throws IOException {
        Onnx.TensorProto b = floats("B", new long[] {2}, 0, 0).build();
        Onnx.ModelProto.Builder relu3 = convModel(goodWeight());
        relu3.getGraphBuilder().addInitializer(b).setNode(0, node("Relu", "conv0", new String[] {"x", "W", "B"}, "c"));
        names(predictFails(write("relu3/model.onnx", relu3), x), "conv0", "Relu", "3 inputs", "at most 1");
        Onnx.ModelProto.Builder id3 = convModel(goodWeight());
        id3.getGraphBuilder().addInitializer(b).setNode(0, node("Identity", "conv0", new String[] {"x", "W", "B"}, "c"));
        names(predictFails(write("id3/model.onnx", id3), x), "conv0", "Identity", "3 inputs");

        Onnx.TensorProto intW = Onnx.TensorProto.newBuilder().setName("W").setDataType(6).addAllDims(List.of(2L, 3L, 1L, 1L))
                .addAllInt32Data(List.of(1, 2, 3, -1, 5, 7)).build();
        names(predictFails(write("int/model.onnx", convModel(intW)), x), "conv0", "'W'", "integer");

        Onnx.ModelProto.Builder t99 = convModel(goodWeight());
        Onnx.ValueInfoProto in = t99.getGraph().getInput(0);
        t99.getGraphBuilder().setInput(0, in.toBuilder().setType(in.getType().toBuilder()
                .setTensorType(in.getType().getTensorType().toBuilder().setElemType(99))));
        names(predictFails(write("t99/model.onnx", t99), x), "'x'", "type 99");

        Path folder = Files.createDirectories(dir.resolve("len"));
        Files.write(folder.resolve("w.bin"), new byte[24]);
        Onnx.TensorProto ext = BadInputTest.external("W", "w.bin", 2, 3, 1, 1).toBuilder()
                .addExternalData(Onnx.StringStringEntryProto.newBuilder().setKey("length").setValue("-1")).build();
        names(predictFails(write("len/model.onnx", convModel(ext)), x), "'W'", "length -1");

        Onnx.ModelProto.Builder dup = convModel(goodWeight());
        dup.getGraphBuilder().addInitializer(floats("W", new long[] {2, 3, 1, 1}, 9, 9, 9, 9, 9, 9));
        names(predictFails(write("dup/model.onnx", dup), x), "'W'", "defined twice");
    }

    // ---- 8. steps

    @Test
    void tooManyStepsIsOneLineAtOnce() {
        long t0 = System.nanoTime();
        names(explainFails(good, x, dir.resolve("s.npy"), "--method", "ig", "--steps", "100000"), "100000", "maximum of 10000");
        assertTrue(System.nanoTime() - t0 < 20_000_000_000L);
    }

    // ---- 9. outputs: refused overwrites, re-runs, skipped inputs

    static void image(Path p, int seed) throws IOException {
        BufferedImage img = new BufferedImage(6, 5, BufferedImage.TYPE_INT_RGB);
        java.util.Random r = new java.util.Random(seed);
        for (int yy = 0; yy < 5; yy++) for (int xx = 0; xx < 6; xx++) img.setRGB(xx, yy, r.nextInt(1 << 24));
        Files.createDirectories(p.getParent());
        ImageIO.write(img, "png", p.toFile());
    }

    @Test
    void npyOutputNeverOverwritesOtherFilesOrTheInput() throws IOException {
        Path notes = dir.resolve("notes.npy");
        Files.writeString(notes, "my notes, not an array");
        names(CliRunner.run("predict", "--model", good.toString(), "--input", x.toString(), "--out", notes.toString())
                .errorLine(), "notes.npy", "not an NPY");
        assertEquals("my notes, not an array", Files.readString(notes));
        CliRunner r = CliRunner.run("predict", "--model", good.toString(), "--input", x.toString(), "--out", x.toString());
        names(r.errorLine(), "also an input");
        assertArrayEquals(new long[] {2, 3, 4, 4}, Npy.read(x).shape());
        names(explainFails(good, x, notes, "--method", "saliency"), "not an NPY");
        names(explainFails(good, x, x, "--method", "saliency"), "also an input");
        assertArrayEquals(new long[] {2, 3, 4, 4}, Npy.read(x).shape());
    }

    @Test
    void aFolderWithAnotherRunsOutputsIsRefusedUnlessOverwrite() throws IOException {
        Path imgs = dir.resolve("imgs");
        for (int i = 0; i < 3; i++) image(imgs.resolve("im" + i + ".png"), i);
        Path folder = dir.resolve("run");
        String[] args = {"explain", "--model", good.toString(), "--method", "gradcam", "--input", imgs.toString(),
                "--out", folder.toString(), "--no-progress"};
        assertEquals(0, CliRunner.run(args).code());
        Files.delete(imgs.resolve("im2.png"));
        names(CliRunner.run(args).errorLine(), "another run", "--overwrite");
        List<String> more = new ArrayList<>(List.of(args));
        more.add("--overwrite");
        CliRunner r = CliRunner.run(more.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        long overlays;
        try (var s = Files.list(folder)) {
            overlays = s.filter(p -> RunOutput.OVERLAY.matcher(p.getFileName().toString()).matches()).count();
        }
        assertEquals(2, overlays, "stale overlays were cleared");
        assertTrue(Files.isRegularFile(folder.resolve("overview.png")), "the contact sheet was written again");
        assertEquals(2, Npy.read(folder.resolve("attributions.npy")).dim(0));
    }

    @Test
    void folderRunsRecordSkippedInputs() throws IOException {
        Path imgs = dir.resolve("mixed");
        image(imgs.resolve("a.png"), 1);
        Files.writeString(imgs.resolve("b.png"), "not a png");
        image(imgs.resolve("c.png"), 3);
        Path npy = dir.resolve("maps.npy");
        CliRunner r = CliRunner.run("explain", "--model", good.toString(), "--method", "saliency", "--input",
                imgs.toString(), "--out", npy.toString(), "--no-progress");
        assertEquals(2, r.code(), r.err());
        assertEquals(2, Npy.read(npy).dim(0));
        JsonObject side = JsonParser.parseString(Files.readString(dir.resolve("maps.skipped.json"))).getAsJsonObject();
        assertEquals(1, side.getAsJsonArray("skipped").size());
        names(side.toString(), "b.png");

        // predict skips the bad image too, and records it
        r = CliRunner.run("predict", "--model", good.toString(), "--input", imgs.toString(), "--out", out.toString());
        assertEquals(2, r.code(), r.err());
        names(r.err(), "salient: warning: skipped", "b.png");
        NdArray logits = Npy.read(out);
        assertArrayEquals(new long[] {2, 2}, logits.shape());
        names(Files.readString(dir.resolve("logits.skipped.json")), "b.png");
    }

    // ---- 10. error lines are capped

    @Test
    void errorLinesQuoteAtMostAFewHundredCharacters() throws IOException {
        float[] big = new float[3000];
        Arrays.fill(big, 1); // reshape (N,3,4,4) to (1,1,...,1): impossible, and quoting the shape is 9 KB
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder()
                .addInput(value("x", -1, 3, 4, 4)).addOutput(value("y", -1, 2))
                .addInitializer(floats("Wbig", new long[] {3000}, big))
                .addNode(node("Reshape", "rs", new String[] {"x", "Wbig"}, "y"));
        String line = predictFails(write("reshape/model.onnx", model(g)), x);
        assertTrue(line.length() < 700, line.length() + " characters: " + line);
        names(line, "rs");
        assertTrue(Main.oneLine("x".repeat(20_000)).length() < 500);
    }
}
