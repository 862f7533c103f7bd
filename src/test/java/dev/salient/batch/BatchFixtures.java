package dev.salient.batch;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/** Images, the demo model and a way to run {@code salient} in a child JVM, for the batch tests. */
final class BatchFixtures {
    private BatchFixtures() {}

    static final Path DEMO_MODEL = Path.of("src/main/resources/dev/salient/demo/fashion_cnn.onnx");
    private static final Path DEMO_IMAGES = Path.of("src/main/resources/dev/salient/demo/images");

    /**
     * Writes {@code n} 28x28 grey PNGs under {@code dir} in ImageFolder layout (class
     * folders c0..c3): each a demo image with seeded noise, so the model sees varied inputs.
     */
    static List<Path> images(Path dir, int n, long seed) throws IOException {
        List<BufferedImage> base = new ArrayList<>();
        try (Stream<Path> s = Files.list(DEMO_IMAGES)) {
            for (Path p : s.sorted().toList()) base.add(ImageIO.read(p.toFile()));
        }
        Random r = new Random(seed);
        List<Path> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            BufferedImage src = base.get(i % base.size());
            BufferedImage img = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++) {
                    int v = src.getRaster().getSample(x, y, 0) + (int) (r.nextGaussian() * 20);
                    img.getRaster().setSample(x, y, 0, Math.max(0, Math.min(255, v)));
                }
            Path f = dir.resolve("c" + (i % 4)).resolve(String.format("img%05d.png", i));
            Files.createDirectories(f.getParent());
            ImageIO.write(img, "png", f.toFile());
            out.add(f);
        }
        return out;
    }

    /** A child JVM running the salient CLI with this test's class path. */
    static ProcessBuilder salient(Path logDir, String name, List<String> jvmOptions, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmOptions);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add("dev.salient.cli.Main");
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("OMP_WAIT_POLICY", "passive");
        pb.redirectOutput(logDir.resolve(name + ".out").toFile());
        pb.redirectError(logDir.resolve(name + ".err").toFile());
        return pb;
    }

    /** Waits until {@code file} has a line starting with {@code prefix}, or the process ends; true if the line came. */
    static boolean awaitLine(Process p, Path file, String prefix, long timeoutMs) throws IOException, InterruptedException {
        long end = System.currentTimeMillis() + timeoutMs;
        while (System.currentTimeMillis() < end) {
            if (Files.exists(file) && Files.readAllLines(file).stream().anyMatch(l -> l.startsWith(prefix))) return true;
            if (!p.isAlive()) return false;
            Thread.sleep(20);
        }
        return false;
    }

    static int waitFor(Process p, long seconds) throws InterruptedException {
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("child JVM did not finish in " + seconds + " s");
        }
        return p.exitValue();
    }
}
