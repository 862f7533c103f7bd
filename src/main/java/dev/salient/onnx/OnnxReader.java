package dev.salient.onnx;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import dev.salient.engine.CpuNative;
import dev.salient.engine.SalientException;
import dev.salient.model.Attributes;
import dev.salient.model.Graph;
import dev.salient.model.HostTensor;
import dev.salient.model.Node;
import dev.salient.model.ValueInfo;
import dev.salient.model.ops.OpRegistry;
import dev.salient.onnx.proto.Onnx.GraphProto;
import dev.salient.onnx.proto.Onnx.ModelProto;
import dev.salient.onnx.proto.Onnx.NodeProto;
import dev.salient.onnx.proto.Onnx.OperatorSetIdProto;
import dev.salient.onnx.proto.Onnx.TensorProto;
import dev.salient.onnx.proto.Onnx.TensorShapeProto;
import dev.salient.onnx.proto.Onnx.ValueInfoProto;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.Pointer;

/**
 * Reads an ONNX file into a {@link Graph}: parses the protobuf, decodes the
 * initializers (external data only inside the model's folder), names unnamed
 * nodes, checks that every op is supported, and sorts the nodes topologically
 * (a cycle or an undefined input is an error). Every failure is one line.
 */
public final class OnnxReader {
    /** Largest model file read (bytes): protobuf's own 2 GiB limit. */
    static final long MAX_FILE_BYTES = Integer.MAX_VALUE - 8;
    /** Opsets whose semantics salient implements for its op set. */
    public static final int MIN_OPSET = 1, MAX_OPSET = 21;

    private OnnxReader() {}

    public static ModelProto parse(Path file) {
        return parseMapped(file).model;
    }

    /** A parsed model and the file mapping its large byte fields (raw_data) alias; null mapping: read on the heap. */
    private record Parsed(ModelProto model, ByteBuffer mapping) {}

    /**
     * Parses the file through a read-only memory mapping, with protobuf aliasing: byte fields
     * (raw_data) are views of the mapping, so the weights are read once, straight from the file's
     * pages into their final memory, and the Java heap never holds them. The mapping lives as
     * long as anything parsed from it (the Java runtime unmaps it once unreachable).
     */
    private static Parsed parseMapped(Path file) {
        String f = file.toString();
        if (!Files.exists(file)) throw new SalientException(f + ": model file not found");
        if (!Files.isRegularFile(file)) throw new SalientException(f + ": not a regular file");
        ByteBuffer mapping = null;
        byte[] bytes = null;
        try {
            long size = Files.size(file);
            if (size > MAX_FILE_BYTES) throw new SalientException(f + ": model file of " + size + " bytes exceeds 2 GiB (use external data)");
            if (size == 0) throw new SalientException(f + ": model file is empty");
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                mapping = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
            } catch (IOException | UnsupportedOperationException e) { // a file that cannot be mapped: read it
                bytes = Files.readAllBytes(file);
            }
        } catch (IOException e) {
            throw new SalientException(f + ": cannot read model file: " + e.getMessage());
        }
        ModelProto m;
        try {
            CodedInputStream in;
            if (mapping != null) {
                in = UnsafeByteOperations.unsafeWrap(mapping).newCodedInput();
                in.enableAliasing(true);
            } else {
                in = CodedInputStream.newInstance(bytes);
            }
            in.setSizeLimit(Integer.MAX_VALUE);
            m = ModelProto.parseFrom(in);
            in.checkLastTagWas(0);
        } catch (InvalidProtocolBufferException e) {
            throw new SalientException(f + ": not a valid ONNX model (" + oneLine(e.getMessage()) + ")");
        } catch (IOException | RuntimeException e) {
            throw new SalientException(f + ": not a valid ONNX model (" + oneLine(String.valueOf(e.getMessage())) + ")");
        }
        if (!m.hasGraph() || m.getGraph().getOutputCount() == 0)
            throw new SalientException(f + ": not a valid ONNX model (no graph or no graph outputs)");
        if (m.getIrVersion() <= 0 || m.getIrVersion() > 100)
            throw new SalientException(f + ": not a valid ONNX model (ir_version " + m.getIrVersion() + ")");
        return new Parsed(m, mapping);
    }

    /**
     * Gives back the resident pages of a mapping whose weights have been copied out: they would
     * otherwise count in this process's resident set until the mapping is collected. Whatever still
     * aliases the mapping (node attributes) reads it again from the file.
     */
    private static void releasePages(ByteBuffer mapping) {
        if (mapping == null) return;
        CpuNative.salient_release_pages(new Pointer(mapping), mapping.capacity());
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.replace('\n', ' ').replace('\r', ' ');
    }

    /** The default-domain opset; 1 when the model imports none (ir_version < 3). */
    static int opset(ModelProto m, String file) {
        int v = -1;
        for (OperatorSetIdProto o : m.getOpsetImportList())
            if (OpRegistry.isDefaultDomain(o.getDomain())) v = (int) Math.min(Integer.MAX_VALUE, o.getVersion());
        if (v == -1) v = m.getOpsetImportCount() == 0 ? 1 : -1;
        if (v < MIN_OPSET || v > MAX_OPSET)
            throw new SalientException(file + ": default-domain opset " + v + " is not supported (" + MIN_OPSET + " to " + MAX_OPSET + ")");
        return v;
    }

    /** Reads, decodes and validates; the graph is not yet rewritten. */
    public static Graph read(Path file) {
        return read(file, Map.of());
    }

    /**
     * As {@link #read(Path)}, binding some graph inputs to constant values
     * (e.g. an int64 shape input); they are then constants, not run-time inputs.
     */
    public static Graph read(Path file, Map<String, HostTensor> bind) {
        Parsed parsed = parseMapped(file);
        try {
            return read(parsed.model, file, bind);
        } finally {
            releasePages(parsed.mapping);
        }
    }

    private static Graph read(ModelProto m, Path file, Map<String, HostTensor> bind) {
        String f = file.toString();
        int opset = opset(m, f);
        GraphProto g = m.getGraph();
        Path dir = file.toAbsolutePath().getParent();
        TensorDecoder dec = new TensorDecoder(dir, true);

        Map<String, HostTensor> constants = new LinkedHashMap<>();
        for (TensorProto t : g.getInitializerList()) {
            if (t.getName().isEmpty()) throw new SalientException(f + ": an initializer has no name");
            if (constants.containsKey(t.getName()))
                throw new SalientException(f + ": initializer '" + t.getName() + "' is defined twice");
            constants.put(t.getName(), dec.decode(t));
        }
        List<ValueInfo> inputs = new ArrayList<>();
        Set<String> inputNames = new HashSet<>();
        for (ValueInfoProto v : g.getInputList()) {
            if (v.getName().isEmpty()) throw new SalientException(f + ": a graph input has no name");
            if (bind.containsKey(v.getName())) {
                constants.put(v.getName(), bind.get(v.getName()));
                continue;
            }
            if (constants.containsKey(v.getName())) continue;
            checkInputType(v, f);
            inputs.add(valueInfo(v));
            inputNames.add(v.getName());
        }
        for (String b : bind.keySet())
            if (!constants.containsKey(b)) throw new SalientException(f + ": bound input '" + b + "' is not a graph input");
        List<ValueInfo> outputs = new ArrayList<>();
        for (ValueInfoProto v : g.getOutputList()) {
            if (v.getName().isEmpty()) throw new SalientException(f + ": a graph output has no name");
            outputs.add(valueInfo(v));
        }

        List<Node> nodes = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (NodeProto n : g.getNodeList()) names.add(n.getName());
        int idx = 0;
        for (NodeProto n : g.getNodeList()) {
            String name = n.getName();
            if (name.isEmpty()) {
                name = n.getOpType() + "_" + idx;
                while (names.contains(name)) name = name + "_";
                names.add(name);
            }
            idx++;
            Node node = new Node(name, n.getOpType(), n.getDomain(), n.getInputList(), n.getOutputList(),
                    new Attributes(name, n.getAttributeList()));
            try {
                OpRegistry.checkSignature(node, opset, t -> constants.containsKey(t) ? constants.get(t).isFloat() : null);
            } catch (SalientException e) {
                throw new SalientException(f + ": " + e.getMessage());
            }
            nodes.add(node);
        }
        return new Graph(sort(nodes, inputNames, constants.keySet(), outputs, f), inputs, outputs, constants, opset);
    }

    /** A run-time graph input is a float tensor salient can feed: a known float elem_type, or none declared. */
    static void checkInputType(ValueInfoProto v, String f) {
        if (!v.hasType()) return;
        if (!v.getType().hasTensorType())
            throw new SalientException(f + ": graph input '" + v.getName() + "' is not a tensor (" + v.getType().getValueCase() + ")");
        var tt = v.getType().getTensorType();
        if (!tt.hasElemType() || tt.getElemType() == 0) return; // undeclared: fed as float
        int t = tt.getElemType();
        if (!TensorDecoder.isFloatType(t))
            throw new SalientException(f + ": graph input '" + v.getName() + "' has element type " + TensorDecoder.typeName(t)
                    + "; salient feeds float inputs (FLOAT, FLOAT16, BFLOAT16, DOUBLE)");
    }

    static ValueInfo valueInfo(ValueInfoProto v) {
        if (!v.hasType() || !v.getType().hasTensorType()) return new ValueInfo(v.getName(), null);
        var tt = v.getType().getTensorType();
        if (!tt.hasShape()) return new ValueInfo(v.getName(), null);
        List<TensorShapeProto.Dimension> dims = tt.getShape().getDimList();
        long[] s = new long[dims.size()];
        for (int i = 0; i < s.length; i++)
            s[i] = dims.get(i).hasDimValue() && dims.get(i).getDimValue() >= 0 ? dims.get(i).getDimValue() : -1;
        return new ValueInfo(v.getName(), s);
    }

    /** Kahn's sort, stable for graphs already in order; errors name the node and tensor. */
    static List<Node> sort(List<Node> nodes, Set<String> inputs, Set<String> constants, List<ValueInfo> outputs, String f) {
        Map<String, Integer> producer = new HashMap<>();
        for (int i = 0; i < nodes.size(); i++)
            for (String o : nodes.get(i).outputs()) {
                if (o.isEmpty()) continue;
                if (producer.containsKey(o) || inputs.contains(o) || constants.contains(o))
                    throw new SalientException(f + ": tensor '" + o + "' is defined twice (node '" + nodes.get(i).name() + "')");
                producer.put(o, i);
            }
        int[] pending = new int[nodes.size()];
        Map<Integer, List<Integer>> users = new HashMap<>();
        for (int i = 0; i < nodes.size(); i++) {
            Set<Integer> deps = new HashSet<>();
            for (String in : nodes.get(i).inputs()) {
                if (in.isEmpty() || inputs.contains(in) || constants.contains(in)) continue;
                Integer p = producer.get(in);
                if (p == null)
                    throw new SalientException(f + ": node '" + nodes.get(i).name() + "' reads tensor '" + in
                            + "', which no node, input or initializer defines");
                deps.add(p);
            }
            pending[i] = deps.size();
            for (int p : deps) users.computeIfAbsent(p, k -> new ArrayList<>()).add(i);
        }
        ArrayDeque<Integer> ready = new ArrayDeque<>();
        for (int i = 0; i < nodes.size(); i++) if (pending[i] == 0) ready.add(i);
        List<Node> out = new ArrayList<>();
        // process in original order where possible: a priority on index keeps stable order
        java.util.PriorityQueue<Integer> pq = new java.util.PriorityQueue<>(ready);
        while (!pq.isEmpty()) {
            int i = pq.poll();
            out.add(nodes.get(i));
            for (int u : users.getOrDefault(i, List.of())) if (--pending[u] == 0) pq.add(u);
        }
        if (out.size() != nodes.size()) {
            for (int i = 0; i < nodes.size(); i++)
                if (pending[i] > 0) throw new SalientException(f + ": the graph has a cycle through node '" + nodes.get(i).name() + "'");
        }
        for (ValueInfo o : outputs)
            if (!producer.containsKey(o.name()) && !inputs.contains(o.name()) && !constants.contains(o.name()))
                throw new SalientException(f + ": graph output '" + o.name() + "' is not produced by any node");
        return out;
    }
}
