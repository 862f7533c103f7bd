package dev.salient.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The graph IR after load-time rewriting: nodes in topological order, the
 * run-time inputs (initializers excluded), the outputs, and the constants
 * (initializers and folded values) by tensor name. Immutable.
 */
public final class Graph {
    private final List<Node> nodes;
    private final List<ValueInfo> inputs;
    private final List<ValueInfo> outputs;
    private final Map<String, HostTensor> constants;
    private final int opset;
    private final Map<String, String> aliases;
    private final Map<String, Node> producers = new HashMap<>();
    private final Map<String, List<Node>> consumers = new HashMap<>();

    public Graph(List<Node> nodes, List<ValueInfo> inputs, List<ValueInfo> outputs, Map<String, HostTensor> constants, int opset) {
        this(nodes, inputs, outputs, constants, opset, Map.of());
    }

    /** As above, with the names of removed pass-through tensors (Identity, Dropout) mapped to the tensor they equal. */
    public Graph(List<Node> nodes, List<ValueInfo> inputs, List<ValueInfo> outputs, Map<String, HostTensor> constants, int opset,
            Map<String, String> aliases) {
        this.aliases = Map.copyOf(aliases);
        this.nodes = List.copyOf(nodes);
        this.inputs = List.copyOf(inputs);
        this.outputs = List.copyOf(outputs);
        this.constants = Collections.unmodifiableMap(new LinkedHashMap<>(constants));
        this.opset = opset;
        for (Node n : this.nodes) {
            for (String o : n.outputs()) if (!o.isEmpty()) producers.put(o, n);
            for (String i : n.inputs()) if (!i.isEmpty()) consumers.computeIfAbsent(i, k -> new ArrayList<>()).add(n);
        }
    }

    /** Nodes in topological order. */
    public List<Node> nodes() {
        return nodes;
    }

    /** The run-time inputs (not the initializers). */
    public List<ValueInfo> inputs() {
        return inputs;
    }

    public List<ValueInfo> outputs() {
        return outputs;
    }

    /** Constant tensors by name (weights and folded values). */
    public Map<String, HostTensor> constants() {
        return constants;
    }

    /** The default-domain (ai.onnx) opset version. */
    public int opset() {
        return opset;
    }

    /**
     * Tensors of the original model removed as pass-throughs (Identity,
     * inference Dropout, zero Pad), mapped to the tensor holding the same value.
     */
    public Map<String, String> aliases() {
        return aliases;
    }

    /** The tensor carrying a name's value in this graph (the name itself unless it was a removed pass-through). */
    public String resolve(String tensor) {
        return aliases.getOrDefault(tensor, tensor);
    }

    /** The node producing a tensor, or null for an input or a constant. */
    public Node producer(String tensor) {
        return producers.get(tensor);
    }

    /** Nodes reading a tensor, in order. */
    public List<Node> consumers(String tensor) {
        return consumers.getOrDefault(tensor, List.of());
    }

    /** The node of that name, or null. */
    public Node node(String name) {
        for (Node n : nodes) if (n.name().equals(name)) return n;
        return null;
    }

    public boolean isInput(String tensor) {
        for (ValueInfo v : inputs) if (v.name().equals(tensor)) return true;
        return false;
    }

    public boolean isOutput(String tensor) {
        for (ValueInfo v : outputs) if (v.name().equals(tensor)) return true;
        return false;
    }

    /** Every tensor name: inputs, constants and node outputs. */
    public Set<String> tensorNames() {
        Set<String> s = new java.util.LinkedHashSet<>();
        for (ValueInfo v : inputs) s.add(v.name());
        s.addAll(constants.keySet());
        for (Node n : nodes) for (String o : n.outputs()) if (!o.isEmpty()) s.add(o);
        return s;
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("graph(opset " + opset + ", inputs " + inputs + ", outputs " + outputs + ")\n");
        for (Node n : nodes) b.append("  ").append(n.opType()).append(' ').append(n.name()).append(' ')
                .append(n.inputs()).append(" -> ").append(n.outputs()).append('\n');
        return b.toString();
    }
}
