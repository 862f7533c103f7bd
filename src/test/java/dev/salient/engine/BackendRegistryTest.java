package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Guards of the Backend op list: every op has a CUDA parity case (a test of
 * CudaParityTest that runs it on both engines), and every engine checks every op's
 * arguments through the one {@link OpChecks} (no engine keeps checks of its own).
 */
class BackendRegistryTest {
    /** Lifecycle, memory and capability methods: not ops with a kernel. */
    static final Set<String> MEMORY = Set.of("name", "allocate", "zeros", "upload", "download", "free", "synchronize",
            "close", "fusesConvPrologue", "fusesCoalitionConv", "fusesPointwiseDepthwise",
            "fusesDepthwisePointwise");

    /**
     * Each op and the CudaParityTest method that compares its CUDA kernel with the CPU engine
     * ({@code Class.method} for a case in another test class of dev.salient.engine.cuda).
     */
    static final Map<String, String> PARITY_CASE = Map.ofEntries(
            Map.entry("copy", "fillAndCopies"),
            Map.entry("copyRange", "fillAndCopies"),
            Map.entry("fill", "fillAndCopies"),
            Map.entry("conv2dForward", "conv2dForward"),
            Map.entry("conv2dForwardActivation", "conv2dForwardActivation"),
            Map.entry("conv2dForwardSum", "conv2dForwardSum"),
            Map.entry("conv2dForwardPrologue", "conv2dForwardPrologue"),
            Map.entry("conv2dPointwiseDepthwise", "conv2dPointwiseDepthwise"),
            Map.entry("conv2dDepthwisePointwise", "conv2dDepthwisePointwise"),
            Map.entry("conv2dForwardChannels", "conv2dForwardChannels"),
            Map.entry("conv2dBackwardData", "conv2dBackwardData"),
            Map.entry("conv2dBackwardDataRelu", "conv2dBackwardDataRelu"),
            Map.entry("maxPool2dBackwardRelu", "maxPool"),
            Map.entry("maxPool2dForward", "maxPool"),
            Map.entry("maxPool2dBackward", "maxPool"),
            Map.entry("avgPool2dForward", "avgPool"),
            Map.entry("avgPool2dBackward", "avgPool"),
            Map.entry("activationForward", "activation"),
            Map.entry("activationBackward", "activation"),
            Map.entry("preluForward", "prelu"),
            Map.entry("preluBackward", "prelu"),
            Map.entry("binary", "binary"),
            Map.entry("reduceSumTo", "reduceSumTo"),
            Map.entry("channelAffine", "channelAffineAndAxpby"),
            Map.entry("channelAffineActivation", "channelAffineAndAxpby"),
            Map.entry("axpby", "channelAffineAndAxpby"),
            Map.entry("gemm", "gemm"),
            Map.entry("matmul", "matmul"),
            Map.entry("softmaxForward", "softmax"),
            Map.entry("softmaxBackward", "softmax"),
            Map.entry("concat", "concatAndSlice"),
            Map.entry("sliceAxis", "concatAndSlice"),
            Map.entry("gradcamWeights", "gradcamWeights"),
            Map.entry("camCombine", "camCombineAndFinish"),
            Map.entry("camFinish", "camCombineAndFinish"),
            Map.entry("bilinearResize", "bilinearAndNearestResize"),
            Map.entry("nearestResize", "bilinearAndNearestResize"),
            Map.entry("maskedBlend", "maskedBlend"),
            Map.entry("weightedSum", "weightedSum"),
            Map.entry("reduceRows", "reduceRows"),
            Map.entry("randomNormal", "randomNormal"),
            Map.entry("argsortRows", "argsortRows"),
            Map.entry("cropPad", "cropPadAndAffineResample"),
            Map.entry("affineResampleForward", "cropPadAndAffineResample"),
            Map.entry("affineResampleBackward", "cropPadAndAffineResample"),
            Map.entry("adamStep", "adamStep"),
            Map.entry("dftRows", "dftRows"),
            Map.entry("redirectedReluBackward", "redirectedReluBackward"),
            Map.entry("secantBackward", "CudaSecantBackwardTest.matchesCpu"),
            Map.entry("stabilizedDivide", "CudaSecantBackwardTest.stabilizedDivideMatchesCpu"),
            Map.entry("normShares", "CudaSecantBackwardTest.normSharesMatchCpu"),
            Map.entry("secantReluHalf", "CudaSecantBackwardTest.reluHalfMatchesCpu"),
            Map.entry("conv3dForward", "CudaVolume3dTest.convMatchesCpu"),
            Map.entry("coalitionConvPrepare", "CudaCoalitionConvTest.theCpusBitsOnEveryGeometry"),
            Map.entry("coalitionConv", "CudaCoalitionConvTest.theCpusBitsOnEveryGeometry"),
            Map.entry("conv3dForwardActivation", "CudaVolume3dTest.convMatchesCpu"),
            Map.entry("conv3dForwardSum", "CudaVolume3dTest.convMatchesCpu"),
            Map.entry("conv3dBackwardData", "CudaVolume3dTest.convMatchesCpu"),
            Map.entry("maxPool3dForward", "CudaVolume3dTest.poolsMatchCpu"),
            Map.entry("maxPool3dBackward", "CudaVolume3dTest.poolsMatchCpu"),
            Map.entry("avgPool3dForward", "CudaVolume3dTest.poolsMatchCpu"),
            Map.entry("avgPool3dBackward", "CudaVolume3dTest.poolsMatchCpu"));

    static List<String> ops() {
        List<String> out = new ArrayList<>();
        for (Method m : Backend.class.getDeclaredMethods())
            if (!Modifier.isStatic(m.getModifiers()) && !MEMORY.contains(m.getName()) && !out.contains(m.getName()))
                out.add(m.getName());
        return out;
    }

    @Test
    void everyBackendOpHasACudaParityCase() throws Exception {
        Set<String> cases = new TreeSet<>();
        for (Method m : Class.forName("dev.salient.engine.cuda.CudaParityTest").getDeclaredMethods()) cases.add(m.getName());
        for (String c : PARITY_CASE.values())
            if (c.contains("."))
                for (Method m : Class.forName("dev.salient.engine.cuda." + c.substring(0, c.indexOf('.'))).getDeclaredMethods())
                    cases.add(c.substring(0, c.indexOf('.') + 1) + m.getName());
        List<String> missing = new ArrayList<>();
        for (String op : ops()) {
            String c = PARITY_CASE.get(op);
            if (c == null || !cases.contains(c)) missing.add(op + (c == null ? "" : " (no CudaParityTest." + c + ")"));
        }
        assertTrue(missing.isEmpty(), "Backend ops without a CUDA parity case: " + missing);
        for (String op : PARITY_CASE.keySet()) assertTrue(ops().contains(op), "parity map names an op Backend lacks: " + op);
    }

    @Test
    void everyEngineChecksEveryOpThroughOpChecks() throws Exception {
        for (String file : new String[] {"src/main/java/dev/salient/engine/CpuBackend.java",
                "src/main/java/dev/salient/engine/cuda/CudaBackend.java"}) {
            String src = Files.readString(Path.of(file));
            for (String op : ops()) {
                Matcher m = Pattern.compile("public \\w+ " + op + "\\(").matcher(src);
                assertTrue(m.find(), file + " lacks " + op);
                int open = src.indexOf('{', m.end());
                int depth = 0, i = open;
                do {
                    char ch = src.charAt(i++);
                    if (ch == '{') depth++;
                    if (ch == '}') depth--;
                } while (depth > 0);
                String body = src.substring(open, i);
                assertTrue(body.contains("OpChecks."), file + ": " + op + " does not check through OpChecks");
                assertFalse(body.contains("throw new SalientException"), file + ": " + op + " keeps checks of its own");
            }
        }
    }
}
