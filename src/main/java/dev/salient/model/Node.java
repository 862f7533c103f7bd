package dev.salient.model;

import java.util.List;

/**
 * One node of the rewritten graph: an ONNX op (domain "" / ai.onnx) or one of
 * salient's internal ops (domain {@code salient}, e.g. ChannelAffine for a
 * standalone BatchNormalization). An empty input name is an absent optional input.
 */
public record Node(String name, String opType, String domain, List<String> inputs, List<String> outputs,
        Attributes attributes) {

    public Node {
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
    }

    public String input(int i) {
        return i < inputs.size() ? inputs.get(i) : "";
    }

    public boolean hasInput(int i) {
        return !input(i).isEmpty();
    }

    @Override
    public String toString() {
        return opType + " '" + name + "'";
    }
}
