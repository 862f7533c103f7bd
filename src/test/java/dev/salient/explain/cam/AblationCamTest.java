package dev.salient.explain.cam;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Target;
import dev.salient.explain.core.Cost;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Ablation-CAM re-runs only the graph after the layer (the golden cases are in
 * fixtures/methods/manifest-gfcams.json): its cost is one whole forward and one prefix per
 * image plus one suffix per channel, and the result does not depend on the chunking.
 */
class AblationCamTest {
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
    void rerunsOnlyTheSuffixOncePerChannelWhateverTheChunks() {
        String layer = "/block2/relu1/Relu_output_0";   // 32 channels; the rest also reads the shortcut
        int n = (int) x.dim(0);
        try (Tensor xt = x.upload(CPU)) {
            Cost.reset();
            Attribution a = new AblationCam(resnet, layer).explain(CPU, xt, Target.top1());
            Cost.Counts c = Cost.counts();
            assertEquals(n, c.forwards(), "one whole forward per image (its target)");
            assertEquals(n, c.prefixForwards(), "the layer and the shortcut computed once per image");
            assertEquals(32L * n, c.suffixForwards(), "one suffix forward per channel and image");
            Cost.reset();
            Attribution tight = new AblationCam(resnet, layer).memoryBudget(1).explain(CPU, xt, Target.top1());
            assertEquals(32L * n, Cost.counts().suffixForwards());
            assertArrayEquals(a.targets(), tight.targets());
            dev.salient.engine.Parity.assertClose("one channel per chunk", tight.values(), a.values(), 1e-5, 1e-5);
        }
    }
}
