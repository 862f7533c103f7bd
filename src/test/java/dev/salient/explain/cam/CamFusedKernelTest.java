package dev.salient.explain.cam;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.CamCombine;
import dev.salient.engine.CamWeighting;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.Tensor;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.Methods;
import dev.salient.model.Model;
import dev.salient.model.ops.TensorViews;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A fused CAM kernel may replace a method's composed path only when this test
 * agrees: for every CAM method of {@link Methods} with a fused kernel, the fused
 * weights or map against the composed definition on activations and gradients of
 * mixed sign, with zero gradients and a channel without gradient.
 */
class CamFusedKernelTest {
    static final Backend CPU = Engine.cpu();
    static Model model;

    @BeforeAll
    static void load() {
        model = Model.load(Path.of("src/test/resources/fixtures/arch/resnet_basic_bn/model.onnx"));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static Stream<Arguments> fusedCams() {
        List<Arguments> out = new ArrayList<>();
        for (MethodSpec s : Methods.ALL) {
            if (s.family() != MethodSpec.Family.CAM) continue;
            Explainer e = s.create(model);
            if (e instanceof BaseCam c && (c.fusedWeights() != null || c.fusedCombine() != null)) out.add(Arguments.of(s.name(), c));
        }
        return out.stream();
    }

    static float[] mixed(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.nextInt(10) == 0 ? 0f : (float) r.nextGaussian();
        return v;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fusedCams")
    void fusedKernelAgreesWithTheComposedPath(String name, BaseCam cam) {
        int n = 2, k = 6, h = 5, w = 7;
        float[] av = mixed(n * k * h * w, 1), gv = mixed(n * k * h * w, 2);
        for (int j = 0; j < h * w; j++) gv[k * h * w + j] = 0f; // a channel without gradient
        try (Tensor a = CPU.upload(av, n, k, h, w); Tensor g = CPU.upload(gv, n, k, h, w)) {
            if (cam.fusedWeights() != null) {
                try (Tensor fused = cam.weights(CPU, a, g); Tensor composed = cam.channelWeights(CPU, a, g)) {
                    Parity.assertClose(name + " weights", fused.toArray(), composed.toArray(), 1e-5, 1e-4);
                }
            }
            try (Tensor fused = cam.rawMap(CPU, a, g); Tensor composed = cam.combine(CPU, a, g)) {
                Parity.assertClose(name + " map", fused.toArray(), composed.toArray(), 1e-5, 1e-4);
            }
        }
    }

    /** The fused weighted channel sum against its composition: multiply by w (N,K,1,1), sum over channels. */
    @Test
    void fusedWeightedChannelSumAgreesWithMultiplyAndReduce() {
        int n = 2, k = 6, h = 5, w = 7;
        try (Tensor a = CPU.upload(mixed(n * k * h * w, 3), n, k, h, w); Tensor wt = CPU.upload(mixed(n * k, 4), n, k);
                Tensor fused = BaseCam.weightedChannelSum(CPU, a, wt); Tensor t = CPU.allocate(n, k, h, w)) {
            CPU.binary(BinaryOp.MUL, a, TensorViews.view(wt, n, k, 1, 1), t);
            try (Tensor composed = BaseCam.channelSum(CPU, t)) {
                Parity.assertClose("weighted channel sum", fused.toArray(), composed.toArray(), 1e-5, 1e-4);
            }
        }
    }

    /** Every fused CAM kernel variant is used by a method, so every one is compared above. */
    @Test
    void everyFusedKernelVariantIsCompared() {
        List<Object> used = new ArrayList<>();
        fusedCams().forEach(x -> {
            BaseCam c = (BaseCam) x.get()[1];
            if (c.fusedWeights() != null) used.add(c.fusedWeights());
            if (c.fusedCombine() != null) used.add(c.fusedCombine());
        });
        for (CamWeighting v : CamWeighting.values()) assertTrue(used.contains(v), v + " has no method and no comparison");
        for (CamCombine v : CamCombine.values())
            assertTrue(v == CamCombine.WEIGHTED || used.contains(v), v + " has no method and no comparison");
    }
}
