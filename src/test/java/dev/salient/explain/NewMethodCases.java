package dev.salient.explain;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.explain.cam.BaseCam;
import dev.salient.explain.cam.CfCam;
import dev.salient.explain.cam.SpatialAttention;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Runs a case of fixtures/newmethods/manifest.json on a backend (shared by the golden and the CUDA parity tests). */
public final class NewMethodCases {
    private NewMethodCases() {}

    static final Path FIXTURES = Path.of("src/test/resources/fixtures");
    /** Models stay loaded for the test JVM (a few hundred KiB each). */
    static final Map<String, Model> MODELS = new ConcurrentHashMap<>();

    public static Model model(JsonObject model) {
        return MODELS.computeIfAbsent(model.get("model").getAsString(), f -> Model.load(FIXTURES.resolve(f)));
    }

    /** The options of a manifest case. */
    public static MethodOptions options(JsonObject opt) {
        MethodOptions o = MethodOptions.defaults();
        if (opt.has("layer")) o = o.with(MethodOption.LAYER, opt.get("layer").getAsString());
        if (opt.has("counterfactual")) o = o.with(BaseCam.COUNTERFACTUAL, opt.get("counterfactual").getAsBoolean());
        if (opt.has("power")) o = o.with(SpatialAttention.POWER, opt.get("power").getAsInt());
        if (opt.has("cf")) {
            JsonObject cf = opt.getAsJsonObject("cf");
            o = o.with(CfCam.SPLIT_PERCENTILE, cf.get("split_percentile").getAsDouble())
                    .with(CfCam.EPS_PERCENTILE, cf.get("eps_percentile").getAsDouble())
                    .with(CfCam.MIN_SAMPLES, cf.get("min_samples_fraction").getAsDouble())
                    .with(CfCam.SIGMA_SPATIAL, cf.get("sigma_spatial").getAsDouble())
                    .with(CfCam.SIGMA_RANGE, cf.get("sigma_range").getAsDouble());
        }
        return o;
    }

    public static Target target(JsonObject t) {
        if (t.get("rule").getAsString().equals("top1")) return Target.top1();
        JsonArray a = t.getAsJsonArray("classes");
        int[] cls = new int[a.size()];
        for (int i = 0; i < cls.length; i++) cls[i] = a.get(i).getAsInt();
        return Target.perImage(cls);
    }

    public static Attribution run(Backend b, JsonObject model, JsonObject c) {
        Model m = model(model);
        NdArray x = Npy.read(FIXTURES.resolve(model.get("input").getAsString()));
        MethodOptions o = options(c.getAsJsonObject("options"));
        String method = c.get("method").getAsString();
        try (Tensor xt = x.upload(b)) {
            return Methods.get(method).create(m, o).explain(b, xt, target(c.getAsJsonObject("target")));
        }
    }

    /** Closes the cached models, freeing their weights on every backend (a shared device keeps nothing). */
    public static void closeModels() {
        MODELS.values().forEach(Model::close);
        MODELS.clear();
    }
}
