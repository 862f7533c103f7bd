package dev.salient.cli;

import static dev.salient.cli.BadInputTest.floats;
import static dev.salient.cli.BadInputTest.node;
import static dev.salient.cli.BadInputTest.value;
import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.onnx.proto.Onnx;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI in a child JVM, stopped at a seeded random point of a folder run by
 * SIGKILL, SIGINT or SIGTERM: {@code attributions.npy} always loads, with
 * exactly the rows whose overlays exist; SIGINT and SIGTERM also leave a
 * {@code report.json} marked incomplete and exit 130 and 143. Also: an absurd
 * {@code OMP_NUM_THREADS} does not crash the JVM. The kill point's seed is the
 * system property {@code salient.killSeed} (default fixed).
 */
class InterruptedRunTest {
    @TempDir
    Path dir;

    Path model, images;
    static final Pattern OVERLAY = Pattern.compile("(\\d{4})_.*\\.png");

    @BeforeEach
    void setUp() throws IOException {
        // x (N,3,32,32) -> Conv 8x3x3x3 pad 1 -> Relu -> GlobalAveragePool -> Flatten -> (N,8)
        float[] w = new float[8 * 27];
        Random r = new Random(3);
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian() * 0.3f;
        Onnx.GraphProto g = Onnx.GraphProto.newBuilder().setName("g")
                .addInput(value("x", -1, 3, 32, 32)).addOutput(value("y", -1, 8))
                .addInitializer(floats("W", new long[] {8, 3, 3, 3}, w))
                .addNode(node("Conv", "conv", new String[] {"x", "W"}, "c").toBuilder()
                        .addAttribute(HardeningTest.ints("pads", 1, 1, 1, 1)).build())
                .addNode(node("Relu", "relu", new String[] {"c"}, "a"))
                .addNode(node("GlobalAveragePool", "gap", new String[] {"a"}, "p"))
                .addNode(node("Flatten", "flat", new String[] {"p"}, "y")).build();
        model = dir.resolve("model.onnx");
        Files.write(model, Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setVersion(13)).setGraph(g).build().toByteArray());
        images = Files.createDirectories(dir.resolve("images"));
        for (int i = 0; i < 80; i++) {
            BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < 32; y++) for (int x = 0; x < 32; x++) img.setRGB(x, y, r.nextInt(1 << 24));
            ImageIO.write(img, "png", images.resolve(String.format("img%03d.png", i)).toFile());
        }
    }

    /** java ... dev.salient.cli.Main args, with SIGINT/SIGTERM at their default disposition (perl resets them). */
    static ProcessBuilder cli(Path log, String... args) {
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/perl")))
            cmd.addAll(List.of("/usr/bin/perl", "-e", "$SIG{INT} = $SIG{TERM} = 'DEFAULT'; exec @ARGV or die"));
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of("-Xmx512m", "-cp", System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                "dev.salient.cli.Main"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("OMP_WAIT_POLICY", "passive");
        pb.environment().put("OMP_NUM_THREADS", "1");
        return pb;
    }

    @Test
    void sigkill() throws Exception {
        stopAtRandomPoint("KILL", 1);
    }

    @Test
    void sigint() throws Exception {
        stopAtRandomPoint("INT", 2);
    }

    @Test
    void sigterm() throws Exception {
        stopAtRandomPoint("TERM", 3);
    }

    void stopAtRandomPoint(String signal, long salt) throws Exception {
        long seed = Long.getLong("salient.killSeed", 20261201L) * 31 + salt;
        Path out = dir.resolve("out"), log = dir.resolve("log.txt");
        // 512 IG steps: the whole run takes several seconds even on a quiet machine (at 64 steps it
        // took 1.06 s there and finished before a stop point drawn up to 1.5 s), while each batch
        // of 2 images stays short, so SIGINT/SIGTERM still finish it quickly
        Process p = cli(log, "explain", "--model", model.toString(), "--method", "ig", "--steps", "512", "--batch", "2",
                "--input", images.toString(), "--out", out.toString(), "--no-progress").start();
        try {
            Path npy = out.resolve("attributions.npy");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Files.exists(npy) && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(5);
            assertTrue(p.isAlive(), "the run ended before it could be stopped: " + Files.readString(log));
            long delay = new Random(seed).nextInt(1500);
            Thread.sleep(delay);
            assertTrue(p.isAlive(), "the run ended before the stop point (" + delay + " ms): " + Files.readString(log));
            switch (signal) {
                case "KILL" -> p.destroyForcibly();
                case "TERM" -> p.destroy();
                default -> new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start().waitFor();
            }
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "did not stop");
            int code = p.exitValue();
            String logText = Files.readString(log, StandardCharsets.UTF_8);
            NdArray a = Npy.read(npy); // always a valid NPY
            int rows = (int) a.dim(0);
            TreeSet<Integer> overlays = new TreeSet<>();
            try (var s = Files.list(out)) {
                for (Path f : (Iterable<Path>) s::iterator) {
                    Matcher m = OVERLAY.matcher(f.getFileName().toString());
                    if (m.matches()) overlays.add(Integer.parseInt(m.group(1)));
                }
            }
            // a batch commits its overlays (renamed into place) and then the NPY header's row count;
            // SIGKILL can land between the two, leaving the overlays of one uncounted batch (at most
            // --batch of them) after the counted rows. A graceful stop finishes the batch: equal.
            int extra = overlays.size() - rows;
            assertTrue(extra == 0 || (signal.equals("KILL") && extra > 0 && extra <= 2),
                    "rows vs overlays after SIG" + signal + " at +" + delay + " ms: " + rows + " rows, overlays " + overlays
                            + ": " + logText);
            for (int r = 0; r < rows + extra; r++)
                assertTrue(overlays.contains(r), "overlay of row " + r + " missing after SIG" + signal + ": " + overlays);
            for (int i = 0; i < a.data().length; i++) assertTrue(Float.isFinite(a.data()[i]), "row data at " + i);
            if (signal.equals("KILL")) {
                assertEquals(137, code, logText);
                return;
            }
            assertEquals(signal.equals("INT") ? 130 : 143, code, logText);
            assertFalse(logText.contains("Exception"), logText);
            JsonObject rep = JsonParser.parseString(Files.readString(out.resolve("report.json"))).getAsJsonObject();
            assertFalse(rep.get("complete").getAsBoolean());
            assertEquals("SIG" + signal, rep.get("stopped_by").getAsString());
            assertEquals(rows, rep.get("rows").getAsInt());
            assertEquals(rows, rep.getAsJsonArray("items").size());
            assertTrue(rows < 80, "stopped early");
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void absurdOmpNumThreadsDoesNotCrashTheJvm() throws Exception {
        Path x = dir.resolve("x.npy"), out = dir.resolve("logits.npy"), log = dir.resolve("omp.txt");
        Npy.write(x, new long[] {2, 3, 32, 32}, new float[2 * 3 * 32 * 32]);
        ProcessBuilder pb = cli(log, "predict", "--model", model.toString(), "--input", x.toString(), "--out", out.toString());
        pb.environment().put("OMP_NUM_THREADS", "20000");
        Process p = pb.start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), Files.readString(log));
        assertArrayEquals(new long[] {2, 8}, Npy.read(out).shape());
    }
}
