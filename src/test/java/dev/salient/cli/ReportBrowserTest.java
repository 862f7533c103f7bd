package dev.salient.cli;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.awt.image.BufferedImage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Renders a real {@code report.html} of {@code salient evaluate} in headless Chromium (Debian's
 * {@code chromium}, which .ci/run installs): the screenshot is not blank, and the DOM Chromium
 * built holds the metrics table, the curve plots and the thumbnails. Skips, saying so, only where
 * no chromium is installed.
 */
class ReportBrowserTest {
    @TempDir
    Path dir;

    static Path chromium() {
        for (String p : new String[] {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
            if (Files.isExecutable(Path.of(p))) return Path.of(p);
        return null;
    }

    static String run(Path dir, Path exe, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(exe.toString(), "--headless", "--no-sandbox", "--disable-gpu",
                "--hide-scrollbars", "--no-first-run", "--user-data-dir=" + dir.resolve("profile")));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectError(dir.resolve("chromium.log").toFile()).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "chromium did not finish in 120 s");
        return new String(out, StandardCharsets.UTF_8);
    }

    @Test
    void reportRendersWithTableCurvesAndThumbnails() throws Exception {
        Path exe = chromium();
        assumeTrue(exe != null, "chromium is not installed (apt-get install chromium; .ci/run installs it)");
        Path out = dir.resolve("ev");
        CliRunner r = CliRunner.run(EvaluateCommandTest.args(out, "gradcam,saliency", "deletion,insertion,sparseness",
                "--steps", "10"));
        assertEquals(0, r.code(), r.err());
        String url = out.resolve("report.html").toUri().toString();
        Path png = dir.resolve("shot.png");
        run(dir, exe, "--window-size=1200,1600", "--screenshot=" + png, url);
        assertTrue(Files.size(png) > 0, "no screenshot written");
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(1200, img.getWidth());
        Set<Integer> colours = new HashSet<>();
        long nonWhite = 0;
        for (int y = 0; y < img.getHeight(); y += 2)
            for (int x = 0; x < img.getWidth(); x += 2) {
                int c = img.getRGB(x, y) & 0xffffff;
                colours.add(c);
                if (c != 0xffffff) nonWhite++;
            }
        assertTrue(colours.size() > 200, "the screenshot has " + colours.size() + " colours: blank or unstyled");
        assertTrue(nonWhite > img.getWidth() * img.getHeight() / 4 / 20, "the screenshot is almost all white");
        String dom = run(dir, exe, "--dump-dom", url);
        assertTrue(dom.contains("<table id=\"metrics\">"), "no metrics table in the DOM");
        assertTrue(dom.contains("<td class=\"m\">gradcam</td>") && dom.contains("<td class=\"m\">saliency</td>"));
        assertTrue(dom.contains("class=\"best\""), "no best-per-column mark");
        assertTrue(dom.contains("id=\"curve-deletion\"") && dom.contains("id=\"curve-insertion\""), "no curve plots");
        assertTrue(dom.split("data:image/png;base64,", -1).length - 1 >= 8 * 3, "thumbnails: input + 2 overlays for 8 images");
    }
}
