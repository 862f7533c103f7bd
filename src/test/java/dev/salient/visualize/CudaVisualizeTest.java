package dev.salient.visualize;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.cuda.CudaBackend;
import dev.salient.explain.core.Layers;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A whole feature-visualisation run on cuda against cpu (every stage: Philox start, Fourier
 * products, colour, transforms, the model's forward and backward, redirected ReLU, Adam), on a
 * small 3-channel model; in emulation where no GPU answers. Adam's first steps move each value
 * by about ±lr whatever the gradient's size, so the comparison is of the start values and of
 * images after a few steps, within rounding-sized tolerances.
 */
class CudaVisualizeTest {
    @Test
    void cudaMatchesCpu() {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
        Visualizer.Result[] r = new Visualizer.Result[2];
        Backend[] engines = {Engine.cpu(), CudaBackend.shared()};
        for (int e = 0; e < 2; e++)
            try (Model m = Model.load(VisualizeCommandTest.TINY)) {
                String layer = Layers.resolve(m, "/3/Relu_output_0", new long[] {1, 3, 16, 16});
                Visualizer v = new Visualizer(m, engines[e], layer, new float[] {0.485f, 0.456f, 0.406f},
                        new float[] {0.229f, 0.224f, 0.225f});
                r[e] = v.run(Visualizer.channels(0, 3), Visualizer.Options.defaults().withSize(14).withSteps(3).withSeed(4));
            }
        Fixtures.assertClose("start values", toFloat(r[0].start()), toFloat(r[1].start()), 1e-5, 1e-4);
        Fixtures.assertClose("images after 3 steps", r[0].images(), r[1].images(), 2e-3, 0);
        Fixtures.assertClose("end values", toFloat(r[0].end()), toFloat(r[1].end()), 1e-3, 1e-2);
    }

    static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }
}
