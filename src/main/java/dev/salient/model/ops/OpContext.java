package dev.salient.model.ops;

import dev.salient.engine.SalientException;
import dev.salient.model.Attributes;
import dev.salient.model.HostTensor;
import dev.salient.model.Node;

/** What an op is built from: the node, the default-domain opset, and the inputs known as constants. */
public final class OpContext {
    private final Node node;
    private final int opset;
    private final HostTensor[] known;

    public OpContext(Node node, int opset, HostTensor[] known) {
        this.node = node;
        this.opset = opset;
        this.known = known;
    }

    public Node node() {
        return node;
    }

    public String name() {
        return node.name();
    }

    public int opset() {
        return opset;
    }

    public Attributes attrs() {
        return node.attributes();
    }

    public int inputCount() {
        return node.inputs().size();
    }

    public boolean hasInput(int i) {
        return node.hasInput(i);
    }

    /** The constant value of input i, or null if absent or only known at run time. */
    public HostTensor known(int i) {
        return i < known.length ? known[i] : null;
    }

    /** The constant value of input i; an error naming the node when it is not a constant. */
    public HostTensor requireConst(int i, String what) {
        if (!hasInput(i)) throw error("missing input " + what);
        HostTensor t = known(i);
        if (t == null)
            throw error("input " + what + " ('" + node.input(i) + "') must be a constant (computed at load or plan time)");
        return t;
    }

    public SalientException error(String msg) {
        return new SalientException(node.opType() + " node '" + node.name() + "': " + msg);
    }
}
