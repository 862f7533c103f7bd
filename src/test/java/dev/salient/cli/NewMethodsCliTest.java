package dev.salient.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.onnx.proto.Onnx;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The new methods from the command line: each runs and writes its layout, and each bad
 * input (cam without a GAP -> Gemm head, cfcam options out of range, eigencam on one
 * channel, options a method does not take) is one error line with a non-zero exit.
 */
class NewMethodsCliTest {
    static final Path FIX = Path.of("src/test/resources/fixtures/methods");
    static final String RESNET = FIX.resolve("resnet/model.onnx").toString(), VGG = FIX.resolve("vgg/model.onnx").toString();
    static final String INPUT = FIX.resolve("resnet/input.npy").toString();

    @TempDir
    Path dir;

    CliRunner explain(String model, String method, String... extra) {
        String[] base = {"explain", "--model", model, "--method", method, "--input", INPUT, "--out",
                dir.resolve(method + ".npy").toString()};
        String[] all = new String[base.length + extra.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(extra, 0, all, base.length, extra.length);
        return CliRunner.run(all);
    }

    static void names(String line, String... words) {
        for (String w : words) assertTrue(line.contains(w), "'" + w + "' not named in: " + line);
    }

    @Test
    void everyNewMethodRuns() {
        for (String m : new String[] {"cam", "gradcamelementwise", "eigencam", "eigengradcam", "fullgrad", "cfcam", "attention",
                "deconvnet"}) {
            CliRunner r = explain(RESNET, m);
            assertEquals(0, r.code(), m + ": " + r.err());
            NdArray a = Npy.read(dir.resolve(m + ".npy"));
            long[] want = m.equals("deconvnet") ? new long[] {3, 3, 32, 32} : new long[] {3, 32, 32};
            assertArrayEquals(want, a.shape(), m);
        }
        CliRunner r = explain(RESNET, "activation", "--layer", "/block1/relu2/Relu_output_0");
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(new long[] {3, 16, 32, 32}, Npy.read(dir.resolve("activation.npy")).shape());
        r = explain(VGG, "gradcam", "--counterfactual");
        assertEquals(0, r.code(), r.err());
    }

    @Test
    void camNeedsAGapGemmHead() {
        names(explain(VGG, "cam").errorLine(), "cam needs", "GlobalAveragePool", "Gemm", "MaxPool");
    }

    @Test
    void cfcamOptionsOutOfRange() {
        names(explain(RESNET, "cfcam", "--cf-split-percentile", "120").errorLine(), "--cf-split-percentile", "[0, 100]", "120");
        names(explain(RESNET, "cfcam", "--cf-eps-percentile", "-1").errorLine(), "--cf-eps-percentile", "-1");
        names(explain(RESNET, "cfcam", "--cf-min-samples", "1.5").errorLine(), "--cf-min-samples", "[0, 1]");
        names(explain(RESNET, "cfcam", "--cf-sigma-spatial", "0").errorLine(), "--cf-sigma-spatial", "positive");
        names(explain(RESNET, "cfcam", "--cf-sigma-range", "NaN").errorLine(), "--cf-sigma-range");
        names(explain(RESNET, "cfcam", "--cf-noise", "-0.5").errorLine(), "--cf-noise", "-0.5");
    }

    @Test
    void cfNoiseReachesTheMapAndIsSeeded() {
        assertEquals(0, explain(RESNET, "cfcam", "--layer", "/block1/relu2/Relu_output_0").code());
        float[] clean = Npy.read(dir.resolve("cfcam.npy")).data();
        float[][] noisy = new float[3][];
        String[][] runs = {{"--cf-noise", "0.5", "--seed", "1"}, {"--cf-noise", "0.5", "--seed", "1"},
                {"--cf-noise", "0.5", "--seed", "2"}};
        for (int i = 0; i < 3; i++) {
            String[] args = new String[runs[i].length + 2];
            args[0] = "--layer";
            args[1] = "/block1/relu2/Relu_output_0";
            System.arraycopy(runs[i], 0, args, 2, runs[i].length);
            CliRunner r = explain(RESNET, "cfcam", args);
            assertEquals(0, r.code(), r.err());
            noisy[i] = Npy.read(dir.resolve("cfcam.npy")).data();
        }
        assertArrayEquals(noisy[0], noisy[1], "same seed, same map");
        assertTrue(maxDiff(clean, noisy[0]) > 1e-3, "noise changes the map: " + maxDiff(clean, noisy[0]));
        assertTrue(maxDiff(noisy[0], noisy[2]) > 1e-4, "another seed, another map");
    }

    static double maxDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }

    @Test
    void eigencamNeedsTwoChannels() throws IOException {
        // x (N,3,4,4) -> Conv(1 output channel) -> c -> GlobalAveragePool -> Flatten -> y (N,1)
        Onnx.TensorProto w = BadInputTest.floats("W", new long[] {1, 3, 1, 1}, 1, 2, 3).build();
        Path m = dir.resolve("one/model.onnx");
        Files.createDirectories(m.getParent());
        Onnx.GraphProto g = Onnx.GraphProto.newBuilder().setName("g").addInput(BadInputTest.value("x", -1, 3, 4, 4))
                .addOutput(BadInputTest.value("y", -1, 1)).addInitializer(w)
                .addNode(BadInputTest.node("Conv", "conv0", new String[] {"x", "W"}, "c"))
                .addNode(BadInputTest.node("GlobalAveragePool", "gap", new String[] {"c"}, "p"))
                .addNode(BadInputTest.node("Flatten", "flat", new String[] {"p"}, "y")).build();
        Files.write(m, Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setVersion(13)).setGraph(g).build().toByteArray());
        Path x = dir.resolve("x.npy");
        Npy.write(x, new long[] {2, 3, 4, 4}, new float[96]);
        for (String method : new String[] {"eigencam", "eigengradcam"}) {
            String line = CliRunner.run("explain", "--model", m.toString(), "--method", method, "--input", x.toString(),
                    "--out", dir.resolve("e.npy").toString()).errorLine();
            names(line, method, "at least 2 channels", "'c' has 1");
        }
    }

    @Test
    void optionsAMethodDoesNotTake() {
        names(explain(RESNET, "eigencam", "--counterfactual").errorLine(), "--counterfactual", "eigencam");
        names(explain(RESNET, "attention", "--power", "0").errorLine(), "--power", "0");
    }
}
