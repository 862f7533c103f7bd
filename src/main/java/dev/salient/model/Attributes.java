package dev.salient.model;

import dev.salient.engine.SalientException;
import dev.salient.onnx.TensorDecoder;
import dev.salient.onnx.proto.Onnx.AttributeProto;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** The attributes of one node, read with defaults; a wrong type is a one-line error naming the node. */
public final class Attributes {
    private final String node;
    private final Map<String, AttributeProto> map;

    public Attributes(String node, List<AttributeProto> attrs) {
        this.node = node;
        Map<String, AttributeProto> m = new LinkedHashMap<>();
        for (AttributeProto a : attrs) m.put(a.getName(), a);
        this.map = Collections.unmodifiableMap(m);
    }

    public static Attributes empty(String node) {
        return new Attributes(node, List.of());
    }

    public Set<String> names() {
        return map.keySet();
    }

    public boolean has(String name) {
        return map.containsKey(name);
    }

    public Map<String, AttributeProto> protos() {
        return map;
    }

    private AttributeProto get(String name, AttributeProto.AttributeType type) {
        AttributeProto a = map.get(name);
        if (a == null) return null;
        if (a.hasType() && a.getType() != type)
            throw new SalientException("node '" + node + "': attribute '" + name + "' should be " + type + ", is " + a.getType());
        return a;
    }

    public long getInt(String name, long def) {
        AttributeProto a = get(name, AttributeProto.AttributeType.INT);
        return a == null ? def : a.getI();
    }

    public float getFloat(String name, float def) {
        AttributeProto a = get(name, AttributeProto.AttributeType.FLOAT);
        return a == null ? def : a.getF();
    }

    public String getString(String name, String def) {
        AttributeProto a = get(name, AttributeProto.AttributeType.STRING);
        return a == null ? def : a.getS().toStringUtf8();
    }

    /** The ints attribute, or null when absent. */
    public long[] getInts(String name) {
        AttributeProto a = get(name, AttributeProto.AttributeType.INTS);
        if (a == null) return null;
        long[] out = new long[a.getIntsCount()];
        for (int i = 0; i < out.length; i++) out[i] = a.getInts(i);
        return out;
    }

    /** The floats attribute, or null when absent. */
    public float[] getFloats(String name) {
        AttributeProto a = get(name, AttributeProto.AttributeType.FLOATS);
        if (a == null) return null;
        float[] out = new float[a.getFloatsCount()];
        for (int i = 0; i < out.length; i++) out[i] = a.getFloats(i);
        return out;
    }

    /** A tensor attribute decoded (no external data), or null when absent. */
    public HostTensor getTensor(String name) {
        AttributeProto a = get(name, AttributeProto.AttributeType.TENSOR);
        return a == null ? null : new TensorDecoder(null).decode(a.getT());
    }
}
