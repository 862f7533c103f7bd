package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.model.HostTensor;

/**
 * One node's computation, built by {@link OpRegistry} from the node's
 * attributes and whatever inputs are known constants when a plan is made.
 * Inputs are indexed as the node's inputs. A <em>param</em> input (a Reshape
 * shape, Slice starts, Clip bounds...) is consumed when the op is built: its
 * slot in {@code in} is null in {@link #forward} and its gradient is never
 * asked for. Every other input arrives as a backend tensor (an uploaded weight
 * or an activation).
 */
public interface Op {

    /** The ONNX op type (or salient's internal one). */
    String opType();

    /** True when input {@code i} is a param consumed at build time. */
    default boolean isParamInput(int i) {
        return false;
    }

    /**
     * Output shapes from the input shapes (param inputs included, as their
     * constant shapes); throws {@link SalientException} naming the node on a
     * bad shape.
     */
    long[][] outputShapes(long[][] inputShapes);

    /**
     * An input whose buffer output 0 may overwrite (an elementwise op reading
     * each element before writing the same position), or -1. The planner uses
     * it only when that input dies at this step.
     */
    default int inPlaceInput(long[][] inputShapes, long[] outputShape) {
        return -1;
    }

    /** Runs the op; {@code out} is preallocated with {@link #outputShapes}. */
    void forward(Backend b, Tensor[] in, Tensor[] out);

    /**
     * Whether {@code next}, the following step, whose only tensor input is this op's single
     * output, can run as this op's epilogue on {@code b} (a Conv followed by Relu or Clip). Only
     * a plain forward pass fuses, and only where nothing asked to keep this op's output: the
     * tape runs every step on its own.
     */
    default boolean fuses(Op next, Backend b) {
        return false;
    }

    /**
     * Whether the fused step of this op and its epilogue (see {@link #fuses}) may write its output
     * over this op's data input: each output element is computed from the input element at the
     * same place alone, read before it is written (a channel affine then Relu). A conv may not.
     */
    default boolean fusesInPlace() {
        return false;
    }

    /** Runs this op with {@code next} as its epilogue (see {@link #fuses}); {@code out} is next's output. */
    default void forwardFused(Backend b, Tensor[] in, Op next, Tensor out) {
        throw new UnsupportedOperationException(opType() + " fuses nothing");
    }

    /**
     * Whether this op, then an Add of its single output and another tensor of the same shape
     * (a residual block's sum), then optionally {@code act} (an activation of the sum alone; null
     * for none), can run as one step on {@code b} (a 2-D Conv adding the residual and applying
     * Relu or Clip in its epilogue). Only a plain forward pass fuses, and only where nothing asked
     * to keep the op's output or the sum.
     */
    default boolean fusesSum(Op act, Backend b) {
        return false;
    }

    /**
     * Runs this op, the Add of {@code z} and the activation {@code act} (or none when null) as one
     * step (see {@link #fusesSum}); {@code out} is the last fused step's output.
     */
    default void forwardFusedSum(Backend b, Tensor[] in, Tensor z, Op act, Tensor out) {
        throw new UnsupportedOperationException(opType() + " fuses no sum");
    }

    /**
     * Runs this op (then the Add of {@code z} when not null, then {@code act} when not null, as
     * {@link #forwardFusedSum} or {@link #forwardFused} would) for one output channel per image,
     * {@code channels[n]} of image n, writing 0 to the others (a 2-D Conv:
     * {@link Backend#conv2dForwardChannels}): a plan runs it where only those channels of the
     * step's output are read. Returns false, having done nothing, where this op cannot.
     */
    default boolean forwardChannels(Backend b, Tensor[] in, Tensor z, Op act, int[] channels, Tensor out) {
        return false;
    }

    /**
     * Whether this op's output, for inputs of these shapes, is its inputs laid end to end in memory,
     * in order (a Concat with only size-1 axes before its axis: DenseNet's feature concats at batch 1).
     * A plan may then have the steps that make the inputs write them where the output lies, and
     * skip this op.
     */
    default boolean concatenatesInPlace(long[][] inputShapes) {
        return false;
    }

    /**
     * Whether this op can read its data input (input 0, of shape {@code inputShapes[0]}) as the
     * output of {@code pre} and {@code preAct} computed on the fly, in one step on {@code b}: the step
     * before it (its inputs' shapes {@code preShapes}; {@code inputShapes} this op's own), whose single
     * output only this op reads, and null or an activation fused into pre's epilogue (a per-channel
     * affine map and its Relu before a pointwise Conv, which applies them as it packs its input; a
     * pointwise Conv and its Clip before a depthwise Conv, which makes its input a band of rows at a
     * time). Only a plain forward pass fuses, and only where nothing asked to keep pre's or preAct's
     * output.
     */
    default boolean fusesPrologue(Op pre, long[][] preShapes, Op preAct, long[][] inputShapes, Backend b) {
        return false;
    }

    /**
     * Runs {@code pre} (inputs {@code preIn}), {@code preAct} (or none when null), this op (inputs
     * {@code in}, of which the data input, never computed, is null) and {@code next} (an activation
     * fused into its epilogue, or null) as one step (see {@link #fusesPrologue}); {@code out} is the
     * last fused step's output.
     */
    default void forwardFusedPrologue(Backend b, Tensor[] preIn, Op pre, Op preAct, Tensor[] in, Op next, Tensor out) {
        throw new UnsupportedOperationException(opType() + " fuses no prologue");
    }

    /**
     * Folds the op on the host when every present input is a known constant, or
     * returns null when it must run on the backend (weights are then uploaded).
     * Only for small, shape-like data; never used on the hot path.
     */
    default HostTensor[] fold(HostTensor[] in) {
        return null;
    }

    /** Folds the op from its input shapes alone (Shape), or null. */
    default HostTensor[] foldShapes(long[][] inputShapes) {
        return null;
    }

    /**
     * Whether {@link #backward} reads the forward values of the op's data inputs. Where it does
     * not, a tape may keep none of them and hand it nulls.
     */
    default boolean backwardReadsInputs() {
        return true;
    }

    /**
     * Whether {@link #backward} reads the op's outputs. Where it does not, a tape may keep none,
     * and the forward may then fuse the op with its successor (a Conv with its Relu).
     */
    default boolean backwardReadsOutputs() {
        return true;
    }

    /**
     * VJP: dIn[i] preallocated with input i's shape where needed (null = not
     * needed, e.g. weights); overwrite, don't accumulate.
     */
    default void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        throw new SalientException(opType() + ": no backward");
    }

    /**
     * Whether {@link #backwardThroughRelu} can run for these input shapes: the op's data input 0
     * is the output of a Relu, and the op can write that Relu's input gradient itself; {@code sum}:
     * with the other contributions to the Relu output's gradient added first.
     */
    default boolean backwardFusesRelu(long[][] inputShapes, boolean sum) {
        return false;
    }

    /**
     * The backward of this op and then of the Relu whose output is its input 0: dIn[0] gets
     * {@link #backward}'s dIn[0], plus {@code sum} when given (the Relu output's other gradient
     * contributions), with zeros where {@code reluOut} (that input's value) is ≤ 0, as the Relu's
     * own backward writes them (NaN passes), in one pass where the backend fuses it.
     */
    default void backwardThroughRelu(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn, Tensor reluOut,
            Tensor sum) {
        throw new SalientException(opType() + ": no backward through a Relu");
    }
}
