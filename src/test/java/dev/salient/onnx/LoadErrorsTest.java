package dev.salient.onnx;

import static dev.salient.model.OnnxBuilder.in;
import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import dev.salient.model.OnnxBuilder;
import dev.salient.onnx.proto.Onnx.StringStringEntryProto;
import dev.salient.onnx.proto.Onnx.TensorProto;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad models end in one SalientException line naming the problem, never an unbounded allocation or a crash. */
class LoadErrorsTest {
    @TempDir
    Path dir;
    final Backend cpu = Engine.cpu();

    static String loadError(Path p) {
        SalientException e = assertThrows(SalientException.class, () -> Model.load(p).close());
        String m = e.getMessage();
        assertFalse(m.contains("\n") || m.contains("\r"), "one line: " + m);
        return m;
    }

    Path tiny() throws Exception {
        return new OnnxBuilder().input("x", 1, 4).output("y", 1, 4)
                .init("w", new float[] {1, 2, 3, 4}, 1, 4)
                .node("Add", "add", in("x", "w"), in("y")).write(dir, "tiny.onnx");
    }

    @Test
    void truncatedAndRandomBytes() throws Exception {
        byte[] good = Files.readAllBytes(tiny());
        for (int cut : new int[] {good.length / 2, good.length - 3, 7}) {
            Path p = dir.resolve("cut" + cut + ".onnx");
            Files.write(p, Arrays.copyOf(good, cut));
            assertTrue(loadError(p).contains("cut" + cut + ".onnx"));
        }
        Random r = new Random(42);
        for (int i = 0; i < 20; i++) {
            byte[] junk = new byte[1 + r.nextInt(4096)];
            r.nextBytes(junk);
            Path p = dir.resolve("junk" + i + ".onnx");
            Files.write(p, junk);
            assertTrue(loadError(p).contains("junk" + i), "names the file");
        }
        Path empty = dir.resolve("empty.onnx");
        Files.write(empty, new byte[0]);
        assertTrue(loadError(empty).contains("empty"));
        assertTrue(loadError(dir.resolve("missing.onnx")).contains("not found"));
    }

    @Test
    void bitFlippedModelsLoadOrFailWithOneLine() throws Exception {
        Random r = new Random(7);
        Path src = new OnnxBuilder().input("x", 1, 2, 6, 6).output("y")
                .init("w", OnnxBuilder.random(r, 3 * 2 * 9, 0.3f), 3, 2, 3, 3).init("b", new float[3], 3)
                .node("Conv", "conv", in("x", "w", "b"), in("c"), OnnxBuilder.attrs("pads", 1, 1, 1, 1))
                .node("Relu", "relu", in("c"), in("r"))
                .node("MaxPool", "pool", in("r"), in("p"), OnnxBuilder.attrs("kernel_shape", 2, 2), OnnxBuilder.attrs("strides", 2, 2))
                .node("Flatten", "flat", in("p"), in("y")).write(dir, "fuzz-src.onnx");
        byte[] good = Files.readAllBytes(src);
        int loaded = 0, rejected = 0;
        for (int i = 0; i < 300; i++) {
            byte[] b = good.clone();
            for (int k = 0; k <= i % 3; k++) b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
            Path p = dir.resolve("fuzz.onnx");
            Files.write(p, b);
            try (Model m = Model.load(p)) {
                loaded++;
                if (m.inputs().size() == 1 && m.inputs().get(0).isStatic()) {
                    try (Tensor x = cpu.zeros(m.inputs().get(0).shape())) {
                        m.forward(cpu, x).close();
                    } catch (SalientException e) {
                        assertFalse(e.getMessage().contains("\n"), e.getMessage());
                    }
                }
            } catch (SalientException e) {
                rejected++;
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
            }
        }
        assertTrue(loaded > 0 && rejected > 0, loaded + " loaded, " + rejected + " rejected");
    }

    @Test
    void unknownOpNamesOpAndNode() throws Exception {
        Path p = new OnnxBuilder().input("x", 1, 4).output("y", 1, 4)
                .node("Relu", "r", in("x"), in("a"))
                .node("FancyNorm", "block3/norm", in("a"), in("y")).write(dir, "unknown.onnx");
        String m = loadError(p);
        assertTrue(m.contains("unsupported op 'FancyNorm'") && m.contains("'block3/norm'"), m);

        Path q = new OnnxBuilder().input("x", 1, 4).output("y", 1, 4)
                .node(dev.salient.onnx.proto.Onnx.NodeProto.newBuilder().setOpType("Relu").setName("ms")
                        .setDomain("com.microsoft").addInput("x").addOutput("y").build())
                .write(dir, "domain.onnx");
        String m2 = loadError(q);
        assertTrue(m2.contains("unsupported op 'Relu' of domain 'com.microsoft'") && m2.contains("'ms'"), m2);
    }

    @Test
    void declaredSizeBeyondDataIsRejected() throws Exception {
        TensorProto lying = TensorProto.newBuilder().setName("big_w").setDataType(1).addDims(1000)
                .setRawData(ByteString.copyFrom(new byte[16])).build();
        Path p = new OnnxBuilder().input("x", 1000).output("y", 1000).init(lying)
                .node("Add", "add", in("x", "big_w"), in("y")).write(dir, "lying.onnx");
        String m = loadError(p);
        assertTrue(m.contains("'big_w'") && m.contains("4000 bytes") && m.contains("16"), m);

        TensorProto huge = TensorProto.newBuilder().setName("huge").setDataType(1).addDims(1L << 20).addDims(1L << 20)
                .setRawData(ByteString.copyFrom(new byte[8])).build();
        Path q = new OnnxBuilder().input("x", 1).output("y", 1).init(huge)
                .node("Add", "add", in("x", "huge"), in("y")).write(dir, "huge.onnx");
        String m2 = loadError(q);
        assertTrue(m2.contains("'huge'") && m2.contains("budget"), m2);

        TensorProto few = TensorProto.newBuilder().setName("few").setDataType(1).addDims(3).addFloatData(1).build();
        Path r = new OnnxBuilder().input("x", 3).output("y", 3).init(few)
                .node("Add", "add", in("x", "few"), in("y")).write(dir, "few.onnx");
        assertTrue(loadError(r).contains("'few'"));
    }

    static TensorProto external(String name, String location, long offset, long length, long... dims) {
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(1)
                .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue(location))
                .addExternalData(StringStringEntryProto.newBuilder().setKey("offset").setValue("" + offset));
        if (length >= 0) t.addExternalData(StringStringEntryProto.newBuilder().setKey("length").setValue("" + length));
        for (long d : dims) t.addDims(d);
        return t.build();
    }

    Path externalModel(Path modelDir, String location, long offset, long length) throws Exception {
        Files.createDirectories(modelDir);
        return new OnnxBuilder().input("x", 1, 4).output("y", 1, 4).init(external("w", location, offset, length, 1, 4))
                .node("Add", "add", in("x", "w"), in("y")).write(modelDir, "ext.onnx");
    }

    @Test
    void externalDataInsideTheFolderWorks() throws Exception {
        Path md = dir.resolve("model");
        Files.createDirectories(md.resolve("data"));
        ByteBuffer b = ByteBuffer.allocate(8 + 16).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0);
        for (float f : new float[] {10, 20, 30, 40}) b.putFloat(f);
        Files.write(md.resolve("data/weights.bin"), b.array());
        try (Model m = Model.load(externalModel(md, "data/weights.bin", 8, 16));
                Tensor x = cpu.upload(new float[] {1, 2, 3, 4}, 1, 4); Tensor y = m.forward(cpu, x)) {
            assertArrayEquals(new float[] {11, 22, 33, 44}, y.toArray());
        }
        // declared size beyond the external file
        assertTrue(loadError(externalModel(md, "data/weights.bin", 16, -1)).contains("exceeds external file"));
        assertTrue(loadError(externalModel(md, "data/weights.bin", 8, 12)).contains("length 12"));
        assertTrue(loadError(externalModel(md, "data/nothere.bin", 0, 16)).contains("not found"));
    }

    @Test
    void externalDataEscapingTheFolderIsRejected() throws Exception {
        Path md = dir.resolve("m2");
        Files.createDirectories(md);
        Files.write(dir.resolve("outside.bin"), new byte[16]);
        String up = loadError(externalModel(md, "../outside.bin", 0, 16));
        assertTrue(up.contains("'../outside.bin'") && up.contains("escapes the model's folder"), up);
        String sneaky = loadError(externalModel(md, "sub/../../outside.bin", 0, 16));
        assertTrue(sneaky.contains("escapes"), sneaky);
        String abs = loadError(externalModel(md, dir.resolve("outside.bin").toAbsolutePath().toString(), 0, 16));
        assertTrue(abs.contains("absolute"), abs);
        Files.createSymbolicLink(md.resolve("link.bin"), dir.resolve("outside.bin"));
        String link = loadError(externalModel(md, "link.bin", 0, 16));
        assertTrue(link.contains("links outside"), link);
    }

    @Test
    void graphStructureErrors() throws Exception {
        Path cycle = new OnnxBuilder().input("x", 1, 4).output("y", 1, 4)
                .node("Add", "a", in("x", "b_out"), in("a_out"))
                .node("Relu", "b", in("a_out"), in("b_out"))
                .node("Relu", "c", in("a_out"), in("y")).write(dir, "cycle.onnx");
        assertTrue(loadError(cycle).contains("cycle"));
        Path missing = new OnnxBuilder().input("x", 1, 4).output("y", 1, 4)
                .node("Add", "add", in("x", "nowhere"), in("y")).write(dir, "missing.onnx");
        String m = loadError(missing);
        assertTrue(m.contains("'add'") && m.contains("'nowhere'"), m);
        Path badShape = new OnnxBuilder().input("x", 1, 3, 8, 8).output("y")
                .init("w", new float[4 * 2 * 9], 4, 2, 3, 3)
                .node("Conv", "conv1", in("x", "w"), in("y")).write(dir, "badconv.onnx");
        String c = loadError(badShape);
        assertTrue(c.contains("Conv node 'conv1'") && c.contains("channels"), c);
        Path bn = new OnnxBuilder().input("x", 1, 2, 4, 4).input("g", 2).output("y")
                .init("b", new float[2], 2).init("m", new float[2], 2).init("v", new float[] {1, 1}, 2)
                .node("BatchNormalization", "bn", in("x", "g", "b", "m", "v"), in("y")).write(dir, "bnin.onnx");
        assertTrue(loadError(bn).contains("must be constants"));
    }

    @Test
    void wrongInputShapeIsOneLine() throws Exception {
        try (Model m = Model.load(tiny()); Tensor x = cpu.upload(new float[6], 1, 6)) {
            SalientException e = assertThrows(SalientException.class, () -> m.forward(cpu, x));
            assertTrue(e.getMessage().contains("input 'x'") && e.getMessage().contains("[1, 6]"), e.getMessage());
        }
    }
}
