package dev.salient.model;

import com.google.protobuf.ByteString;
import dev.salient.onnx.proto.Onnx.AttributeProto;
import dev.salient.onnx.proto.Onnx.GraphProto;
import dev.salient.onnx.proto.Onnx.ModelProto;
import dev.salient.onnx.proto.Onnx.NodeProto;
import dev.salient.onnx.proto.Onnx.OperatorSetIdProto;
import dev.salient.onnx.proto.Onnx.TensorProto;
import dev.salient.onnx.proto.Onnx.TensorShapeProto;
import dev.salient.onnx.proto.Onnx.TypeProto;
import dev.salient.onnx.proto.Onnx.ValueInfoProto;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

/** Builds small ONNX models in tests with the generated protobuf builders. */
public final class OnnxBuilder {
    private final GraphProto.Builder g = GraphProto.newBuilder().setName("test");
    private int opset = 13;

    public OnnxBuilder opset(int v) {
        opset = v;
        return this;
    }

    public OnnxBuilder input(String name, long... dims) {
        g.addInput(valueInfo(name, 1, dims));
        return this;
    }

    public OnnxBuilder output(String name, long... dims) {
        g.addOutput(valueInfo(name, 1, dims));
        return this;
    }

    /** A float initializer (raw_data). */
    public OnnxBuilder init(String name, float[] data, long... dims) {
        g.addInitializer(floatTensor(name, data, dims));
        return this;
    }

    /** A float scalar initializer. */
    public OnnxBuilder initFloat(String name, float v) {
        g.addInitializer(floatTensor(name, new float[] {v}));
        return this;
    }

    public OnnxBuilder initInts(String name, long[] data, long... dims) {
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(7);
        for (long d : dims) t.addDims(d);
        for (long v : data) t.addInt64Data(v);
        g.addInitializer(t);
        return this;
    }

    public OnnxBuilder init(TensorProto t) {
        g.addInitializer(t);
        return this;
    }

    public OnnxBuilder node(String op, String name, String[] in, String[] out, AttributeProto... attrs) {
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setName(name);
        n.addAllInput(Arrays.asList(in)).addAllOutput(Arrays.asList(out));
        for (AttributeProto a : attrs) n.addAttribute(a);
        g.addNode(n);
        return this;
    }

    public OnnxBuilder node(NodeProto n) {
        g.addNode(n);
        return this;
    }

    public ModelProto build() {
        return ModelProto.newBuilder().setIrVersion(8).setProducerName("salient-test")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset)).setGraph(g).build();
    }

    public Path write(Path dir, String file) throws IOException {
        Path p = dir.resolve(file);
        Files.write(p, build().toByteArray());
        return p;
    }

    // ---- pieces

    public static ValueInfoProto valueInfo(String name, int elemType, long... dims) {
        TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
        for (long d : dims)
            s.addDim(d < 0 ? TensorShapeProto.Dimension.newBuilder().setDimParam("N")
                    : TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(s)))
                .build();
    }

    public static TensorProto floatTensor(String name, float[] data, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : data) b.putFloat(f);
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(1).setRawData(ByteString.copyFrom(b.array()));
        for (long d : dims) t.addDims(d);
        return t.build();
    }

    public static AttributeProto attr(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    public static AttributeProto attr(String name, float v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(v).build();
    }

    public static AttributeProto attr(String name, String v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.STRING)
                .setS(ByteString.copyFromUtf8(v)).build();
    }

    public static AttributeProto attrs(String name, long... v) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long x : v) a.addInts(x);
        return a.build();
    }

    public static String[] in(String... names) {
        return names;
    }

    public static float[] random(Random r, int n, float scale) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float) (r.nextGaussian() * scale);
        return f;
    }

    public static float[] positive(Random r, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = 0.5f + r.nextFloat();
        return f;
    }
}
