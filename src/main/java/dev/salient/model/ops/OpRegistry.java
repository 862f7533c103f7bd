package dev.salient.model.ops;

import dev.salient.engine.SalientException;
import dev.salient.model.Node;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/** The op types salient runs, by ONNX name (default domain) or internal name (domain {@value #INTERNAL_DOMAIN}). */
public final class OpRegistry {
    public static final String INTERNAL_DOMAIN = "salient";

    private OpRegistry() {}

    private static final Map<String, Function<OpContext, Op>> ONNX = Map.ofEntries(
            Map.entry("Conv", ConvOp::new),
            Map.entry("BatchNormalization", ctx -> {
                throw ctx.error("scale, B, mean and var must be constants to fold or apply per channel");
            }),
            Map.entry("Relu", ActivationOp::new),
            Map.entry("LeakyRelu", ActivationOp::new),
            Map.entry("Clip", ActivationOp::new),
            Map.entry("Sigmoid", ActivationOp::new),
            Map.entry("HardSigmoid", ActivationOp::new),
            Map.entry("HardSwish", ActivationOp::new),
            Map.entry("PRelu", PReluOp::new),
            Map.entry("Add", BinaryOps::new),
            Map.entry("Sub", BinaryOps::new),
            Map.entry("Mul", BinaryOps::new),
            Map.entry("Div", BinaryOps::new),
            Map.entry("Concat", ConcatOp::new),
            Map.entry("MaxPool", PoolOp::new),
            Map.entry("AveragePool", PoolOp::new),
            Map.entry("GlobalAveragePool", GlobalPoolOp::new),
            Map.entry("GlobalMaxPool", GlobalPoolOp::new),
            Map.entry("Flatten", ReshapeOps::new),
            Map.entry("Reshape", ReshapeOps::new),
            Map.entry("Squeeze", ReshapeOps::new),
            Map.entry("Unsqueeze", ReshapeOps::new),
            Map.entry("Identity", ReshapeOps::new),
            Map.entry("Dropout", ReshapeOps::new),
            Map.entry("Gemm", GemmOp::new),
            Map.entry("MatMul", MatMulOp::new),
            Map.entry("Softmax", SoftmaxOp::new),
            Map.entry("Constant", ConstantOps::new),
            Map.entry("Shape", ConstantOps::new),
            Map.entry("ConstantOfShape", ConstantOps::new),
            Map.entry("Range", ConstantOps::new),
            Map.entry("Gather", GatherOp::new),
            Map.entry("Slice", SliceOp::new),
            Map.entry("Pad", PadOp::new),
            Map.entry("Cast", CastOp::new));

    /** Required inputs per op type (1 when not listed); optional trailing inputs may be absent. */
    private static final Map<String, Integer> MIN_INPUTS = Map.ofEntries(
            Map.entry("Conv", 2), Map.entry("BatchNormalization", 5), Map.entry("PRelu", 2), Map.entry("Add", 2),
            Map.entry("Sub", 2), Map.entry("Mul", 2), Map.entry("Div", 2), Map.entry("Gemm", 2), Map.entry("MatMul", 2),
            Map.entry("Gather", 2), Map.entry("Range", 3), Map.entry("Constant", 0), Map.entry("ChannelAffine", 3));

    /** Most inputs per op type (ONNX's signature, latest opset salient reads); absent: no upper bound (Concat). */
    private static final Map<String, Integer> MAX_INPUTS = Map.ofEntries(
            Map.entry("Conv", 3), Map.entry("BatchNormalization", 5), Map.entry("Relu", 1), Map.entry("LeakyRelu", 1),
            Map.entry("Clip", 3), Map.entry("Sigmoid", 1), Map.entry("HardSigmoid", 1), Map.entry("HardSwish", 1),
            Map.entry("PRelu", 2), Map.entry("Add", 2), Map.entry("Sub", 2), Map.entry("Mul", 2), Map.entry("Div", 2),
            Map.entry("MaxPool", 1), Map.entry("AveragePool", 1), Map.entry("GlobalAveragePool", 1),
            Map.entry("GlobalMaxPool", 1), Map.entry("Flatten", 1), Map.entry("Reshape", 2), Map.entry("Squeeze", 2),
            Map.entry("Unsqueeze", 2), Map.entry("Identity", 1), Map.entry("Dropout", 3), Map.entry("Gemm", 3),
            Map.entry("MatMul", 2), Map.entry("Softmax", 1), Map.entry("Constant", 0), Map.entry("Shape", 1),
            Map.entry("ConstantOfShape", 1), Map.entry("Range", 3), Map.entry("Gather", 2), Map.entry("Slice", 5),
            Map.entry("Pad", 4), Map.entry("Cast", 1), Map.entry("ChannelAffine", 3));

    /** Inputs that carry float data (activations, weights): a constant there must be of a float type. */
    private static final Map<String, Integer> FLOAT_INPUTS = Map.ofEntries(
            Map.entry("Conv", 3), Map.entry("BatchNormalization", 5), Map.entry("PRelu", 2), Map.entry("Gemm", 3),
            Map.entry("MatMul", 2), Map.entry("ChannelAffine", 3), Map.entry("Relu", 1), Map.entry("LeakyRelu", 1),
            Map.entry("Sigmoid", 1), Map.entry("HardSigmoid", 1), Map.entry("HardSwish", 1), Map.entry("MaxPool", 1),
            Map.entry("AveragePool", 1), Map.entry("GlobalAveragePool", 1), Map.entry("GlobalMaxPool", 1),
            Map.entry("Softmax", 1));

    /**
     * The load-time check of one node against its op's signature: input and
     * output counts, and float types where the op computes on float data (a
     * Conv weight retyped INT32 would run as huge integers). {@code isFloatConstant}
     * says, for an input that is a constant, whether it holds floats (null: not a constant).
     */
    public static void checkSignature(Node n, int opset, Function<String, Boolean> isFloatConstant) {
        if (!supports(n)) throw unsupported(n);
        String op = n.opType();
        int present = n.inputs().size();
        while (present > 0 && n.inputs().get(present - 1).isEmpty()) present--; // trailing optional inputs left out
        Integer max = MAX_INPUTS.get(op);
        if (op.equals("Clip") && opset < 11 || op.equals("Dropout") && opset < 12) max = 1;
        if (op.equals("Reshape") && opset < 5 || op.equals("Squeeze") && opset < 13 || op.equals("Unsqueeze") && opset < 13) max = 1;
        if (op.equals("Slice") && opset < 10 || op.equals("Pad") && opset < 11) max = 1;
        if (max != null && present > max)
            throw new SalientException("node '" + n.name() + "' (" + op + ") has " + present + " inputs; " + op
                    + " takes at most " + max);
        int outs = n.outputs().size();
        int maxOut = switch (op) {
            case "BatchNormalization" -> 5;
            case "Dropout", "MaxPool" -> 2;
            default -> 1;
        };
        if (outs > maxOut)
            throw new SalientException("node '" + n.name() + "' (" + op + ") has " + outs + " outputs; " + op
                    + " has at most " + maxOut);
        int floats = FLOAT_INPUTS.getOrDefault(op, 0);
        for (int i = 0; i < Math.min(floats, present); i++) {
            if (!n.hasInput(i)) continue;
            Boolean isFloat = isFloatConstant.apply(n.input(i));
            if (isFloat != null && !isFloat)
                throw new SalientException("node '" + n.name() + "' (" + op + ") input " + i + " '" + n.input(i)
                        + "' is an integer tensor; " + op + " computes on float data");
        }
    }

    private static final Map<String, Function<OpContext, Op>> INTERNAL = Map.of("ChannelAffine", ChannelAffineOp::new);

    public static boolean isDefaultDomain(String domain) {
        return domain == null || domain.isEmpty() || domain.equals("ai.onnx");
    }

    /** True when salient can run this node's op type (domain included). */
    public static boolean supports(Node node) {
        if (isDefaultDomain(node.domain())) return ONNX.containsKey(node.opType());
        return INTERNAL_DOMAIN.equals(node.domain()) && INTERNAL.containsKey(node.opType());
    }

    /** The supported ONNX op types, sorted. */
    public static Set<String> onnxOpTypes() {
        return new TreeSet<>(ONNX.keySet());
    }

    /** Builds the op for a node; SalientException naming op and node if unsupported or misconfigured. */
    public static Op create(OpContext ctx) {
        Node n = ctx.node();
        Function<OpContext, Op> f = isDefaultDomain(n.domain()) ? ONNX.get(n.opType())
                : INTERNAL_DOMAIN.equals(n.domain()) ? INTERNAL.get(n.opType()) : null;
        if (f == null) throw unsupported(n);
        int min = MIN_INPUTS.getOrDefault(n.opType(), 1);
        if (n.opType().equals("Reshape") && ctx.opset() >= 5) min = 2;
        if (n.opType().equals("Slice") && ctx.opset() >= 10) min = 3;
        for (int i = 0; i < min; i++)
            if (!n.hasInput(i)) throw ctx.error("needs at least " + min + " inputs, has " + n.inputs().size());
        if (n.outputs().isEmpty() || n.outputs().get(0).isEmpty()) throw ctx.error("has no output");
        return f.apply(ctx);
    }

    public static SalientException unsupported(Node n) {
        String dom = isDefaultDomain(n.domain()) ? "" : " of domain '" + n.domain() + "'";
        return new SalientException("unsupported op '" + n.opType() + "'" + dom + " in node '" + n.name()
                + "' (supported: " + String.join(", ", onnxOpTypes()) + ")");
    }
}
