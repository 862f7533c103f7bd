package dev.salient.explain;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.CpuBackend;
import dev.salient.engine.Engine;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.explain.core.Driver;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The memory budget holds: with a budget of a few rows, every method on residual,
 * dense, inverted-residual and plain fixtures keeps the engine's live tensor bytes
 * within the budget, beyond the batch it was given and the attributions it returns.
 * The chunk size comes from {@link Tape#floatsPerRow}, which replays the tape's
 * walk on the plan's shapes; this is where an estimate that undercounts would show.
 */
class ChunkBudgetTest {
    static final CpuBackend CPU = (CpuBackend) Engine.cpu();
    static final int IMAGES = 3;

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String f : new String[] {"resnet_bottleneck_bn", "densenet_bn", "mobilenetv2_folded", "vgg_bn"})
            for (String m : Methods.names()) out.add(Arguments.of(f, m));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void peakStaysWithinTheBudget(String fixture, String method) {
        MethodSpec spec = Methods.get(method);
        try (Model model = Model.load(Path.of("src/test/resources/fixtures/arch/" + fixture + "/model.onnx"))) {
            long[] shape = model.inputs().get(0).shape().clone();
            shape[0] = IMAGES;
            for (int i = 1; i < shape.length; i++) if (shape[i] < 0) shape[i] = i == 1 ? 3 : 32;
            long[] row = shape.clone();
            row[0] = 1;
            String in = model.inputs().get(0).name();
            // three rows' worth as Driver counts them: every gradient method runs in chunks here
            long budget = 3 * Tape.floatsPerRow(model, row, Set.of(in)) * 4 * 5 / 4;
            assertEquals(3, Driver.rowsPerChunk(model, shape, Set.of(in), budget));
            Explainer e = spec.create(model, TestOptions.forSpec(spec, Map.of("--steps", "8", "--samples", "4", "--seed", "5",
                    "--masks", "16", "--baselines", "uniform:2", "--perturbations", "4")));
            e.memoryBudget(budget);
            Random r = new Random(3);
            float[] x = new float[Math.toIntExact(Shapes.numel(shape))];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            try (Tensor xt = CPU.upload(x, shape)) {
                e.explain(CPU, xt, Target.top1()); // caches (modified weights, plans) outside the measurement
                long base = CPU.liveBytes();
                CPU.resetPeakBytes();
                Attribution a = e.explain(CPU, xt, Target.top1());
                long used = CPU.peakBytes() - base - 4L * a.values().length;
                assertTrue(used <= budget, method + " on " + fixture + ": the engine held " + (used >> 10)
                        + " KiB beyond its input and output against a budget of " + (budget >> 10) + " KiB");
                assertEquals(base, CPU.liveBytes(), "tensors freed");
            } catch (dev.salient.engine.SalientException refused) {
                // a method that refuses the architecture (a CAM layer it cannot find, a rule it lacks) is not this test's
                org.junit.jupiter.api.Assumptions.abort(refused.getMessage());
            }
        }
    }
}
