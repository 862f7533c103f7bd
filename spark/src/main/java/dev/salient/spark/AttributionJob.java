package dev.salient.spark;

import dev.salient.batch.BatchJob;
import dev.salient.batch.ImageBytes;
import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.SalientException;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.Methods;
import dev.salient.explain.Target;
import dev.salient.io.Images;
import dev.salient.io.NdArray;
import dev.salient.io.Preprocess;
import dev.salient.model.Model;
import java.io.IOException;
import java.io.Serializable;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.encoders.ExpressionEncoder;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import static org.apache.spark.sql.functions.col;

/**
 * Attribution of a dataset on a Spark cluster: the images (Spark's binaryFile source
 * over a folder tree, or a Parquet of paths or bytes) are split into partitions;
 * each executor JVM loads the model once (the bytes come as a broadcast) and runs
 * the methods over its partitions with {@code mapPartitions}, in batches, through
 * the same engine step as {@code salient batch} ({@link BatchJob#explainBatch}).
 * The rows, one per image, method and target, have the columns of {@code salient
 * batch --format parquet} ({@link dev.salient.batch.ParquetRows}). Fault tolerance
 * is Spark's: a failed task is retried, and the file commit protocol keeps only the
 * rows of the attempt that committed, so nothing is written twice.
 *
 * <pre>
 * spark-submit --class dev.salient.spark.AttributionJob salient-spark.jar \
 *     --model resnet18.onnx --input hdfs:///images --methods gradcam,ig --out hdfs:///attributions
 * </pre>
 */
public final class AttributionJob {
    private AttributionJob() {}

    /** The rows' schema: the columns of {@code salient batch --format parquet}. */
    public static final StructType SCHEMA = new StructType(new StructField[] {
        DataTypes.createStructField("path", DataTypes.StringType, true),
        DataTypes.createStructField("label", DataTypes.IntegerType, true),
        DataTypes.createStructField("method", DataTypes.StringType, true),
        DataTypes.createStructField("target", DataTypes.IntegerType, true),
        DataTypes.createStructField("score", DataTypes.FloatType, true),
        DataTypes.createStructField("delta", DataTypes.FloatType, true),
        DataTypes.createStructField("shape", DataTypes.createArrayType(DataTypes.IntegerType, true), true),
        DataTypes.createStructField("attribution", DataTypes.BinaryType, true),
        DataTypes.createStructField("error", DataTypes.StringType, true)});

    /**
     * What the job runs: the methods, their options as command-line text ({@code --steps}
     * -> {@code "32"}, parsed by each method's spec), target, batch, device and preprocessing.
     */
    public record Options(List<String> methods, Map<String, String> methodOptions, String target, int batch, String device,
            int resize, int cropHeight, int cropWidth, float[] mean, float[] std, String failOnceMarker) implements Serializable {
        public Options {
            methodOptions = new java.util.TreeMap<>(methodOptions);
            methods = List.copyOf(methods);
        }

        public static Options defaults(List<String> methods) {
            return new Options(methods, Map.of(), "top1", 32, "cpu", 0, 0, 0, null, null, null);
        }

        public Options withMethodOptions(Map<String, String> m) {
            return new Options(methods, m, target, batch, device, resize, cropHeight, cropWidth, mean, std, failOnceMarker);
        }

        public Options withBatch(int b) {
            return new Options(methods, methodOptions, target, b, device, resize, cropHeight, cropWidth, mean, std, failOnceMarker);
        }

        /** Test hook: the first task to reach its second row fails once (the marker file remembers). */
        public Options withFailOnceMarker(String marker) {
            return new Options(methods, methodOptions, target, batch, device, resize, cropHeight, cropWidth, mean, std, marker);
        }

        List<BatchJob.Method> batchMethods() {
            return BatchJob.methods(methods, methodOptions, Explainer.DEFAULT_MEMORY_BUDGET);
        }
    }

    /**
     * Reads the images under {@code input} and returns the attribution rows (lazy:
     * nothing runs until they are written or collected).
     */
    public static Dataset<Row> attribute(SparkSession spark, Path model, String input, Options o) throws IOException {
        o.batchMethods(); // unknown methods and bad options fail here, on the driver
        byte[] modelBytes = Files.readAllBytes(model);
        Broadcast<byte[]> bc = new org.apache.spark.api.java.JavaSparkContext(spark.sparkContext()).broadcast(modelBytes);
        String sha = sha256(modelBytes);
        Dataset<Row> images;
        Map<String, Integer> classes = Map.of();
        String root = null;
        if (input.toLowerCase(Locale.ROOT).endsWith(".parquet")) {
            Dataset<Row> p = spark.read().parquet(input);
            List<String> cols = Arrays.asList(p.columns());
            String bytes = cols.contains("bytes") ? "bytes" : cols.contains("content") ? "content" : null;
            if (!cols.contains("path") && bytes == null)
                throw new SalientException(input + ": has no 'path' column (string) or 'bytes'/'content' column (binary) "
                        + "naming the images; its columns: " + String.join(", ", cols));
            List<org.apache.spark.sql.Column> sel = new ArrayList<>();
            sel.add(cols.contains("path") ? col("path") : org.apache.spark.sql.functions.lit(null).cast("string").as("path"));
            sel.add(bytes != null ? col(bytes).as("content") : org.apache.spark.sql.functions.lit(null).cast("binary").as("content"));
            sel.add(cols.contains("label") ? col("label").cast("int").as("label")
                    : org.apache.spark.sql.functions.lit(null).cast("int").as("label"));
            images = p.select(sel.toArray(new org.apache.spark.sql.Column[0]));
        } else {
            Dataset<Row> files = spark.read().format("binaryFile").option("recursiveFileLookup", "true")
                    .option("pathGlobFilter", "*.{png,jpg,jpeg,PNG,JPG,JPEG}").load(input);
            root = new org.apache.hadoop.fs.Path(input).getFileSystem(spark.sparkContext().hadoopConfiguration())
                    .makeQualified(new org.apache.hadoop.fs.Path(input)).toUri().toString();
            classes = imageFolderClasses(files, root);
            images = files.select(col("path"), col("content"), org.apache.spark.sql.functions.lit(null).cast("int").as("label"));
        }
        Map<String, Integer> cls = classes;
        String base = root;
        MapPartitionsFunction<Row, Row> f = rows -> new Partition(rows, bc, sha, o, cls, base);
        return images.mapPartitions(f, ExpressionEncoder.apply(SCHEMA));
    }

    /** Runs the job and writes Parquet to {@code out} (which must not exist). */
    public static void run(SparkSession spark, Path model, String input, String out, Options o) throws IOException {
        attribute(spark, model, input, o).write().mode(SaveMode.ErrorIfExists).parquet(out);
    }

    /**
     * ImageFolder labels, as {@code salient batch} gives them: when every image sits
     * one folder below the root, the sorted folder names are classes 0, 1, ...
     */
    static Map<String, Integer> imageFolderClasses(Dataset<Row> files, String root) {
        List<String> rel = files.select(col("path")).as(Encoders.STRING()).map(
                (org.apache.spark.api.java.function.MapFunction<String, String>) p -> {
                    String r = relative(p, root);
                    int slash = r == null ? -1 : r.indexOf('/');
                    return slash > 0 && r.indexOf('/', slash + 1) < 0 ? r.substring(0, slash) : "/";
                }, Encoders.STRING()).distinct().collectAsList();
        if (rel.isEmpty() || rel.contains("/")) return Map.of();
        List<String> sorted = new ArrayList<>(new TreeSet<>(rel));
        Map<String, Integer> m = new java.util.HashMap<>();
        for (int i = 0; i < sorted.size(); i++) m.put(sorted.get(i), i);
        return m;
    }

    // ---- on the executors

    /** One model per executor JVM, loaded on first use from the broadcast bytes. */
    static final class Executor {
        private static Model model;
        private static String modelSha;
        static final AtomicInteger LOADS = new AtomicInteger();

        static synchronized Model model(Broadcast<byte[]> bytes, String sha) throws IOException {
            if (model == null || !sha.equals(modelSha)) {
                if (model != null) model.close();
                Path f = Files.createTempFile("salient-model-", ".onnx");
                f.toFile().deleteOnExit();
                Files.write(f, bytes.value());
                model = Model.load(f);
                modelSha = sha;
                LOADS.incrementAndGet();
            }
            return model;
        }
    }

    /** How many times this JVM loaded a model (tests check it is once). */
    public static int modelLoads() {
        return Executor.LOADS.get();
    }

    /** One partition's rows, produced batch by batch as Spark pulls them. */
    private static final class Partition implements Iterator<Row> {
        private final Iterator<Row> in;
        private final Options o;
        private final Map<String, Integer> classes;
        private final String root;
        private final Model model;
        private final Backend backend;
        private final Preprocess.Resolved pre;
        private final List<BatchJob.Method> methods = new ArrayList<>();
        private final List<BatchJob.Runner> runners = new ArrayList<>();
        private final ArrayList<Row> ready = new ArrayList<>();
        private int next;
        private long emitted;

        Partition(Iterator<Row> in, Broadcast<byte[]> bytes, String sha, Options o, Map<String, Integer> classes, String root)
                throws IOException {
            this.in = in;
            this.o = o;
            this.classes = classes;
            this.root = root;
            this.model = Executor.model(bytes, sha);
            this.backend = Engine.forName(o.device());
            long[] s = model.inputs().get(0).shape();
            Preprocess p = new Preprocess(o.resize(), o.cropHeight(), o.cropWidth(), o.mean(), o.std());
            this.pre = p.resolve(s[1], s[2], s[3]);
            for (BatchJob.Method m : o.batchMethods()) {
                methods.add(m);
                runners.add(m.factory().apply(model));
            }
        }

        @Override
        public boolean hasNext() {
            if (next < ready.size()) return true;
            ready.clear();
            next = 0;
            while (ready.isEmpty() && in.hasNext()) fill();
            return !ready.isEmpty();
        }

        @Override
        public Row next() {
            if (!hasNext()) throw new java.util.NoSuchElementException();
            emitted++;
            if (o.failOnceMarker() != null && emitted == 2) failOnce();
            return ready.get(next++);
        }

        /** Test hook: the first task to reach its second row fails once (a marker file remembers). */
        private void failOnce() {
            TaskContext tc = TaskContext.get();
            try {
                Files.createFile(Path.of(o.failOnceMarker()));
            } catch (java.nio.file.FileAlreadyExistsException e) {
                return;
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
            throw new IllegalStateException("test hook: task " + (tc == null ? "?" : tc.taskAttemptId()) + " fails once");
        }

        private void fill() {
            List<String> paths = new ArrayList<>();
            List<Integer> labels = new ArrayList<>();
            List<NdArray> xs = new ArrayList<>();
            List<String> okPaths = new ArrayList<>();
            List<Integer> okLabels = new ArrayList<>();
            while (xs.size() < o.batch() && in.hasNext()) {
                Row r = in.next();
                String path = localPath(r.getString(0));
                byte[] content = r.isNullAt(1) ? null : (byte[]) r.get(1);
                Integer label = r.isNullAt(2) ? labelOf(r.getString(0)) : Integer.valueOf(r.getInt(2));
                try {
                    Images.Decoded d = content != null ? ImageBytes.decode(content, path) : Images.decode(Path.of(path));
                    if (o.target().equals("label") && label == null) throw new SalientException(path + ": has no label for --target label");
                    xs.add(Images.preprocess(d, pre, path).input());
                    okPaths.add(path);
                    okLabels.add(label);
                } catch (SalientException e) {
                    for (String m : o.methods()) ready.add(RowFactory.create(path, label, m, null, null, null, null, null, e.getMessage()));
                }
            }
            if (xs.isEmpty()) return;
            Map<String, Attribution> maps;
            try {
                maps = BatchJob.explainBatch(backend, runners, methods, NdArray.concatFirst(xs), target(okLabels));
            } catch (SalientException whole) {
                // one image at a time, to find the one the batch failed on
                for (int i = 0; i < xs.size(); i++) {
                    try {
                        emit(BatchJob.explainBatch(backend, runners, methods, xs.get(i), target(okLabels.subList(i, i + 1))),
                                okPaths.subList(i, i + 1), okLabels.subList(i, i + 1));
                    } catch (SalientException one) {
                        for (String m : o.methods())
                            ready.add(RowFactory.create(okPaths.get(i), okLabels.get(i), m, null, null, null, null, null, one.getMessage()));
                    }
                }
                return;
            }
            emit(maps, okPaths, okLabels);
        }

        private void emit(Map<String, Attribution> maps, List<String> paths, List<Integer> labels) {
            for (int i = 0; i < paths.size(); i++)
                for (String m : o.methods()) {
                    Attribution a = maps.get(m);
                    int size = a.rowSize();
                    int[] shape = new int[a.shape().length - 1];
                    for (int k = 1; k < a.shape().length; k++) shape[k - 1] = (int) a.shape()[k];
                    for (int r = 0; r < a.rows(); r++) {
                        if (a.images()[r] != i) continue;
                        ByteBuffer b = ByteBuffer.allocate(size * 4).order(ByteOrder.LITTLE_ENDIAN);
                        b.asFloatBuffer().put(a.values(), r * size, size);
                        ready.add(RowFactory.create(paths.get(i), labels.get(i), m, a.targets()[r], a.scores()[r],
                                a.deltas() != null ? a.deltas()[r] : null, scala.jdk.javaapi.CollectionConverters.asScala(
                                        Arrays.stream(shape).boxed().toList()).toSeq(), b.array(), null));
                    }
                }
        }

        private Target target(List<Integer> labels) {
            if (o.target().equals("top1")) return Target.top1();
            if (o.target().equals("label")) return Target.perImage(labels.stream().mapToInt(Integer::intValue).toArray());
            return Target.index(Integer.parseInt(o.target()));
        }

        private Integer labelOf(String uri) {
            if (classes.isEmpty() || root == null || uri == null) return null;
            String r = relative(uri, root);
            int slash = r == null ? -1 : r.indexOf('/');
            return slash > 0 ? classes.get(r.substring(0, slash)) : null;
        }
    }

    /** {@code uri}'s path below {@code root}'s ("class/img.png"), or null (file:/x and file:///x are one place). */
    static String relative(String uri, String root) {
        String p = URI.create(uri).getPath(), r = URI.create(root).getPath();
        if (p == null || r == null) return null;
        String prefix = r.endsWith("/") ? r : r + "/";
        return p.startsWith(prefix) ? p.substring(prefix.length()) : null;
    }

    /** A file: URI as the local path {@code salient batch} records; other URIs as they are. */
    static String localPath(String uri) {
        if (uri == null) return null;
        if (uri.startsWith("file:")) return Path.of(URI.create(uri)).toString();
        return uri;
    }

    private static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- command line (spark-submit)

    public static void main(String[] args) throws IOException {
        String model = null, input = null, out = null, master = null;
        Options o = Options.defaults(List.of());
        List<String> methods = null;
        Map<String, String> methodOptions = new java.util.TreeMap<>();
        String target = o.target(), device = o.device();
        int batch = o.batch(), partitions = 0;
        java.util.Set<String> known = new java.util.HashSet<>();
        for (var spec : Methods.ALL) for (var opt : spec.options()) known.add(opt.cli());
        try {
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("--help") || a.equals("-h")) {
                    System.out.println(USAGE);
                    return;
                }
                if (i + 1 >= args.length) throw new SalientException(a + " needs a value (see --help)");
                String v = args[++i];
                switch (a) {
                    case "--model" -> model = v;
                    case "--input" -> input = v;
                    case "--out" -> out = v;
                    case "--methods" -> methods = Arrays.stream(v.split(",")).map(s -> s.strip().toLowerCase(Locale.ROOT)).toList();
                    case "--target" -> target = v;
                    case "--batch" -> batch = Integer.parseInt(v);
                    case "--device" -> device = v;
                    case "--partitions" -> partitions = Integer.parseInt(v);
                    case "--master" -> master = v;
                    default -> {
                        if (!known.contains(a)) throw new SalientException("unknown option " + a + " (see --help)");
                        methodOptions.put(a, v);
                    }
                }
            }
            if (model == null || input == null || out == null || methods == null)
                throw new SalientException("--model, --input, --methods and --out are required (see --help)");
            if (!Files.isRegularFile(Path.of(model))) throw new SalientException(model + ": no such model file");
            if (batch <= 0) throw new SalientException("--batch must be positive, got " + batch);
            o = new Options(methods, methodOptions, target, batch, device, 0, 0, 0, null, null, null);
            o.batchMethods();
        } catch (NumberFormatException e) {
            System.err.println("salient-spark: error: bad number (" + e.getMessage() + ")");
            System.exit(2);
            return;
        } catch (SalientException e) {
            System.err.println("salient-spark: error: " + e.getMessage());
            System.exit(2);
            return;
        }
        SparkSession.Builder sb = SparkSession.builder().appName("salient attribution");
        if (master != null) sb.master(master);
        SparkSession spark = sb.getOrCreate();
        int code = 0;
        try {
            Dataset<Row> rows = attribute(spark, Path.of(model), input, o);
            if (partitions > 0) rows = rows.repartition(partitions);
            rows.write().mode(SaveMode.ErrorIfExists).parquet(out);
            System.out.println("salient-spark: wrote " + out);
        } catch (SalientException e) {
            System.err.println("salient-spark: error: " + e.getMessage());
            code = 2;
        } finally {
            spark.stop();
        }
        if (code != 0) System.exit(code);
    }

    static final String USAGE = """
            salient-spark --model M.onnx --input DIR|PARQUET --methods A,B,.. --out DIR
                    [--target top1|K|label] [--batch N] [--device cpu|cuda|auto] [--partitions N]
                    [method options, as salient batch takes them: --layer, --steps, --integration, --baseline, ...]
            Writes Parquet with the columns of salient batch --format parquet.""";
}
