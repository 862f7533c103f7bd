package dev.salient.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The forward from an intermediate tensor ({@link Model#runSuffix}): it runs only the steps
 * downstream of the tensor, it reads the values computed before it that those steps need
 * (a residual branch), and it gives the whole forward's logits.
 */
class SuffixForwardTest {
    static final Path ROOT = Path.of("src/test/resources/fixtures/methods");
    static final Backend CPU = Engine.cpu();
    static Model resnet;
    static NdArray x;

    @BeforeAll
    static void load() {
        resnet = Model.load(ROOT.resolve("resnet/model.onnx"));
        x = Npy.read(ROOT.resolve("resnet/input.npy"));
    }

    @AfterAll
    static void close() {
        resnet.close();
    }

    @Test
    void frontierOfALayerInsideAResidualBlockHoldsTheBranch() {
        String layer = "/block2/relu1/Relu_output_0";
        List<String> f = resnet.suffixInputs(x.shape(), layer, Set.of("logits"));
        assertEquals(layer, f.get(0));
        assertEquals(2, f.size(), "the layer and the shortcut branch: " + f);
        Plan p = resnet.suffixPlan(x.shape(), layer, Set.of("logits"));
        Plan whole = resnet.plan(Map.of("input", x.shape()), Set.of("logits"));
        assertTrue(p.steps().size() < whole.steps().size() / 2, p.steps().size() + " of " + whole.steps().size() + " steps");
        for (Plan.Step s : p.steps()) assertNotEquals("input", s.inputs()[0], "the suffix never reads the image");
        // the last layer: only the head
        assertEquals(List.of("/block2/relu2/Relu_output_0"),
                resnet.suffixInputs(x.shape(), "/block2/relu2/Relu_output_0", Set.of("logits")));
    }

    @Test
    void suffixOfTheCachedPrefixGivesTheWholeForward() {
        String layer = "/block2/relu1/Relu_output_0";
        List<String> f = resnet.suffixInputs(x.shape(), layer, Set.of("logits"));
        try (Tensor xt = x.upload(CPU); Tensor logits = resnet.forward(CPU, xt)) {
            Map<String, Tensor> pre = resnet.run(CPU, Map.of("input", xt), Set.copyOf(f));
            try {
                Map<String, Tensor> got = resnet.runSuffix(CPU, x.shape(), layer, new HashMap<>(pre), Set.of("logits"));
                try (Tensor l = got.get("logits")) {
                    Parity.assertClose("suffix logits", l.toArray(), logits.toArray(), 1e-5, 1e-5);
                }
                // a missing branch value is one clear line
                Map<String, Tensor> partial = Map.of(layer, pre.get(layer));
                SalientException e = assertThrows(SalientException.class,
                        () -> resnet.runSuffix(CPU, x.shape(), layer, partial, Set.of("logits")));
                assertTrue(e.getMessage().contains("needs tensor"), e.getMessage());
                // a value of the wrong batch is refused before any work
                long[] one = x.shape().clone();
                one[0] = 1;
                e = assertThrows(SalientException.class,
                        () -> resnet.runSuffix(CPU, one, layer, new HashMap<>(pre), Set.of("logits")));
                assertTrue(e.getMessage().contains("expected shape"), e.getMessage());
            } finally {
                for (Tensor t : pre.values()) t.close();
            }
        }
    }

    @Test
    void aTensorTheOutputDoesNotDependOnIsRefused() {
        SalientException e = assertThrows(SalientException.class,
                () -> resnet.suffixInputs(x.shape(), "no_such_tensor", Set.of("logits")));
        assertTrue(e.getMessage().contains("cannot run the graph from"), e.getMessage());
        e = assertThrows(SalientException.class,
                () -> resnet.suffixInputs(x.shape(), "/block2/relu2/Relu_output_0", Set.of("/block2/relu1/Relu_output_0")));
        assertTrue(e.getMessage().contains("does not depend on"), e.getMessage());
    }
}
