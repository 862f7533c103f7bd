package dev.salient.explain.perturbation;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.engine.Backend;
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
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;

/** The golden cases of the coalition methods (scripts/make_shap_fixtures.py) and how to run one. */
final class CoalitionCases {
    static final Path METHODS = Path.of("src/test/resources/fixtures/methods");
    static final Path ROOT = Path.of("src/test/resources/fixtures/shap");
    private static final Map<String, Model> MODELS = new HashMap<>();

    private CoalitionCases() {}

    static JsonObject manifest() {
        try {
            return JsonParser.parseString(Files.readString(ROOT.resolve("manifest.json"))).getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** (id, model entry, case) of every golden case. */
    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : manifest().getAsJsonObject("models").entrySet())
            for (JsonElement c : e.getValue().getAsJsonObject().getAsJsonArray("cases"))
                out.add(Arguments.of(c.getAsJsonObject().get("id").getAsString(), e.getValue().getAsJsonObject(),
                        c.getAsJsonObject()));
        return out.stream();
    }

    static synchronized Model model(JsonObject model) {
        return MODELS.computeIfAbsent(model.get("model").getAsString(), f -> Model.load(METHODS.resolve(f)));
    }

    static synchronized void closeModels() {
        MODELS.values().forEach(Model::close);
        MODELS.clear();
    }

    static NdArray input(JsonObject model) {
        return Npy.read(METHODS.resolve(model.get("input").getAsString()));
    }

    static Explainer explainer(JsonObject model, JsonObject c) {
        MethodSpec spec = Methods.get(c.get("method").getAsString());
        Map<String, String> opts = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : c.getAsJsonObject("options").entrySet()) {
            String v = e.getValue().getAsString();
            if (v.equals("SEGMENTS")) v = ROOT.resolve(model.get("segments").getAsString()).toString();
            opts.put(e.getKey(), v);
        }
        return spec.create(model(model), MethodOptions.parse(spec, opts));
    }

    static Target target(JsonObject c) {
        int[] t = targets(c);
        return c.get("target").getAsString().equals("top1") ? Target.top1() : Target.perImage(t);
    }

    static int[] targets(JsonObject c) {
        int[] t = new int[c.getAsJsonArray("targets").size()];
        for (int i = 0; i < t.length; i++) t[i] = c.getAsJsonArray("targets").get(i).getAsInt();
        return t;
    }

    static Attribution run(Backend b, Explainer e, JsonObject model, JsonObject c) {
        try (Tensor x = input(model).upload(b)) {
            return e.explain(b, x, target(c));
        }
    }
}
