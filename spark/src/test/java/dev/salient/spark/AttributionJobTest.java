package dev.salient.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Spark job in local mode (2 threads, a task may be tried twice) on the embedded
 * demo model: its rows equal those of {@code salient batch --format parquet} on the
 * same images, and a task that fails once (test hook) is retried without duplicate rows.
 */
class AttributionJobTest {
    static final Path ROOT = Path.of(System.getProperty("salient.root", ".."));
    static final Path MODEL = ROOT.resolve("src/main/resources/dev/salient/demo/fashion_cnn.onnx");
    static final int IMAGES = 30;

    @TempDir
    static Path dir;
    static SparkSession spark;
    static Path images, batchOut;

    @BeforeAll
    static void setUp() throws Exception {
        images = dir.resolve("images");
        writeImages(images);
        batchOut = dir.resolve("batch");
        runBatch();
        spark = SparkSession.builder().master("local[2,2]").appName("salient-test").config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.sql.shuffle.partitions", "2").config("spark.sql.files.maxPartitionBytes", "16384")
                .config("spark.sql.files.openCostInBytes", "1024").getOrCreate();
        spark.sparkContext().setLogLevel("ERROR");
    }

    @AfterAll
    static void tearDown() {
        if (spark != null) spark.stop();
    }

    static AttributionJob.Options options(String failOnceMarker) {
        return AttributionJob.Options.defaults(List.of("gradcam", "saliency")).withBatch(4).withFailOnceMarker(failOnceMarker);
    }

    @Test
    void rowsEqualBatchParquet() throws Exception {
        String out = dir.resolve("spark-rows").toString();
        AttributionJob.run(spark, MODEL, images.toString(), out, options(null));
        var mine = spark.read().parquet(out);
        var theirs = spark.read().parquet(batchOut.resolve("shards").toString() + "/*.parquet");
        assertEquals(theirs.schema(), mine.schema(), "the same columns and types");
        assertTrue(mine.rdd().getNumPartitions() >= 2 || spark.read().format("binaryFile").load(images.toString()).rdd()
                .getNumPartitions() >= 2, "the job ran over more than one partition");
        assertRowsEqual(sorted(theirs.collectAsList()), sorted(mine.collectAsList()));
        assertEquals(1, AttributionJob.modelLoads(), "one model per executor JVM, not per task");
    }

    @Test
    void aTaskFailedOnceIsRetriedWithoutDuplicateRows() throws Exception {
        Path marker = dir.resolve("failed-once");
        String out = dir.resolve("spark-retry").toString();
        AttributionJob.run(spark, MODEL, images.toString(), out, options(marker.toString()));
        assertTrue(Files.exists(marker), "the hook failed a task");
        List<Row> rows = spark.read().parquet(out).collectAsList();
        Set<String> keys = new HashSet<>();
        for (Row r : rows) assertTrue(keys.add(r.getString(0) + "|" + r.getString(2) + "|" + r.get(3)), "duplicate row " + r);
        assertEquals(2 * (IMAGES + 2), rows.size(), "every image once per method");
        assertRowsEqual(sorted(spark.read().parquet(batchOut.resolve("shards").toString() + "/*.parquet").collectAsList()),
                sorted(rows));
    }

    static List<Row> sorted(List<Row> rows) {
        List<Row> s = new ArrayList<>(rows);
        s.sort(Comparator.comparing((Row r) -> r.getString(0)).thenComparing(r -> r.getString(2))
                .thenComparing(r -> r.isNullAt(3) ? -1 : r.getInt(3)));
        return s;
    }

    static void assertRowsEqual(List<Row> want, List<Row> got) {
        assertEquals(want.size(), got.size(), "row count");
        for (int i = 0; i < want.size(); i++) {
            Row a = want.get(i), b = got.get(i);
            String where = a.getString(0) + " " + a.getString(2);
            assertEquals(a.getString(0), b.getString(0), "path");
            for (int c : new int[] {1, 2, 3, 6}) assertEquals(a.get(c), b.get(c), where + ": column " + a.schema().fields()[c].name());
            for (int c : new int[] {4, 5}) { // score, delta: to float rounding, as the maps
                if (a.isNullAt(c)) assertNull(b.get(c), where);
                else assertTrue(Math.abs(a.getFloat(c) - b.getFloat(c)) <= 1e-5f + 1e-5f * Math.abs(a.getFloat(c)),
                        where + ": " + a.schema().fields()[c].name() + " " + b.getFloat(c) + " vs " + a.getFloat(c));
            }
            if (a.isNullAt(7)) assertNull(b.get(7), where);
            else assertClose((byte[]) a.get(7), (byte[]) b.get(7), where);
            assertEquals(a.get(8), b.get(8), where + ": error");
        }
        long failed = want.stream().filter(r -> !r.isNullAt(8)).count();
        assertEquals(4, failed, "the two corrupt images, once per method");
        assertNotNull(want.get(0).get(1), "ImageFolder labels");
    }

    /**
     * The maps agree to float rounding: images are batched differently (Spark's
     * partitions vs batch's shards), which changes the order of some sums.
     * |got - want| <= 1e-5 + 1e-4 |want| elementwise.
     */
    static void assertClose(byte[] want, byte[] got, String where) {
        assertEquals(want.length, got.length, where + ": attribution size");
        java.nio.FloatBuffer a = java.nio.ByteBuffer.wrap(want).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        java.nio.FloatBuffer b = java.nio.ByteBuffer.wrap(got).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        for (int i = 0; i < a.limit(); i++) {
            float x = a.get(i), y = b.get(i);
            assertTrue(Math.abs(x - y) <= 1e-5f + 1e-4f * Math.abs(x), where + ": attribution[" + i + "] " + y + " vs " + x);
        }
    }

    /** 30 demo-like 28x28 PNGs in 3 class folders, and 2 corrupt files. */
    static void writeImages(Path root) throws IOException {
        Path demo = ROOT.resolve("src/main/resources/dev/salient/demo/images");
        List<BufferedImage> base = new ArrayList<>();
        try (var s = Files.list(demo)) {
            for (Path p : s.sorted().toList()) base.add(ImageIO.read(p.toFile()));
        }
        Random r = new Random(7);
        for (int i = 0; i < IMAGES; i++) {
            BufferedImage src = base.get(i % base.size());
            BufferedImage img = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                    img.getRaster().setSample(x, y, 0,
                            Math.max(0, Math.min(255, src.getRaster().getSample(x, y, 0) + (int) (r.nextGaussian() * 20))));
            Path f = root.resolve("class" + (i % 3)).resolve(String.format("img%03d.png", i));
            Files.createDirectories(f.getParent());
            ImageIO.write(img, "png", f.toFile());
        }
        Files.writeString(root.resolve("class0/broken.png"), "not a png");
        byte[] png = Files.readAllBytes(root.resolve("class1/img001.png"));
        Files.write(root.resolve("class1/truncated.png"), java.util.Arrays.copyOf(png, png.length / 3));
    }

    /** {@code salient batch --format parquet} in a child JVM on the core's class path. */
    static void runBatch() throws Exception {
        String cp = ROOT.resolve("target/classes") + java.io.File.pathSeparator
                + Files.readString(ROOT.resolve("target/runtime-classpath.txt")).strip();
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", cp,
                "dev.salient.cli.Main", "batch", "--model", MODEL.toString(), "--input", images.toString(), "--methods",
                "gradcam,saliency", "--out", batchOut.toString(), "--format", "parquet", "--shard-size", "8", "--batch", "4",
                "--device", "cpu", "--no-progress");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("batch.log").toFile());
        pb.environment().put("OMP_WAIT_POLICY", "passive");
        Process p = pb.start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "batch finished");
        assertEquals(3, p.exitValue(), () -> "partial success expected (2 corrupt images): " + read(dir.resolve("batch.log")));
    }

    static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return e.toString();
        }
    }
}
