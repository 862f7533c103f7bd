package dev.salient.explain.perturbation;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.Methods;
import dev.salient.explain.Target;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Occlusion, feature ablation and Score-CAM against PyTorch re-implementations of
 * Captum's and pytorch-grad-cam's definitions (scripts/make_perturbation_fixtures.py)
 * on the two method fixture models. Each case runs twice: under the default memory
 * budget and under one that fits a single evaluation per chunk; the two results
 * must be the same bytes, and both within |got − ref| ≤ atol + 1e-4 |ref|
 * (atol 1e-4·max|ref| for input-shaped maps, 1e-4 for CAM maps).
 */
class PerturbationGoldenTest {
    static final Path METHODS = Path.of("src/test/resources/fixtures/methods");
    static final Path ROOT = Path.of("src/test/resources/fixtures/perturbation");
    static final Backend CPU = Engine.cpu();
    static final Map<String, Model> MODELS = new HashMap<>();

    static Stream<Arguments> cases() throws IOException {
        JsonObject m = JsonParser.parseString(Files.readString(ROOT.resolve("manifest.json"))).getAsJsonObject();
        List<Arguments> out = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : m.getAsJsonObject("models").entrySet())
            for (JsonElement c : e.getValue().getAsJsonObject().getAsJsonArray("cases"))
                out.add(Arguments.of(c.getAsJsonObject().get("id").getAsString(), e.getValue().getAsJsonObject(),
                        c.getAsJsonObject()));
        return out.stream();
    }

    @AfterAll
    static void closeModels() {
        MODELS.values().forEach(Model::close);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesPyTorch(String id, JsonObject model, JsonObject c) {
        Model m = MODELS.computeIfAbsent(model.get("model").getAsString(), f -> Model.load(METHODS.resolve(f)));
        NdArray x = Npy.read(METHODS.resolve(model.get("input").getAsString()));
        NdArray ref = Npy.read(ROOT.resolve(c.get("output").getAsString()));
        MethodSpec spec = Methods.get(c.get("method").getAsString());
        Map<String, String> opts = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : c.getAsJsonObject("options").entrySet()) {
            String v = e.getValue().getAsString();
            if (v.equals("BASELINE_USER")) v = METHODS.resolve(model.get("baseline_user").getAsString()).toString();
            if (v.equals("SEGMENTS")) v = ROOT.resolve(model.get("segments").getAsString()).toString();
            opts.put(e.getKey(), v);
        }
        int[] targets = new int[c.getAsJsonArray("targets").size()];
        for (int i = 0; i < targets.length; i++) targets[i] = c.getAsJsonArray("targets").get(i).getAsInt();
        Target target = c.get("target").getAsString().equals("top1") ? Target.top1() : Target.perImage(targets);
        Explainer e = spec.create(m, MethodOptions.parse(spec, opts));
        Attribution a, tight;
        try (Tensor xt = x.upload(CPU)) {
            a = e.explain(CPU, xt, target);
            tight = spec.create(m, MethodOptions.parse(spec, opts)).memoryBudget(1).explain(CPU, xt, target);
        }
        assertArrayEquals(targets, a.targets(), id + ": targets");
        assertArrayEquals(ref.shape(), a.shape(), id + ": shape");
        boolean cam = spec.layout() == Attribution.Layout.CAM;
        double maxRef = 0;
        for (float v : ref.data()) maxRef = Math.max(maxRef, Math.abs(v));
        Parity.assertClose(id, a.values(), ref.data(), cam ? 1e-4 : 1e-4 * maxRef, 1e-4);
        double err = 0;
        for (int i = 0; i < ref.data().length; i++) err = Math.max(err, Math.abs(a.values()[i] - ref.data()[i]));
        System.out.printf("%s: max |err| %.2e (max |ref| %.3g)%n", id, err, maxRef);
        // the engine gives an evaluation the same bits in a batch of 1 as in a large batch
        assertArrayEquals(a.values(), tight.values(), id + ": one evaluation per chunk gives the same bytes");
        if (c.has("forward_passes_per_image") && e instanceof Ablation ab)
            assertEquals(c.get("forward_passes_per_image").getAsInt(), ab.evaluationsPerImage(x.shape()), id);
    }
}
