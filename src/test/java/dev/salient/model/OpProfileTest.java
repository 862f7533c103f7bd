package dev.salient.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.Baseline;
import dev.salient.explain.Target;
import dev.salient.explain.relevance.DeepLift;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The profiling switch: off, it records nothing; on, a DeepLIFT call charges its forward steps,
 * its backward rules (by op type and rule set) and the driver's phases, one line each.
 */
class OpProfileTest {
    static final Backend CPU = Engine.cpu();

    @Test
    void chargesForwardStepsBackwardRulesAndPhases() {
        boolean was = OpProfile.on();
        try (Model m = Model.load(Path.of("src/test/resources/fixtures/arch/resnet_basic_folded/model.onnx"));
                Tensor x = CPU.zeros(1, 3, 64, 64)) {
            DeepLift d = new DeepLift(m, Baseline.zeros());
            OpProfile.enable(false);
            OpProfile.reset();
            d.explain(CPU, x, Target.top1());
            assertFalse(OpProfile.report().contains("fwd Conv"), OpProfile.report());
            OpProfile.enable(true);
            d.explain(CPU, x, Target.top1());
            String r = OpProfile.report();
            for (String key : new String[] {"fwd Conv", "bwd Conv [deeplift-rescale]", "bwd Relu [deeplift-rescale]",
                    "phase tape forward", "phase backward", "total (ops)"})
                assertTrue(r.contains(key), key + " missing from\n" + r);
            // DeepLIFT's one forward pass: no forward of the images before it
            assertFalse(r.contains("phase targets forward"), r);
        } finally {
            OpProfile.enable(was);
            OpProfile.reset();
        }
    }
}
