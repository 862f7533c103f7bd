package dev.salient.batch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.cli.Main;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.io.LocalInputFile;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Types;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code salient batch} in-process on the demo model: NPY and Parquet shards agree,
 * bad images are recorded while the run goes on, and every bad input (another model
 * or other options on resume, a hand-edited manifest, a Parquet without a path or
 * bytes column, a missing folder, a full disk) is one line with nothing lost.
 */
class BatchCommandTest {
    @TempDir
    static Path dir;
    static Path images;

    record Run(int code, String out, String err) {
        String errorLine() {
            assertEquals(2, code, "exit code, stdout: " + out + "\nstderr: " + err);
            List<String> lines = err.lines().filter(l -> !l.isBlank() && !l.startsWith("batch ")).toList();
            assertEquals(1, lines.size(), "one stderr line, got:\n" + err);
            assertTrue(lines.get(0).startsWith("salient: error: "), lines.get(0));
            assertFalse(err.contains("\tat "), err);
            return lines.get(0);
        }
    }

    static Run batch(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        List<String> a = new ArrayList<>(List.of("batch", "--no-progress"));
        a.addAll(List.of(args));
        return new Run(cl.execute(a.toArray(String[]::new)), out.toString(), err.toString());
    }

    static String[] common(Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("--model", BatchFixtures.DEMO_MODEL.toString(), "--input", images.toString(),
                "--methods", "gradcam,ig", "--steps", "8", "--out", out.toString(), "--shard-size", "10", "--batch", "4"));
        for (int i = 0; i < more.length; i++) {
            int at = a.indexOf(more[i]);
            if (more[i].equals("--resume")) a.add(more[i]);
            else if (at >= 0) a.set(at + 1, more[++i]); // replaces the default above
            else {
                a.add(more[i]);
                a.add(more[++i]);
            }
        }
        if (!a.get(a.indexOf("--methods") + 1).contains("ig")) { // --steps is IG's: other methods refuse it
            int at = a.indexOf("--steps");
            a.remove(at);
            a.remove(at);
        }
        return a.toArray(String[]::new);
    }

    /** 36 images and 4 bad ones (10 %): garbage, truncated, empty, and a .jpg that is text. */
    @BeforeAll
    static void images() throws IOException {
        images = dir.resolve("images");
        BatchFixtures.images(images, 36, 3);
        Files.writeString(images.resolve("c0/bad-garbage.png"), "garbage");
        byte[] png = Files.readAllBytes(images.resolve("c1/img00001.png"));
        Files.write(images.resolve("c1/bad-truncated.png"), java.util.Arrays.copyOf(png, png.length / 2));
        Files.write(images.resolve("c2/bad-empty.png"), new byte[0]);
        Files.writeString(images.resolve("c3/bad-text.jpg"), "a jpeg? no");
    }

    @Test
    void tenPercentCorruptImagesAreRecordedAndTheRunGoesOn() throws IOException {
        Path out = dir.resolve("corrupt");
        Run r = batch(common(out));
        assertEquals(3, r.code, "partial success: " + r.err);
        assertTrue(r.out.contains("40 image(s) x 2 method(s): 40 computed now (4 failed)"), r.out);
        assertTrue(r.out.contains("time per phase: decode"), r.out);
        assertEquals(4, r.err.lines().filter(l -> l.startsWith("salient: warning: image ")).count(), r.err);
        JsonObject m = manifest(out);
        assertEquals(36, m.get("images_ok").getAsInt());
        assertEquals(4, m.get("images_failed").getAsInt());
        assertTrue(m.get("complete").getAsBoolean());
        int rows = 0, failed = 0;
        for (int s = 0; s < 4; s++) {
            JsonObject rec = JsonParser.parseString(Files.readString(out.resolve(String.format("shards/shard-%05d.json", s))))
                    .getAsJsonObject();
            for (var it : rec.getAsJsonArray("items")) {
                JsonObject o = it.getAsJsonObject();
                if (o.get("status").getAsString().equals("failed")) {
                    failed++;
                    assertTrue(o.get("path").getAsString().contains("bad-"), o.toString());
                    assertFalse(o.get("error").getAsString().isBlank());
                }
            }
            Path npy = out.resolve(String.format("shards/shard-%05d.gradcam.npy", s));
            if (Files.exists(npy)) rows += (int) Npy.read(npy).dim(0);
        }
        assertEquals(4, failed);
        assertEquals(36, rows, "every good image has its map");
        JsonObject summary = JsonParser.parseString(Files.readString(out.resolve("summary.json"))).getAsJsonObject();
        assertEquals(4, summary.getAsJsonArray("failures").size());
    }

    @Test
    void parquetShardsHoldTheSameRowsAsNpyShards() throws IOException {
        Path npyOut = dir.resolve("as-npy"), pqOut = dir.resolve("as-parquet");
        assertEquals(3, batch(common(npyOut)).code);
        Run r = batch(common(pqOut, "--format", "parquet"));
        assertEquals(3, r.code, r.err);
        int checked = 0, errors = 0;
        for (int s = 0; s < 4; s++) {
            String stem = String.format("shard-%05d", s);
            JsonObject rec = JsonParser.parseString(Files.readString(npyOut.resolve("shards/" + stem + ".json"))).getAsJsonObject();
            List<Map<String, Object>> rows = parquet(pqOut.resolve("shards/" + stem + ".parquet"));
            int k = 0;
            for (var it : rec.getAsJsonArray("items")) {
                JsonObject item = it.getAsJsonObject();
                for (String method : List.of("gradcam", "ig")) {
                    Map<String, Object> row = rows.get(k++);
                    assertEquals(item.get("path").getAsString(), row.get("path"));
                    assertEquals(method, row.get("method"));
                    assertEquals(item.get("label").getAsInt(), ((Number) row.get("label")).intValue());
                    if (item.get("status").getAsString().equals("failed")) {
                        assertEquals(item.get("error").getAsString(), row.get("error"));
                        errors++;
                        continue;
                    }
                    JsonObject map = item.getAsJsonObject("maps").getAsJsonArray(method).get(0).getAsJsonObject();
                    assertEquals(map.get("target").getAsInt(), ((Number) row.get("target")).intValue());
                    assertEquals(map.get("score").getAsFloat(), ((Number) row.get("score")).floatValue());
                    NdArray a = Npy.read(npyOut.resolve("shards/" + stem + "." + method + ".npy"));
                    int size = (int) (a.data().length / a.dim(0)), at = map.get("row").getAsInt();
                    float[] want = java.util.Arrays.copyOfRange(a.data(), at * size, (at + 1) * size);
                    float[] got = new float[size];
                    ByteBuffer.wrap((byte[]) row.get("attribution")).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(got);
                    assertArrayEquals(want, got, stem + " " + method + " row " + at);
                    checked++;
                }
            }
            assertEquals(rows.size(), k, "one Parquet row per image and method");
        }
        assertEquals(72, checked);
        assertEquals(8, errors);
    }

    @Test
    void resumeWithAnotherModelOrOtherOptionsIsRefusedAndNothingIsLost() throws IOException {
        Path out = dir.resolve("refuse");
        assertEquals(3, batch(common(out)).code);
        TreeMap<String, byte[]> before = files(out);
        String steps = batch(common(out, "--resume", "--steps", "12")).errorLine();
        assertTrue(steps.contains("methods[ig].options.steps was 8, now 12"), steps);
        Path other = dir.resolve("other.onnx");
        byte[] model = Files.readAllBytes(BatchFixtures.DEMO_MODEL);
        Files.write(other, model);
        Files.write(other, new byte[] {8, 1}, java.nio.file.StandardOpenOption.APPEND); // field 1 again: ir_version 1
        String[] a = common(out, "--resume");
        a[1] = other.toString();
        String modelLine = batch(a).errorLine();
        assertTrue(modelLine.contains("model_sha256 was"), modelLine);
        String noResume = batch(common(out)).errorLine();
        assertTrue(noResume.contains("pass --resume"), noResume);
        TreeMap<String, byte[]> after = files(out);
        assertEquals(before.keySet(), after.keySet());
        before.forEach((k, v) -> assertArrayEquals(v, after.get(k), k));
        // the same options resume (nothing left to do)
        Run again = batch(common(out, "--resume"));
        assertEquals(3, again.code, again.err);
        assertTrue(again.out.contains("40 already committed"), again.out);
    }

    @Test
    void aCommittedShardThatFailsItsChecksumIsComputedAgain() throws IOException {
        Path out = dir.resolve("damaged");
        assertEquals(3, batch(common(out)).code);
        Path f = out.resolve("shards/shard-00001.ig.npy");
        byte[] good = Files.readAllBytes(f);
        byte[] bad = good.clone();
        bad[bad.length - 1] ^= 1;
        Files.write(f, bad);
        Run r = batch(common(out, "--resume"));
        assertEquals(3, r.code, r.err);
        assertTrue(r.err.contains("salient: warning: shard 1: shard-00001.ig.npy does not match its checksum; computing it again"),
                r.err);
        assertTrue(r.out.contains("10 computed now"), r.out);
        assertArrayEquals(good, Files.readAllBytes(f));
    }

    @Test
    void handEditedManifestIsRefused() throws IOException {
        Path out = dir.resolve("edited");
        assertEquals(3, batch(common(out)).code);
        Path m = out.resolve("manifest.json");
        Files.writeString(m, Files.readString(m).replace("\"images_failed\": 4", "\"images_failed\": 0"));
        TreeMap<String, byte[]> before = files(out);
        String line = batch(common(out, "--resume")).errorLine();
        assertTrue(line.contains("manifest.json: content does not match its checksum"), line);
        assertEquals(before.keySet(), files(out).keySet());
    }

    @Test
    void parquetWithoutPathOrBytesColumnIsOneLine() throws IOException {
        Path pq = dir.resolve("names.parquet");
        MessageType schema = Types.buildMessage().required(PrimitiveTypeName.BINARY).as(LogicalTypeAnnotation.stringType())
                .named("name").required(PrimitiveTypeName.INT32).named("size").named("files");
        try (var w = writer(pq, schema)) {
            w.write(new SimpleGroupFactory(schema).newGroup().append("name", "a.png").append("size", 1));
        }
        String[] a = common(dir.resolve("pq-bad"));
        a[3] = pq.toString();
        String line = batch(a).errorLine();
        assertTrue(line.contains("has no 'path' column") && line.contains("its columns: name, size"), line);
    }

    @Test
    void parquetOfPathsAndOfBytesAreInputs() throws IOException {
        // a Parquet of bytes (as Spark's binaryFile writes: path + content) gives the same maps as the folder
        List<Path> files;
        try (Stream<Path> s = Files.walk(images)) {
            files = s.filter(p -> p.toString().endsWith(".png") && !p.getFileName().toString().startsWith("bad"))
                    .sorted((x, y) -> images.relativize(x).toString().compareTo(images.relativize(y).toString())).toList();
        }
        Path pq = dir.resolve("bytes.parquet");
        MessageType schema = Types.buildMessage().required(PrimitiveTypeName.BINARY).as(LogicalTypeAnnotation.stringType())
                .named("path").required(PrimitiveTypeName.BINARY).named("content").named("images");
        try (var w = writer(pq, schema)) {
            for (Path p : files)
                w.write(new SimpleGroupFactory(schema).newGroup().append("path", p.toString())
                        .append("content", Binary.fromConstantByteArray(Files.readAllBytes(p))));
        }
        Path list = dir.resolve("list.txt");
        Files.write(list, files.stream().map(p -> list.getParent().relativize(p).toString()).toList());
        Path a = dir.resolve("from-bytes"), b = dir.resolve("from-list");
        String[] x = common(a, "--methods", "gradcam");
        x[3] = pq.toString();
        String[] y = common(b, "--methods", "gradcam");
        y[3] = list.toString();
        assertEquals(0, batch(x).code);
        assertEquals(0, batch(y).code);
        for (int s = 0; s < 4; s++) {
            String n = String.format("shards/shard-%05d.gradcam.npy", s);
            assertArrayEquals(Files.readAllBytes(b.resolve(n)), Files.readAllBytes(a.resolve(n)), n);
        }
    }

    @Test
    void missingInputFolderIsOneLine() {
        String[] a = common(dir.resolve("never"));
        a[3] = dir.resolve("no-such-folder").toString();
        String line = batch(a).errorLine();
        assertTrue(line.contains("no-such-folder: no such file or folder"), line);
        assertFalse(Files.exists(dir.resolve("never")), "nothing written");
    }

    @Test
    void fullDiskStopsAtAShardBoundaryAndKeepsWhatWasCommitted() throws Exception {
        Path out = dir.resolve("full");
        Files.createDirectories(out);
        boolean tmpfs = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", out.toString())
                .redirectErrorStream(true).start().waitFor() == 0;
        if (!tmpfs) System.setProperty(AtomicFiles.QUOTA_PROPERTY, Integer.toString(40 << 10)); // a simulated full disk
        try {
            Run r = batch(common(out, "--methods", "gradcam"));
            String line = r.errorLine();
            assertTrue(line.contains("disk full in " + out) && line.contains("No space left on device")
                    && line.contains("run again with --resume"), line);
            JsonObject m = manifest(out);
            int committed = m.getAsJsonArray("shards").size();
            assertTrue(committed >= 1 && committed < 4, "stopped part way: " + committed + " shards committed; " + line);
            assertTrue(line.contains(committed + " of 4 shards"), line);
            for (var e : m.getAsJsonArray("shards"))
                for (var f : e.getAsJsonObject().getAsJsonObject("files").entrySet())
                    assertEquals(f.getValue().getAsString(), AtomicFiles.sha256(out.resolve("shards").resolve(f.getKey())),
                            f.getKey() + " intact");
            try (Stream<Path> s = Files.list(out.resolve("shards"))) {
                assertTrue(s.noneMatch(p -> p.toString().endsWith(".tmp")), "no temporary files left");
            }
        } finally {
            if (tmpfs) new ProcessBuilder("umount", out.toString()).start().waitFor();
            else System.clearProperty(AtomicFiles.QUOTA_PROPERTY);
        }
    }

    static JsonObject manifest(Path out) throws IOException {
        return JsonParser.parseString(Files.readString(out.resolve("manifest.json"))).getAsJsonObject();
    }

    static TreeMap<String, byte[]> files(Path out) throws IOException {
        TreeMap<String, byte[]> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(out)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) m.put(out.relativize(p).toString(), Files.readAllBytes(p));
        }
        return m;
    }

    static org.apache.parquet.hadoop.ParquetWriter<Group> writer(Path f, MessageType schema) throws IOException {
        return ExampleParquetWriter.builder(new LocalOutputFile(f)).withType(schema).build();
    }

    /** A Parquet file's rows as column -> value (strings as String, binary as byte[]). */
    static List<Map<String, Object>> parquet(Path f) throws IOException {
        List<Map<String, Object>> rows = new ArrayList<>();
        try (var r = new ParquetSource.GroupReader(new LocalInputFile(f)).build()) {
            for (Group g; (g = r.read()) != null; ) {
                Map<String, Object> m = new HashMap<>();
                for (var field : g.getType().getFields()) {
                    String n = field.getName();
                    if (g.getFieldRepetitionCount(n) == 0 || !field.isPrimitive()) continue;
                    m.put(n, switch (field.asPrimitiveType().getPrimitiveTypeName()) {
                        case INT32 -> g.getInteger(n, 0);
                        case FLOAT -> g.getFloat(n, 0);
                        case BINARY -> field.getLogicalTypeAnnotation() != null ? g.getString(n, 0) : g.getBinary(n, 0).getBytes();
                        default -> g.getValueToString(g.getType().getFieldIndex(n), 0);
                    });
                }
                rows.add(m);
            }
        }
        return rows;
    }
}
