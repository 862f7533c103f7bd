package dev.salient.batch;

import dev.salient.engine.Engine;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Runs a batch job in its own JVM and prints the resident set size every 500 images
 * ("rss IMAGES KIB"), for {@link BatchMemoryTest}: {@code MemoryProbe LIST.txt OUT}.
 */
public final class MemoryProbe {
    public static void main(String[] args) throws Exception {
        Path list = Path.of(args[0]), out = Path.of(args[1]);
        BatchJob.builder(BatchFixtures.DEMO_MODEL, BatchSource.open(list, null), out)
                .methods(BatchJob.methods(List.of("gradcam"), Map.of(), 1L << 30)).shardSize(500).batch(32)
                .backend(Engine.cpu()).listener(new BatchJob.Listener() {
                    long next = 500;

                    @Override
                    public void progress(long handled) {
                        if (handled >= next) {
                            System.out.println("rss " + handled + " " + rssKib());
                            next += 500;
                        }
                    }
                }).build().run();
    }

    static long rssKib() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status")))
                if (l.startsWith("VmRSS:")) return Long.parseLong(l.replaceAll("[^0-9]", ""));
        } catch (Exception e) {
            return -1;
        }
        return -1;
    }
}
