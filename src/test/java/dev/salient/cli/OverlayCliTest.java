package dev.salient.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.io.Npy;
import dev.salient.report.ContactSheet;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Overlays a person can read, from the CLI: 28 x 28 Fashion-MNIST maps written at
 * 224 x 224, the contact sheet of a folder run, Captum's options for input-shaped
 * maps (recorded in report.json), and one line for each bad overlay option.
 */
class OverlayCliTest {
    static final Path MODEL = ExplainCommandTest.MODEL, IMAGES = ExplainCommandTest.IMAGES;

    @TempDir
    Path dir;

    static List<Path> overlays(Path out) throws IOException {
        try (Stream<Path> s = Files.list(out)) {
            return s.filter(p -> RunOutput.OVERLAY.matcher(p.getFileName().toString()).matches()).sorted().toList();
        }
    }

    static int rowsOfSheet(BufferedImage sheet) {
        int rowH = ContactSheet.LABEL + ContactSheet.CELL + ContactSheet.PAD;
        int rest = sheet.getHeight() - 2 * ContactSheet.HEADER - ContactSheet.PAD;
        assertEquals(0, rest % rowH, "sheet height " + sheet.getHeight());
        return rest / rowH;
    }

    @Test
    void folderRunWritesReadableOverlaysAndAContactSheet() throws IOException {
        Path out = dir.resolve("ig");
        CliRunner r = CliRunner.run("explain", "--model", MODEL.toString(), "--method", "ig", "--steps", "4", "--input",
                IMAGES.toString(), "--out", out.toString(), "--mean", "0.286", "--std", "0.353", "--sign", "all",
                "--style", "heat", "--outlier-perc", "1.5", "--no-progress", "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        List<Path> pngs = overlays(out);
        assertEquals(8, pngs.size());
        for (Path p : pngs) {
            BufferedImage img = ImageIO.read(p.toFile());
            assertEquals(224, img.getWidth(), p.toString());
            assertEquals(224, img.getHeight(), p.toString());
            // nearest-neighbour: every 8 x 8 block is one colour
            for (int y = 0; y < 224; y += 8)
                for (int x = 0; x < 224; x += 8)
                    for (int d = 1; d < 8; d++)
                        assertEquals(img.getRGB(x, y), img.getRGB(x + d, y + d), p + " block " + x + "," + y);
        }
        BufferedImage sheet = ImageIO.read(out.resolve("overview.png").toFile());
        assertEquals(ContactSheet.PAD + 2 * (ContactSheet.CELL + ContactSheet.PAD), sheet.getWidth());
        assertEquals(8, rowsOfSheet(sheet));
        JsonObject rep = JsonParser.parseString(Files.readString(out.resolve("report.json"))).getAsJsonObject();
        JsonObject o = rep.getAsJsonObject("overlays");
        assertEquals("all", o.get("sign").getAsString());
        assertEquals("heat", o.get("style").getAsString());
        assertEquals(1.5, o.get("outlier_perc").getAsDouble());
        assertEquals("overview.png", rep.get("overview").getAsString());
    }

    @Test
    void topTwoMapsAreTwoColumnsAndNpyFoldersGetAPictureOfTheInput() throws IOException {
        Path in = Files.createDirectories(dir.resolve("npys"));
        float[] x = new float[3 * 28 * 28];
        for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(0.1 * i);
        Npy.write(in.resolve("x.npy"), new long[] {3, 1, 28, 28}, x);
        Path out = dir.resolve("cam");
        CliRunner r = CliRunner.run("explain", "--model", MODEL.toString(), "--method", "gradcam", "--input", in.toString(),
                "--out", out.toString(), "--target", "top2", "--no-progress", "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        assertEquals(6, overlays(out).size());
        BufferedImage sheet = ImageIO.read(out.resolve("overview.png").toFile());
        assertEquals(ContactSheet.PAD + 3 * (ContactSheet.CELL + ContactSheet.PAD), sheet.getWidth());
        assertEquals(3, rowsOfSheet(sheet));
        // the input cell of the first row is a picture of the input, not the empty grey of a missing cell
        int y0 = ContactSheet.HEADER + ContactSheet.PAD + ContactSheet.LABEL, x0 = ContactSheet.PAD;
        java.util.Set<Integer> colours = new java.util.HashSet<>();
        for (int y = y0; y < y0 + ContactSheet.CELL; y += 7)
            for (int x1 = x0; x1 < x0 + ContactSheet.CELL; x1 += 7) colours.add(sheet.getRGB(x1, y));
        assertTrue(colours.size() > 10, "input cell colours: " + colours.size());
    }

    @Test
    void aSingleFileRunWritesNoContactSheet() throws IOException {
        Path out = dir.resolve("one");
        CliRunner r = CliRunner.run("explain", "--model", MODEL.toString(), "--method", "saliency", "--input",
                IMAGES.resolve("00_ankle_boot.png").toString(), "--out", out.toString(), "--style", "masked",
                "--sign", "positive", "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        assertEquals(1, overlays(out).size());
        assertEquals(224, ImageIO.read(overlays(out).get(0).toFile()).getWidth());
        assertFalse(Files.exists(out.resolve("overview.png")));
    }

    @Test
    void theDemoShowsEveryMethodSideBySide() throws IOException {
        Path out = dir.resolve("demo");
        CliRunner r = CliRunner.run("demo", "--out", out.toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("overview.png"), r.out());
        BufferedImage sheet = ImageIO.read(out.resolve("overview.png").toFile());
        assertEquals(ContactSheet.PAD + (1 + DemoCommand.METHODS.size()) * (ContactSheet.CELL + ContactSheet.PAD),
                sheet.getWidth());
        assertEquals(8, rowsOfSheet(sheet));
        for (String m : DemoCommand.METHODS) {
            Path d = out.resolve(m.replace("+", "p"));
            assertEquals(8, overlays(d).size(), m);
            assertEquals(224, ImageIO.read(overlays(d).get(0).toFile()).getHeight(), m);
            assertTrue(Files.isRegularFile(d.resolve("overview.png")), m);
        }
    }

    @Test
    void badOverlayOptionsAreOneLine() {
        String[] base = {"explain", "--model", MODEL.toString(), "--method", "ig", "--input",
                IMAGES.resolve("00_ankle_boot.png").toString(), "--out", dir.resolve("bad").toString(), "--device", "cpu"};
        assertTrue(run(base, "--sign", "both").errorLine().contains("--sign must be positive, negative, absolute or all"));
        assertTrue(run(base, "--style", "glow").errorLine().contains("--style must be heat, blended or masked"));
        assertTrue(run(base, "--outlier-perc", "101").errorLine().contains("--outlier-perc must be in [0,100]"));
        assertTrue(run(base, "--outlier-perc", "lots").errorLine().contains("--outlier-perc"));
        assertTrue(run(base, "--style", "masked", "--sign", "all").errorLine().contains("cannot show both signs"));
        assertTrue(run(base, "--colormap", "rainbow").errorLine().contains("unknown colormap 'rainbow'"));
        assertFalse(Files.exists(dir.resolve("bad").resolve("report.json")));
    }

    private static CliRunner run(String[] base, String... more) {
        String[] all = java.util.Arrays.copyOf(base, base.length + more.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return CliRunner.run(all);
    }
}
