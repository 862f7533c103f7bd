package dev.salient.explain.core;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.Target;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The graph-level data-only backward against central finite differences of the
 * whole model, on the architecture fixtures (residual Add, Concat, depthwise,
 * MaxPool/Flatten/Gemm, standalone BatchNorm).
 */
class GraphGradientTest {
    private static final Backend CPU = Engine.cpu();

    @ParameterizedTest
    // (the squeezenet fixtures are left out: their input gradients are ~1e-6 of the logits, below
    // what float32 finite differences resolve)
    @ValueSource(strings = {"resnet_basic_bn", "resnet_bottleneck_folded", "vgg_folded", "densenet_bn", "mobilenetv2_bn"})
    void inputGradientMatchesFiniteDifferences(String name) {
        Path dir = Path.of("src/test/resources/fixtures/arch", name);
        try (Model m = Model.load(dir.resolve("model.onnx"))) {
            long[] shape = m.inputs().get(0).shape().clone();
            shape[0] = 1;
            for (int i = 1; i < shape.length; i++) if (shape[i] < 0) shape[i] = 32;
            int d = (int) (shape[1] * shape[2] * shape[3]);
            Random rnd = new Random(7);
            float[] x = new float[d];
            for (int i = 0; i < d; i++) x[i] = (float) rnd.nextGaussian();
            int cls;
            float[] grad;
            try (Tensor xt = CPU.upload(x, shape); Tape tape = Tape.record(m, CPU, xt, Set.of(m.inputs().get(0).name()))) {
                cls = tape.targets(Target.top1())[0][0];
                Map<String, Tensor> g = tape.backward(new int[] {cls}, BackwardRules.standard());
                try (Tensor gt = g.get(m.inputs().get(0).name())) {
                    grad = gt.toArray();
                }
            }
            // directional derivative along u = g/|g|: d/dt f(x + t u) at 0 equals |g|
            double norm = 0;
            for (float v : grad) norm += (double) v * v;
            norm = Math.sqrt(norm);
            assertTrue(norm > 0, "zero gradient");
            double base = logit(m, x, shape, cls);
            double t = 0.05; // a step of 0.05 along a unit direction: small against the ReLU kinks
            float[] xp = x.clone(), xm = x.clone();
            for (int i = 0; i < d; i++) {
                xp[i] += (float) (t * grad[i] / norm);
                xm[i] -= (float) (t * grad[i] / norm);
            }
            double fd = (logit(m, xp, shape, cls) - logit(m, xm, shape, cls)) / (2 * t);
            assertEquals(norm, fd, 0.05 * norm, name + ": directional derivative along the gradient");
            // and along a random direction r: d/dt f(x + t r) = <g, r>
            float[] r = new float[d];
            double gr = 0, rn = 0;
            for (int i = 0; i < d; i++) {
                r[i] = (float) (rnd.nextGaussian() + grad[i] / norm * Math.sqrt(d));
                rn += (double) r[i] * r[i];
            }
            rn = Math.sqrt(rn);
            for (int i = 0; i < d; i++) {
                r[i] /= rn;
                gr += (double) grad[i] * r[i];
            }
            xp = x.clone();
            xm = x.clone();
            for (int i = 0; i < d; i++) {
                xp[i] += (float) (t * r[i]);
                xm[i] -= (float) (t * r[i]);
            }
            double fd2 = (logit(m, xp, shape, cls) - logit(m, xm, shape, cls)) / (2 * t);
            assertEquals(gr, fd2, 0.05 * norm, name + ": directional derivative along a random direction");
        }
    }

    private static double logit(Model m, float[] x, long[] shape, int cls) {
        try (Tensor t = CPU.upload(x, shape); Tensor y = m.forward(CPU, t)) {
            return y.toArray()[cls];
        }
    }
}
