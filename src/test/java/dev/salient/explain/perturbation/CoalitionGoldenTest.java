package dev.salient.explain.perturbation;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Exact Shapley values, enumerated and sampled KernelSHAP and LIME against PyTorch
 * re-implementations of their definitions (scripts/make_shap_fixtures.py; the sampled ones
 * with salient's Philox stream, so they are exact too) on the two method fixture models, within
 * |got − ref| ≤ 1e-4·max|ref| + 1e-4·|ref|. Each case runs under the default memory budget and
 * under one that fits a single evaluation per chunk: the random designs are a function of
 * (seed, image, sample) and the engine is batch-invariant, so the two results are the same bytes.
 */
class CoalitionGoldenTest {
    static final Backend CPU = Engine.cpu();

    static Stream<Arguments> cases() {
        return CoalitionCases.cases();
    }

    @AfterAll
    static void closeModels() {
        CoalitionCases.closeModels();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesPyTorch(String id, JsonObject model, JsonObject c) {
        NdArray ref = Npy.read(CoalitionCases.ROOT.resolve(c.get("output").getAsString()));
        Explainer e = CoalitionCases.explainer(model, c);
        Attribution a = CoalitionCases.run(CPU, e, model, c);
        Attribution tight = CoalitionCases.run(CPU, CoalitionCases.explainer(model, c).memoryBudget(1), model, c);
        assertArrayEquals(CoalitionCases.targets(c), a.targets(), id + ": targets");
        assertArrayEquals(ref.shape(), a.shape(), id + ": shape");
        double maxRef = 0;
        for (float v : ref.data()) maxRef = Math.max(maxRef, Math.abs(v));
        Parity.assertClose(id, a.values(), ref.data(), 1e-4 * maxRef, 1e-4);
        double err = 0;
        for (int i = 0; i < ref.data().length; i++) err = Math.max(err, Math.abs(a.values()[i] - ref.data()[i]));
        System.out.printf("%s: max |err| %.2e (max |ref| %.3g)%n", id, err, maxRef);
        assertArrayEquals(a.values(), tight.values(), id + ": one evaluation per chunk gives the same bytes");
    }
}
