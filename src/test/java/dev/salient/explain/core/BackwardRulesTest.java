package dev.salient.explain.core;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.Target;
import dev.salient.model.Model;
import dev.salient.model.Node;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Rules are chosen per node: a rule for one node wins over its op type's rule and the exact VJP. */
class BackwardRulesTest {
    static final Backend CPU = Engine.cpu();

    @Test
    void aNodesOwnRuleWinsOverItsOpTypesRule() {
        try (Model m = Model.load(Path.of("src/test/resources/fixtures/arch/vgg_folded/model.onnx"))) {
            String in = m.inputs().get(0).name();
            String relu = null;
            for (Node n : m.graph().nodes())
                if (n.opType().equals("Relu")) {
                    relu = n.name();
                    break;
                }
            assertNotNull(relu, "the fixture has a Relu");
            long[] shape = m.inputs().get(0).shape().clone();
            shape[0] = 1;
            for (int i = 1; i < shape.length; i++) if (shape[i] < 0) shape[i] = 32;
            float[] x = new float[(int) (shape[1] * shape[2] * shape[3])];
            Random r = new Random(3);
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            // a sequential network: every path from the input crosses the first Relu, so cutting
            // its gradient there zeroes the input gradient
            BackwardRule cut = (op, b, ins, outs, dOut, dIn) -> {
                if (dIn[0] != null) b.fill(dIn[0], 0f);
            };
            try (Tensor xt = CPU.upload(x, shape); Tape tape = Tape.record(m, CPU, xt, Set.of(in))) {
                int[] cls = {tape.targets(Target.top1())[0][0]};
                for (BackwardRules base : new BackwardRules[] {BackwardRules.standard(), BackwardRules.guided()}) {
                    float[] plain = grad(tape.backward(cls, base), in);
                    float[] cutAt = grad(tape.backward(cls, base.withNode("cut", relu, cut)), in);
                    boolean nonZero = false;
                    for (float v : plain) nonZero |= v != 0f;
                    assertTrue(nonZero, base.name() + " gradient is zero");
                    for (float v : cutAt) assertEquals(0f, v, base.name() + " with the node's rule");
                }
            }
        }
    }

    private static float[] grad(Map<String, Tensor> g, String name) {
        try (Tensor t = g.get(name)) {
            return t.toArray();
        }
    }
}
