package dev.salient.cli;

import static dev.salient.cli.BadInputTest.floats;
import static dev.salient.cli.BadInputTest.node;
import static dev.salient.cli.BadInputTest.value;
import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.salient.io.Npy;
import dev.salient.onnx.proto.Onnx;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded mutations of valid ONNX models (byte flips, truncations, and
 * protobuf-level edits of dims, attributes, op types, initializers, external
 * data, wiring and opsets), each run through {@code predict} and {@code explain}
 * in-process under {@code --memory-budget 64}. Every outcome must be a result
 * (exit 0, perhaps with warnings) or one clean line (exit 2): no internal
 * error, no stack trace, no out-of-memory, no hang, no crash, and no more
 * engine memory at once than {@link #PEAK_LIMIT} (4x the budget: activations,
 * their gradients and the weights).
 *
 * <p>{@code -Dsalient.fuzz.cases=N} runs N cases (default 300, a minute or so);
 * {@code -Dsalient.fuzz.seed=S} picks another seed.
 */
class FuzzTest {
    @TempDir
    static Path dir;

    static final int CASES = Integer.getInteger("salient.fuzz.cases", 300);
    static final long SEED = Long.getLong("salient.fuzz.seed", 10L);
    static final long PEAK_LIMIT = 256L << 20;
    static ExecutorService runner;
    static Path x;

    @BeforeAll
    static void start() throws IOException {
        runner = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fuzz");
            t.setDaemon(true);
            return t;
        });
        x = dir.resolve("x.npy");
        float[] v = new float[2 * 3 * 8 * 8];
        Random r = new Random(1);
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        Npy.write(x, new long[] {2, 3, 8, 8}, v);
        Files.write(dir.resolve("w.bin"), new byte[4096]);
    }

    @AfterAll
    static void stop() {
        runner.shutdownNow();
    }

    static float[] gauss(Random r, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float) r.nextGaussian() * 0.5f;
        return f;
    }

    /** x (N,3,8,8) -> Conv+B pad 1 -> BatchNorm -> Relu -> MaxPool 2 -> Conv 1x1 -> GAP -> Reshape -> Gemm -> Softmax-free logits (N,3). */
    static Onnx.ModelProto base() {
        Random r = new Random(5);
        Onnx.GraphProto g = Onnx.GraphProto.newBuilder().setName("g")
                .addInput(value("x", -1, 3, 8, 8)).addOutput(value("y", -1, 3))
                .addInitializer(floats("W1", new long[] {4, 3, 3, 3}, gauss(r, 108)))
                .addInitializer(floats("B1", new long[] {4}, gauss(r, 4)))
                .addInitializer(floats("s", new long[] {4}, 1, 0.5f, 2, 1))
                .addInitializer(floats("b", new long[] {4}, 0, 0.1f, -0.1f, 0))
                .addInitializer(floats("m", new long[] {4}, 0.1f, 0, 0, 0.2f))
                .addInitializer(floats("v", new long[] {4}, 1, 2, 0.5f, 1))
                .addInitializer(floats("W2", new long[] {6, 4, 1, 1}, gauss(r, 24)))
                .addInitializer(Onnx.TensorProto.newBuilder().setName("shape").setDataType(7).addDims(2).addInt64Data(-1).addInt64Data(6))
                .addInitializer(floats("W3", new long[] {3, 6}, gauss(r, 18)))
                .addInitializer(floats("B3", new long[] {3}, gauss(r, 3)))
                .addNode(node("Conv", "conv1", new String[] {"x", "W1", "B1"}, "c1").toBuilder()
                        .addAttribute(HardeningTest.ints("pads", 1, 1, 1, 1)).addAttribute(HardeningTest.ints("kernel_shape", 3, 3)).build())
                .addNode(node("BatchNormalization", "bn", new String[] {"c1", "s", "b", "m", "v"}, "n1"))
                .addNode(node("Relu", "relu", new String[] {"n1"}, "a1"))
                .addNode(node("MaxPool", "pool", new String[] {"a1"}, "p1").toBuilder()
                        .addAttribute(HardeningTest.ints("kernel_shape", 2, 2)).addAttribute(HardeningTest.ints("strides", 2, 2)).build())
                .addNode(node("Conv", "conv2", new String[] {"p1", "W2"}, "c2"))
                .addNode(node("GlobalAveragePool", "gap", new String[] {"c2"}, "g1"))
                .addNode(node("Reshape", "flat", new String[] {"g1", "shape"}, "f1"))
                .addNode(node("Gemm", "fc", new String[] {"f1", "W3", "B3"}, "y").toBuilder()
                        .addAttribute(Onnx.AttributeProto.newBuilder().setName("transB").setType(Onnx.AttributeProto.AttributeType.INT).setI(1)).build())
                .build();
        return Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setVersion(13)).setGraph(g).build();
    }

    static final long[] ODD = {0, -1, 1, 2, 3, 7, 1000, 5000, 1L << 20, 1L << 31, Integer.MAX_VALUE, Long.MAX_VALUE, Long.MIN_VALUE, -100};
    static final String[] OPS = {"Conv", "Relu", "Identity", "Gemm", "MatMul", "Add", "Mul", "Div", "Reshape", "Flatten",
            "MaxPool", "AveragePool", "GlobalAveragePool", "Concat", "Slice", "Pad", "Gather", "Softmax", "Clip", "Sigmoid",
            "BatchNormalization", "Squeeze", "Unsqueeze", "Shape", "Cast", "Constant", "Dropout", "Range", "Nonsense"};
    static final String[] ATTRS = {"pads", "strides", "kernel_shape", "dilations", "group", "axis", "axes", "transA",
            "transB", "alpha", "beta", "epsilon", "to", "ceil_mode", "auto_pad", "mode", "value", "allowzero"};

    static long odd(Random r) {
        return r.nextInt(3) == 0 ? r.nextInt(10) : ODD[r.nextInt(ODD.length)];
    }

    /** One seeded mutation of the model; returns its description. */
    static String mutate(Onnx.ModelProto.Builder m, Random r) {
        Onnx.GraphProto.Builder g = m.getGraphBuilder();
        switch (r.nextInt(9)) {
            case 0 -> { // a dim of an initializer or a graph input/output
                if (r.nextBoolean() && g.getInitializerCount() > 0) {
                    int i = r.nextInt(g.getInitializerCount());
                    Onnx.TensorProto.Builder t = g.getInitializerBuilder(i);
                    if (t.getDimsCount() == 0 || r.nextInt(4) == 0) t.addDims(odd(r));
                    else t.setDims(r.nextInt(t.getDimsCount()), odd(r));
                    return "dims of initializer " + t.getName() + " -> " + t.getDimsList();
                }
                boolean in = r.nextBoolean();
                Onnx.ValueInfoProto.Builder v = in ? g.getInputBuilder(0) : g.getOutputBuilder(0);
                var shape = v.getTypeBuilder().getTensorTypeBuilder().getShapeBuilder();
                if (shape.getDimCount() == 0 || r.nextInt(4) == 0) shape.addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(odd(r)));
                else shape.setDim(r.nextInt(shape.getDimCount()), Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(odd(r)));
                return (in ? "input" : "output") + " dims -> " + shape.getDimList().stream().map(d -> d.getDimValue()).toList();
            }
            case 1 -> { // an attribute: new values, a new type, or a new attribute
                Onnx.NodeProto.Builder n = g.getNodeBuilder(r.nextInt(g.getNodeCount()));
                String name = ATTRS[r.nextInt(ATTRS.length)];
                Onnx.AttributeProto.Builder a = Onnx.AttributeProto.newBuilder().setName(name);
                switch (r.nextInt(4)) {
                    case 0 -> {
                        a.setType(Onnx.AttributeProto.AttributeType.INTS);
                        int k = r.nextInt(6);
                        for (int i = 0; i < k; i++) a.addInts(odd(r));
                    }
                    case 1 -> a.setType(Onnx.AttributeProto.AttributeType.INT).setI(odd(r));
                    case 2 -> a.setType(Onnx.AttributeProto.AttributeType.FLOAT)
                            .setF(new float[] {Float.NaN, Float.POSITIVE_INFINITY, -1, 0, 1e30f}[r.nextInt(5)]);
                    default -> a.setType(Onnx.AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8(
                            new String[] {"SAME_UPPER", "VALID", "reflect", "", "\u0000\n"}[r.nextInt(5)]));
                }
                List<Onnx.AttributeProto> keep = new ArrayList<>();
                for (Onnx.AttributeProto old : n.getAttributeList()) if (!old.getName().equals(name)) keep.add(old);
                n.clearAttribute().addAllAttribute(keep).addAttribute(a);
                return "attribute " + name + " of " + n.getName() + " -> " + a.build().toString().replace('\n', ' ');
            }
            case 2 -> { // an op type
                Onnx.NodeProto.Builder n = g.getNodeBuilder(r.nextInt(g.getNodeCount()));
                n.setOpType(OPS[r.nextInt(OPS.length)]);
                return "op of " + n.getName() + " -> " + n.getOpType();
            }
            case 3 -> { // an initializer's type or data
                int i = r.nextInt(g.getInitializerCount());
                Onnx.TensorProto.Builder t = g.getInitializerBuilder(i);
                switch (r.nextInt(5)) {
                    case 0 -> t.setDataType(new int[] {0, 2, 3, 6, 7, 8, 9, 10, 11, 16, 99}[r.nextInt(11)]);
                    case 1 -> {
                        if (t.getFloatDataCount() > 1) {
                            List<Float> f = new ArrayList<>(t.getFloatDataList().subList(0, r.nextInt(t.getFloatDataCount())));
                            t.clearFloatData().addAllFloatData(f);
                        } else t.setRawData(ByteString.copyFrom(new byte[r.nextInt(64)]));
                    }
                    case 2 -> {
                        if (t.getFloatDataCount() > 0) t.setFloatData(r.nextInt(t.getFloatDataCount()),
                                new float[] {Float.NaN, Float.POSITIVE_INFINITY, 1e38f, -1e38f}[r.nextInt(4)]);
                    }
                    case 3 -> g.addInitializer(t.build()); // duplicated name
                    default -> g.removeInitializer(i);
                }
                return "initializer " + i + " data/type";
            }
            case 4 -> { // external data
                Onnx.TensorProto.Builder t = g.getInitializerBuilder(r.nextInt(g.getInitializerCount()));
                t.clearFloatData().clearRawData().clearInt64Data().setDataLocation(Onnx.TensorProto.DataLocation.EXTERNAL)
                        .addExternalData(Onnx.StringStringEntryProto.newBuilder().setKey("location").setValue(
                                new String[] {"w.bin", "../w.bin", "/etc/passwd", "missing.bin", "", "x.npy", "."}[r.nextInt(7)]));
                if (r.nextBoolean()) t.addExternalData(Onnx.StringStringEntryProto.newBuilder().setKey("offset")
                        .setValue(Long.toString(odd(r))));
                if (r.nextBoolean()) t.addExternalData(Onnx.StringStringEntryProto.newBuilder().setKey("length")
                        .setValue(r.nextBoolean() ? Long.toString(odd(r)) : "twelve"));
                return "external data of " + t.getName() + " " + t.getExternalDataList().toString().replace('\n', ' ');
            }
            case 5 -> { // wiring: inputs added, dropped or renamed (cycles, undefined tensors)
                Onnx.NodeProto.Builder n = g.getNodeBuilder(r.nextInt(g.getNodeCount()));
                List<String> names = List.of("x", "W1", "c1", "a1", "p1", "y", "f1", "nowhere", "", "shape", "c2");
                switch (r.nextInt(3)) {
                    case 0 -> n.addInput(names.get(r.nextInt(names.size())));
                    case 1 -> {
                        if (n.getInputCount() > 0) {
                            List<String> in = new ArrayList<>(n.getInputList());
                            in.remove(r.nextInt(in.size()));
                            n.clearInput().addAllInput(in);
                        }
                    }
                    default -> {
                        if (n.getInputCount() > 0) n.setInput(r.nextInt(n.getInputCount()), names.get(r.nextInt(names.size())));
                    }
                }
                return "inputs of " + n.getName() + " -> " + n.getInputList();
            }
            case 6 -> { // opset and IR version
                m.setOpsetImport(0, Onnx.OperatorSetIdProto.newBuilder().setVersion(new long[] {1, 6, 7, 9, 11, 12, 17, 21, 22, 1000, -1}[r.nextInt(11)]));
                if (r.nextInt(4) == 0) m.setIrVersion(odd(r));
                return "opset -> " + m.getOpsetImport(0).getVersion() + ", ir " + m.getIrVersion();
            }
            case 7 -> { // the graph input's element type
                g.getInputBuilder(0).getTypeBuilder().getTensorTypeBuilder().setElemType(new int[] {0, 1, 6, 7, 9, 10, 11, 99}[r.nextInt(8)]);
                return "input elem_type -> " + g.getInput(0).getType().getTensorType().getElemType();
            }
            default -> { // a node removed or duplicated
                int i = r.nextInt(g.getNodeCount());
                if (r.nextBoolean()) g.removeNode(i);
                else g.addNode(g.getNode(i));
                return "node " + i + " removed or duplicated";
            }
        }
    }

    /** The bytes of case i: a protobuf-level mutation, byte flips, or a truncation. */
    static byte[] fuzzCase(int i, StringBuilder what) {
        Random r = new Random(SEED * 1_000_003L + i);
        Onnx.ModelProto.Builder m = base().toBuilder();
        int kind = r.nextInt(10);
        if (kind < 7) {
            int k = 1 + r.nextInt(3);
            for (int j = 0; j < k; j++) what.append(mutate(m, r)).append("; ");
            return m.build().toByteArray();
        }
        byte[] b = m.build().toByteArray();
        if (kind < 9) {
            int k = 1 + r.nextInt(8);
            for (int j = 0; j < k; j++) b[r.nextInt(b.length)] ^= (byte) (1 + r.nextInt(255));
            what.append(k).append(" byte flips");
            return b;
        }
        int len = r.nextInt(b.length);
        what.append("truncated to ").append(len).append(" bytes");
        return java.util.Arrays.copyOf(b, len);
    }

    @Test
    void baseModelRuns() throws Exception {
        Path m = dir.resolve("base.onnx");
        Files.write(m, base().toByteArray());
        dev.salient.engine.CpuBackend cpu = (dev.salient.engine.CpuBackend) dev.salient.engine.Engine.cpu();
        cpu.resetPeakBytes();
        long before = cpu.liveBytes();
        CliRunner r = CliRunner.run("predict", "--model", m.toString(), "--input", x.toString(), "--out",
                dir.resolve("b.npy").toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        long peak = cpu.peakBytes() - before; // the tracker the fuzz cases are held to sees the activations
        assertTrue(peak >= 2 * 4 * 8 * 8 * 4 && peak < PEAK_LIMIT, "peak " + peak);
        assertEquals(before, cpu.liveBytes(), "everything allocated is freed");
        r = CliRunner.run("explain", "--model", m.toString(), "--method", "gradcam", "--input", x.toString(), "--out",
                dir.resolve("g.npy").toString());
        assertEquals(0, r.code(), r.err());
    }

    @Test
    void everyMutatedModelGivesAResultOrOneCleanLine() throws Exception {
        List<String> bad = new ArrayList<>();
        int ok = 0, refused = 0;
        long maxPeak = 0;
        String[] methods = {"saliency", "gradcam", "ig", "guidedbackprop"};
        for (int i = 0; i < CASES && bad.size() < 10; i++) {
            StringBuilder what = new StringBuilder();
            Path m = dir.resolve("case" + i + ".onnx");
            Files.write(m, fuzzCase(i, what));
            String[][] runs = {
                {"predict", "--model", m.toString(), "--input", x.toString(), "--out", dir.resolve("p" + i + ".npy").toString(),
                    "--memory-budget", "64", "--device", "cpu"},
                {"explain", "--model", m.toString(), "--method", methods[i % methods.length], "--steps", "4", "--input",
                    x.toString(), "--out", dir.resolve("e" + i + ".npy").toString(), "--memory-budget", "64", "--device", "cpu"}};
            for (String[] args : runs) {
                dev.salient.engine.CpuBackend cpu = (dev.salient.engine.CpuBackend) dev.salient.engine.Engine.cpu();
                cpu.resetPeakBytes();
                long before = cpu.liveBytes();
                Future<CliRunner> f = runner.submit(() -> CliRunner.run(args));
                CliRunner r;
                try {
                    r = f.get(120, TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    bad.add("case " + i + " (" + what + ") " + args[0] + ": no answer in 120 s");
                    f.cancel(true);
                    continue;
                } catch (java.util.concurrent.ExecutionException e) {
                    bad.add("case " + i + " (" + what + ") " + args[0] + ": threw " + e.getCause());
                    continue;
                }
                String problem = judge(r);
                long peak = cpu.peakBytes() - before;
                maxPeak = Math.max(maxPeak, peak);
                if (problem == null && peak > PEAK_LIMIT) problem = "engine memory peaked at " + (peak >> 20) + " MiB";
                if (problem != null) bad.add("case " + i + " (" + what + ") " + args[0] + ": " + problem);
                else if (r.code() == 0) ok++;
                else refused++;
            }
            Files.deleteIfExists(m);
        }
        System.out.printf("fuzz: %d cases (seed %d): %d results, %d clean refusals, %d bad; engine memory peak %.1f MiB%n",
                CASES, SEED, ok, refused, bad.size(), maxPeak / (double) (1 << 20));
        assertTrue(bad.isEmpty(), String.join("\n", bad));
        assertTrue(refused > CASES / 4 && ok > 0, "the mutations exercise both outcomes: " + ok + " results, " + refused + " refusals");
    }

    /** Null if the run gave a result or one clean error line; else what is wrong. */
    static String judge(CliRunner r) {
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        List<String> errors = lines.stream().filter(l -> !l.startsWith("salient: warning: ")).toList();
        if (r.code() == 0) return errors.isEmpty() ? null : "exit 0 with stderr " + r.err();
        if (r.code() != 2) return "exit " + r.code() + ": " + r.err();
        if (errors.size() != 1) return errors.size() + " error lines: " + r.err();
        String e = errors.get(0);
        if (!e.startsWith("salient: error: ")) return "not an error line: " + e;
        if (e.contains("internal error") || e.contains("out of memory") || e.contains("Exception") || e.contains("\tat "))
            return e;
        if (e.length() > 700) return "a line of " + e.length() + " characters";
        return null;
    }
}
