package dev.salient.engine.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
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
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * CUDA parity of deeplift, deepliftshap, gradientshap, layergradxact and layerconductance:
 * the golden cases of fixtures/methods/manifest-relevance.json for those methods (but {@link #SKIPPED}) run on cuda
 * and on cpu, within 1e-4 of max|cpu| + 1e-4 relative (LrpTest covers lrp). Skips without a
 * CUDA device; CI runs it under the emulation.
 */
class CudaRelevanceMethodsTest {
    static final Path ROOT = Path.of("src/test/resources/fixtures/methods");
    static final Set<String> METHODS = Set.of("deeplift", "deepliftshap", "gradientshap", "layergradxact", "layerconductance");
    /** Left out to keep the emulated run short: the 50-step conductance (the 8-step case runs the same code), repeats. */
    static final Set<String> SKIPPED = Set.of("resnet/layerconductance_top1", "vgg/layerconductance_top1",
            "resnet/deepliftshap_top1", "resnet/deeplift_npy_given");
    static final Map<String, Model> MODELS = new HashMap<>();

    @BeforeEach
    void needsGpu() {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
    }

    static Stream<Arguments> cases() throws IOException {
        JsonObject m = JsonParser.parseString(Files.readString(ROOT.resolve("manifest-relevance.json"))).getAsJsonObject();
        List<Arguments> out = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : m.getAsJsonObject("models").entrySet())
            for (JsonElement c : e.getValue().getAsJsonObject().getAsJsonArray("cases"))
                if (METHODS.contains(c.getAsJsonObject().get("method").getAsString())
                        && !SKIPPED.contains(c.getAsJsonObject().get("id").getAsString()))
                    out.add(Arguments.of(c.getAsJsonObject().get("id").getAsString(), e.getValue().getAsJsonObject(),
                            c.getAsJsonObject()));
        return out.stream();
    }

    @AfterAll
    static void closeModels() {
        MODELS.values().forEach(Model::close);
        MODELS.clear();
    }

    static Attribution run(Backend b, JsonObject model, JsonObject c) {
        Model m = MODELS.computeIfAbsent(model.get("model").getAsString(), f -> Model.load(ROOT.resolve(f)));
        NdArray x = Npy.read(ROOT.resolve(model.get("input").getAsString()));
        MethodSpec spec = Methods.get(c.get("method").getAsString());
        Map<String, String> cli = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> o : c.getAsJsonObject("cli").entrySet()) cli.put(o.getKey(), o.getValue().getAsString());
        JsonObject t = c.getAsJsonObject("target");
        Target target = Target.top1();
        if (t.get("rule").getAsString().equals("given")) {
            JsonArray a = t.getAsJsonArray("classes");
            int[] cls = new int[a.size()];
            for (int i = 0; i < cls.length; i++) cls[i] = a.get(i).getAsInt();
            target = Target.perImage(cls);
        }
        try (Tensor xt = x.upload(b)) {
            return spec.create(m, MethodOptions.parse(spec, cli)).explain(b, xt, target);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesCpu(String id, JsonObject model, JsonObject c) {
        Attribution ref = run(Engine.cpu(), model, c);
        Attribution got = run(CudaBackend.shared(), model, c);
        assertArrayEquals(ref.shape(), got.shape(), id + ": shape");
        assertArrayEquals(ref.targets(), got.targets(), id + ": targets");
        double max = 0;
        for (float v : ref.values()) max = Math.max(max, Math.abs(v));
        Parity.assertClose(id + " cuda", got.values(), ref.values(), 1e-4 * max, 1e-4);
    }
}
