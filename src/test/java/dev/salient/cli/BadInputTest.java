package dev.salient.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.salient.io.Npy;
import dev.salient.onnx.proto.Onnx;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every bad input ends in a non-zero exit and exactly one stderr line
 * {@code salient: error: ...} that names the problem, with no stack trace,
 * no JVM crash and no allocation sized by an unchecked declared shape.
 */
class BadInputTest {
    @TempDir
    Path dir;

    Path good; // a valid (N,3,4,4) -> (N,2) model
    Path goodInput; // (2,3,4,4)
    Path out;

    // ---- tiny ONNX models built with the generated protobuf classes

    static Onnx.ValueInfoProto value(String name, long... dims) {
        Onnx.TensorShapeProto.Builder s = Onnx.TensorShapeProto.newBuilder();
        for (long d : dims)
            s.addDim(d < 0 ? Onnx.TensorShapeProto.Dimension.newBuilder().setDimParam("N")
                    : Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        return Onnx.ValueInfoProto.newBuilder().setName(name).setType(Onnx.TypeProto.newBuilder()
                .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(1).setShape(s))).build();
    }

    static Onnx.TensorProto.Builder floats(String name, long[] dims, float... v) {
        Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(name).setDataType(1);
        for (long d : dims) t.addDims(d);
        for (float f : v) t.addFloatData(f);
        return t;
    }

    static Onnx.NodeProto node(String op, String name, String[] in, String... outs) {
        return Onnx.NodeProto.newBuilder().setOpType(op).setName(name).addAllInput(Arrays.asList(in))
                .addAllOutput(Arrays.asList(outs)).build();
    }

    /** x (N,3,4,4) -> Conv(W: (2,3,1,1)) -> GlobalAveragePool -> Flatten -> y (N,2). */
    static Onnx.ModelProto.Builder convModel(Onnx.TensorProto weight) {
        Onnx.GraphProto g = Onnx.GraphProto.newBuilder().setName("g")
                .addInput(value("x", -1, 3, 4, 4))
                .addOutput(value("y", -1, 2))
                .addInitializer(weight)
                .addNode(node("Conv", "conv0", new String[] {"x", weight.getName()}, "c"))
                .addNode(node("GlobalAveragePool", "gap", new String[] {"c"}, "p"))
                .addNode(node("Flatten", "flat", new String[] {"p"}, "y"))
                .build();
        return Onnx.ModelProto.newBuilder().setIrVersion(8).setProducerName("test")
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).setGraph(g);
    }

    static Onnx.TensorProto goodWeight() {
        return floats("W", new long[] {2, 3, 1, 1}, 1, 2, 3, -1, 0.5f, 0.25f).build();
    }

    Path write(String name, Onnx.ModelProto.Builder m) throws IOException {
        Path p = dir.resolve(name);
        Files.createDirectories(p.getParent());
        Files.write(p, m.build().toByteArray());
        return p;
    }

    @BeforeEach
    void setUp() throws IOException {
        good = write("good/model.onnx", convModel(goodWeight()));
        goodInput = dir.resolve("x.npy");
        float[] x = new float[2 * 3 * 16];
        for (int i = 0; i < x.length; i++) x[i] = (i % 7) - 3;
        Npy.write(goodInput, new long[] {2, 3, 4, 4}, x);
        out = dir.resolve("logits.npy");
    }

    String fails(Path model, Path input) {
        String line = CliRunner.run("predict", "--model", model.toString(), "--input", input.toString(), "--out",
                out.toString()).errorLine();
        assertFalse(Files.exists(out), "no output on failure");
        return line;
    }

    static void names(String line, String... words) {
        for (String w : words) assertTrue(line.contains(w), "'" + w + "' not named in: " + line);
    }

    @Test
    void theGoodModelRuns() {
        // the baseline every case below breaks in one way: conv with W, mean over space
        CliRunner r = CliRunner.run("predict", "--model", good.toString(), "--input", goodInput.toString(), "--out",
                out.toString());
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(new long[] {2, 2}, Npy.read(out).shape());
    }

    @Test
    void truncatedOnnx() throws IOException {
        byte[] b = Files.readAllBytes(good);
        Path t = dir.resolve("trunc/model.onnx");
        Files.createDirectories(t.getParent());
        Files.write(t, Arrays.copyOf(b, b.length / 2));
        names(fails(t, goodInput), t.toString());
    }

    @Test
    void randomBytesOnnx() throws IOException {
        byte[] b = new byte[4096];
        new Random(7).nextBytes(b);
        Path t = dir.resolve("random.onnx");
        Files.write(t, b);
        names(fails(t, goodInput), t.toString());
    }

    @Test
    void unknownOpNamesOpAndNode() throws IOException {
        Onnx.GraphProto g = Onnx.GraphProto.newBuilder().setName("g")
                .addInput(value("x", -1, 3, 4, 4)).addOutput(value("y", -1, 3, 4, 4))
                .addNode(node("Relu", "relu0", new String[] {"x"}, "r"))
                .addNode(node("FrobnicateXyz", "mystery_node", new String[] {"r"}, "y")).build();
        Path m = write("unknown/model.onnx", Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setVersion(13)).setGraph(g));
        names(fails(m, goodInput), "FrobnicateXyz", "mystery_node");
    }

    @Test
    void unsupportedPadModeIsNamed() throws IOException {
        Onnx.TensorProto pads = Onnx.TensorProto.newBuilder().setName("pads").setDataType(7).addDims(8)
                .addAllInt64Data(Arrays.asList(0L, 0L, 1L, 1L, 0L, 0L, 1L, 1L)).build();
        Onnx.NodeProto pad = node("Pad", "pad_node", new String[] {"x", "pads"}, "y").toBuilder()
                .addAttribute(Onnx.AttributeProto.newBuilder().setName("mode")
                        .setType(Onnx.AttributeProto.AttributeType.STRING)
                        .setS(com.google.protobuf.ByteString.copyFromUtf8("reflect")))
                .build();
        Onnx.GraphProto g = Onnx.GraphProto.newBuilder().setName("g")
                .addInput(value("x", -1, 3, 4, 4)).addOutput(value("y", -1, 3, 6, 6)).addInitializer(pads)
                .addNode(pad).build();
        Path m = write("pad/model.onnx", Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setVersion(13)).setGraph(g));
        names(fails(m, goodInput), "Pad", "pad_node", "reflect");
    }

    @Test
    void tensorLargerThanItsData() throws IOException {
        // declares 64*3*10000*10000 floats (76.8 GB) but carries 24 bytes
        Onnx.TensorProto w = Onnx.TensorProto.newBuilder().setName("W_huge").setDataType(1)
                .addAllDims(Arrays.asList(64L, 3L, 10000L, 10000L)).setRawData(ByteString.copyFrom(new byte[24])).build();
        String line = fails(write("huge/model.onnx", convModel(w)), goodInput);
        names(line, "W_huge");
        assertFalse(line.contains("out of memory"), line);
    }

    @Test
    void externalDataLargerThanItsFile() throws IOException {
        Path folder = Files.createDirectories(dir.resolve("ext"));
        Files.write(folder.resolve("weights.bin"), new byte[24]);
        Onnx.TensorProto w = external("W_ext", "weights.bin", 64, 3, 10000, 10000);
        String line = fails(write("ext/model.onnx", convModel(w)), goodInput);
        names(line, "W_ext");
        assertFalse(line.contains("out of memory"), line);
    }

    @Test
    void externalDataEscapingTheModelFolder() throws IOException {
        Files.write(dir.resolve("secret.bin"), new byte[24]); // exists, but outside the model's folder
        Onnx.TensorProto w = external("W", "../secret.bin", 2, 3, 1, 1);
        names(fails(write("escape/model.onnx", convModel(w)), goodInput), "secret.bin");
        Onnx.TensorProto abs = external("W", dir.resolve("secret.bin").toString(), 2, 3, 1, 1);
        names(fails(write("escape2/model.onnx", convModel(abs)), goodInput), "secret.bin");
    }

    static Onnx.TensorProto external(String name, String location, long... dims) {
        Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(name).setDataType(1)
                .setDataLocation(Onnx.TensorProto.DataLocation.EXTERNAL)
                .addExternalData(Onnx.StringStringEntryProto.newBuilder().setKey("location").setValue(location));
        for (long d : dims) t.addDims(d);
        return t.build();
    }

    @Test
    void wrongInputShape() throws IOException {
        Path x = dir.resolve("hw.npy");
        Npy.write(x, new long[] {2, 3, 5, 4}, new float[120]);
        names(fails(good, x), "hw.npy", "expected input shape (N,3,4,4), got (2,3,5,4)");
    }

    @Test
    void wrongChannelCount() throws IOException {
        Path x = dir.resolve("gray.npy");
        Npy.write(x, new long[] {2, 1, 4, 4}, new float[32]);
        names(fails(good, x), "gray.npy", "expects 3 input channels, got 1");
    }

    @Test
    void corruptNpy() throws IOException {
        Path x = dir.resolve("corrupt.npy");
        Files.write(x, "this is not numpy".getBytes());
        names(fails(good, x), "corrupt.npy", "not an NPY file");
        byte[] b = Files.readAllBytes(goodInput);
        Files.write(x, Arrays.copyOf(b, b.length - 10));
        names(fails(good, x), "corrupt.npy", "holds");
    }

    @Test
    void missingFiles() {
        String model = fails(dir.resolve("nope.onnx"), goodInput);
        names(model, "nope.onnx");
        assertTrue(model.contains("not found") || model.contains("no such file"), model);
        names(fails(good, dir.resolve("nope.npy")), "nope.npy", "no such file");
    }

    @Test
    void nanInInput() throws IOException {
        Path x = dir.resolve("nan.npy");
        float[] v = new float[96];
        v[50] = Float.NaN;
        Npy.write(x, new long[] {2, 3, 4, 4}, v);
        names(fails(good, x), "nan.npy", "NaN");
    }

    @Test
    void usageErrorsAreOneLineToo() {
        String line = CliRunner.run("predict", "--model", good.toString()).errorLine();
        names(line, "Missing required option");
        assertEquals(2, CliRunner.run("predict", "--model", good.toString(), "--input", goodInput.toString(), "--out",
                out.toString(), "--batch", "zero").code());
        names(CliRunner.run("frobnicate").errorLine(), "frobnicate");
        names(CliRunner.run("predict", "--model", good.toString(), "--input", goodInput.toString(), "--out",
                out.toString(), "--device", "tpu").errorLine(), "tpu");
    }
}
