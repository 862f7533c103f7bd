package dev.salient.explain.layer;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Baseline;
import dev.salient.explain.Target;
import dev.salient.explain.gradient.IntegrationRule;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * LayerConductance pairs consecutive points, which the driver may put in different chunks:
 * one point per chunk, with two targets per image (one carry each), gives the one-chunk
 * result. The golden cases (MethodGoldenTest) compare it with Captum's definition.
 */
class LayerConductanceTest {
    static final Backend CPU = Engine.cpu();

    @Test
    void chunksCarryThePreviousPointPerTarget() {
        try (Model m = Model.load(Path.of("src/test/resources/fixtures/arch/resnet_basic_folded/model.onnx"))) {
            Random r = new Random(4);
            float[] x = new float[2 * 3 * 64 * 64];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            try (Tensor xt = CPU.upload(x, 2, 3, 64, 64)) {
                LayerConductance one = new LayerConductance(m, "auto", 6, IntegrationRule.GAUSS_LEGENDRE, Baseline.zeros());
                LayerConductance split = (LayerConductance) new LayerConductance(m, "auto", 6, IntegrationRule.GAUSS_LEGENDRE,
                        Baseline.zeros()).memoryBudget(1);
                Attribution a = one.explain(CPU, xt, Target.topK(2)), b = split.explain(CPU, xt, Target.topK(2));
                double max = 0;
                for (float v : a.values()) max = Math.max(max, Math.abs(v));
                Parity.assertClose("one point per chunk", b.values(), a.values(), 1e-6 * max, 1e-5);
            }
        }
    }
}
