package dev.salient.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code explain --noise-tunnel}: Captum's NoiseTunnel over a method from the command line: seeded noise
 * made on the backend (maps at two memory budgets agree to float rounding, a rerun is the same bytes,
 * another seed differs), its settings in report.json, and one line for each bad value.
 */
class NoiseTunnelCliTest {
    static final Path MODEL = ExplainCommandTest.MODEL, IMAGES = ExplainCommandTest.IMAGES;

    @TempDir
    Path dir;

    private CliRunner explain(String method, Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("explain", "--model", MODEL.toString(), "--method", method, "--input",
                IMAGES.toString(), "--out", out.toString(), "--mean", "0.286", "--std", "0.353", "--device", "cpu",
                "--no-progress"));
        a.addAll(List.of(more));
        return CliRunner.run(a.toArray(String[]::new));
    }

    @Test
    void seededNoiseAtTwoMemoryBudgets() throws IOException {
        String[][] runs = {{"ig", "--steps", "8", "--noise-tunnel", "smoothgrad"},
                {"gradcam", "--noise-tunnel", "vargrad"}};
        for (String[] r : runs) {
            String[] opts = java.util.Arrays.copyOfRange(r, 1, r.length);
            Path big = dir.resolve(r[0] + "-big.npy"), small = dir.resolve(r[0] + "-small.npy");
            List<String> common = new ArrayList<>(List.of(opts));
            common.addAll(List.of("--nt-samples", "6", "--nt-stdev", "0.25", "--nt-seed", "5"));
            List<String> a = new ArrayList<>(common);
            a.addAll(List.of("--memory-budget", "512"));
            List<String> b = new ArrayList<>(common);
            b.addAll(List.of("--memory-budget", "2"));
            CliRunner ra = explain(r[0], big, a.toArray(String[]::new));
            assertEquals(0, ra.code(), ra.err());
            CliRunner rb = explain(r[0], small, b.toArray(String[]::new));
            assertEquals(0, rb.code(), rb.err());
            NdArray x = Npy.read(big), y = Npy.read(small);
            assertArrayEquals(x.shape(), y.shape());
            // the noise is the same bytes at any budget (NoiseTunnelTest); the maps then agree up to the
            // engine's float rounding, whose convolutions sum in another order at other chunk sizes
            float max = 0, diff = 0;
            for (int i = 0; i < x.data().length; i++) {
                max = Math.max(max, Math.abs(x.data()[i]));
                diff = Math.max(diff, Math.abs(x.data()[i] - y.data()[i]));
            }
            assertTrue(max > 0, r[0]);
            assertTrue(diff <= 1e-5f * max, r[0] + ": max difference " + diff + " of max " + max);
            // a rerun at the same budget is the same bytes
            Path again = dir.resolve(r[0] + "-again.npy");
            assertEquals(0, explain(r[0], again, b.toArray(String[]::new)).code());
            assertArrayEquals(Files.readAllBytes(small), Files.readAllBytes(again), r[0] + ": a rerun is the same bytes");
            // and the noise reached the maps: a different seed gives other values
            Path other = dir.resolve(r[0] + "-seed6.npy");
            List<String> c = new ArrayList<>(a);
            c.set(c.indexOf("5"), "6");
            assertEquals(0, explain(r[0], other, c.toArray(String[]::new)).code());
            assertFalse(java.util.Arrays.equals(Files.readAllBytes(big), Files.readAllBytes(other)), r[0] + ": seed");
        }
    }

    @Test
    void reportRecordsTheTunnel() throws IOException {
        Path out = dir.resolve("sgsq");
        CliRunner r = explain("saliency", out, "--noise-tunnel", "smoothgrad_sq", "--nt-samples", "2");
        assertEquals(0, r.code(), r.err());
        JsonObject rep = JsonParser.parseString(Files.readString(out.resolve("report.json"))).getAsJsonObject();
        JsonObject nt = rep.getAsJsonObject("options").getAsJsonObject("noise_tunnel");
        assertEquals("smoothgrad_sq", nt.get("type").getAsString());
        assertEquals(2, nt.get("samples").getAsInt());
        assertEquals(1.0, nt.get("stdev").getAsDouble());
        assertEquals(0, nt.get("seed").getAsLong());
        assertEquals(8, Npy.read(out.resolve("attributions.npy")).dim(0));
    }

    @Test
    void badValuesAreOneLine() {
        Path out = dir.resolve("bad.npy");
        assertTrue(explain("ig", out, "--noise-tunnel", "mean").errorLine()
                .contains("--noise-tunnel must be smoothgrad, smoothgrad_sq or vargrad, got 'mean'"));
        assertTrue(explain("ig", out, "--noise-tunnel", "smoothgrad", "--nt-samples", "0").errorLine()
                .contains("--nt-samples must be in [1, 1000000], got 0"));
        assertTrue(explain("ig", out, "--noise-tunnel", "vargrad", "--nt-samples", "1").errorLine()
                .contains("needs --nt-samples >= 2"));
        assertTrue(explain("ig", out, "--noise-tunnel", "smoothgrad", "--nt-stdev", "-1").errorLine()
                .contains("--nt-stdev must be finite and >= 0"));
        assertTrue(explain("ig", out, "--noise-tunnel", "smoothgrad", "--nt-stdev", "NaN").errorLine()
                .contains("--nt-stdev must be finite and >= 0"));
        assertTrue(explain("ig", out, "--nt-samples", "4").errorLine().contains("--nt-samples needs --noise-tunnel"));
        assertTrue(explain("occlusion", out, "--noise-tunnel", "smoothgrad").errorLine()
                .contains("occlusion is a perturbation method"));
        assertTrue(explain("smoothgrad", out, "--noise-tunnel", "vargrad").errorLine()
                .contains("already a noise tunnel"));
        assertTrue(explain("ig", out, "--noise-tunnel", "smoothgrad", "--nt-samples", "many").errorLine()
                .contains("--nt-samples"));
        assertFalse(Files.exists(out));
    }
}
