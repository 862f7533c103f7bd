package dev.salient.batch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code salient batch} killed with SIGKILL and resumed ends with the same files as
 * a run that was never interrupted: every shard's bytes, and the manifest apart
 * from its timestamp (and the checksum that covers it). 300 images, two methods
 * (Grad-CAM and IG), shards of 20, on the embedded demo model, in child JVMs.
 */
class KillResumeTest {
    @TempDir
    static Path dir;
    static Path images, reference;
    static double workSeconds;

    static List<String> args(Path out, boolean resume) {
        List<String> a = new ArrayList<>(List.of("batch", "--model", BatchFixtures.DEMO_MODEL.toString(), "--input",
                images.toString(), "--methods", "gradcam,ig", "--steps", "16", "--out", out.toString(), "--shard-size", "20",
                "--batch", "8", "--no-progress"));
        if (resume) a.add("--resume");
        return a;
    }

    @BeforeAll
    static void uninterrupted() throws Exception {
        images = dir.resolve("images");
        BatchFixtures.images(images, 300, 14);
        reference = dir.resolve("reference");
        long t0 = System.nanoTime();
        Process p = BatchFixtures.salient(dir, "reference", List.of(), args(reference, false).toArray(String[]::new)).start();
        assertTrue(BatchFixtures.awaitLine(p, dir.resolve("reference.out"), "batch: ", 120_000), "run did not start");
        long t1 = System.nanoTime();
        assertEquals(0, BatchFixtures.waitFor(p, 600), () -> read(dir.resolve("reference.err")));
        workSeconds = (System.nanoTime() - t1) / 1e9;
        System.out.printf("uninterrupted: %.1f s in total, %.1f s of work%n", (System.nanoTime() - t0) / 1e9, workSeconds);
    }

    @Test
    void tenSigkillsAtSeededRandomPointsThenResumeEqualsUninterrupted() throws Exception {
        Path out = dir.resolve("killed");
        Random r = new Random(20261201L);
        // the schedule: kill i comes once the run has committed at least at[i] of its 15 shards,
        // then a random part of a shard's time later (mid-shard, mid-commit, or just after one)
        int[] at = r.ints(10, 0, 15).sorted().toArray();
        double shardSeconds = workSeconds / 15;
        int kills = 0, runs = 0;
        List<String> log = new ArrayList<>();
        while (kills < 10) {
            String name = "kill" + runs;
            Process p = BatchFixtures.salient(dir, name, List.of(), args(out, runs > 0).toArray(String[]::new)).start();
            runs++;
            assertTrue(BatchFixtures.awaitLine(p, dir.resolve(name + ".out"), "batch: ", 120_000),
                    () -> "run did not start: " + read(dir.resolve(name + ".err")));
            while (p.isAlive() && committed(out) < at[kills]) Thread.sleep(20);
            long delayMs = (long) (r.nextDouble() * shardSeconds * 1000);
            Thread.sleep(delayMs);
            if (!p.isAlive()) {
                log.add("run " + runs + " finished before its kill");
                assertEquals(0, p.exitValue(), () -> read(dir.resolve(name + ".err")));
                break;
            }
            int before = committed(out);
            p.destroyForcibly(); // SIGKILL
            int code = BatchFixtures.waitFor(p, 60);
            assertEquals(137, code, "killed by SIGKILL");
            kills++;
            log.add("kill " + kills + ": " + delayMs + " ms after " + at[kills - 1] + " shard(s) were committed; " + before
                    + " shards committed at the kill");
        }
        log.forEach(System.out::println);
        assertEquals(10, kills, "every kill landed mid-run: " + log);
        Process p = BatchFixtures.salient(dir, "final", List.of(), args(out, true).toArray(String[]::new)).start();
        assertEquals(0, BatchFixtures.waitFor(p, 600), () -> read(dir.resolve("final.err")));
        assertSameOutputs(reference, out);
    }

    @Test
    void sigkillDuringAShardRenameThenResumeEqualsUninterrupted() throws Exception {
        Path out = dir.resolve("rename");
        // shard 3's Grad-CAM file is renamed, its IG file waits under the temporary name
        Process p = BatchFixtures.salient(dir, "rename", List.of("-Dsalient.batch.test.pauseBeforeRename=shard-00003.ig.npy"),
                args(out, false).toArray(String[]::new)).start();
        assertTrue(BatchFixtures.awaitLine(p, dir.resolve("rename.err"), "hook: renaming shard-00003.ig.npy", 300_000),
                () -> "never reached the rename: " + read(dir.resolve("rename.err")));
        assertTrue(Files.exists(out.resolve("shards/shard-00003.gradcam.npy")));
        assertTrue(Files.exists(out.resolve("shards/.shard-00003.ig.npy.tmp")));
        p.destroyForcibly();
        assertEquals(137, BatchFixtures.waitFor(p, 60));
        assertEquals(3, committed(out), "shards 0-2 committed, shard 3 not");
        Process q = BatchFixtures.salient(dir, "rename-resume", List.of(), args(out, true).toArray(String[]::new)).start();
        assertEquals(0, BatchFixtures.waitFor(q, 600), () -> read(dir.resolve("rename-resume.err")));
        assertTrue(read(dir.resolve("rename-resume.out")).contains("60 already committed"), read(dir.resolve("rename-resume.out")));
        assertSameOutputs(reference, out);
    }

    static int committed(Path out) throws IOException {
        Path m = out.resolve("manifest.json");
        if (!Files.exists(m)) return 0;
        return JsonParser.parseString(Files.readString(m)).getAsJsonObject().getAsJsonArray("shards").size();
    }

    static void assertSameOutputs(Path want, Path got) throws IOException {
        TreeMap<String, byte[]> a = files(want.resolve("shards")), b = files(got.resolve("shards"));
        assertEquals(a.keySet(), b.keySet(), "the same shard files, no temporary ones left");
        assertEquals(15 * 3, a.size(), "15 shards x (2 NPY + 1 record)");
        for (String f : a.keySet()) assertArrayEquals(a.get(f), b.get(f), f + " differs");
        assertEquals(manifest(want), manifest(got), "manifest, timestamp aside");
        assertTrue(manifest(got).get("complete").getAsBoolean());
    }

    static JsonObject manifest(Path out) throws IOException {
        JsonObject o = JsonParser.parseString(Files.readString(out.resolve("manifest.json"))).getAsJsonObject();
        o.remove("updated");
        o.remove("checksum");
        return o;
    }

    static TreeMap<String, byte[]> files(Path d) throws IOException {
        TreeMap<String, byte[]> m = new TreeMap<>();
        try (Stream<Path> s = Files.list(d)) {
            for (Path p : s.toList()) m.put(p.getFileName().toString(), Files.readAllBytes(p));
        }
        return m;
    }

    static String read(Path p) {
        try {
            return Files.exists(p) ? Files.readString(p) : "";
        } catch (IOException e) {
            return e.toString();
        }
    }
}
