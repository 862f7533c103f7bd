package dev.salient.explain.gradient;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.SalientException;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Captum's NoiseTunnel (smoothgrad, smoothgrad_sq, vargrad) over IG, saliency and Grad-CAM against
 * scripts/make_noisetunnel_fixtures.py on the two method-fixture models, with the reference's noise
 * passed in through the NoiseSource hook; the tunnel is built as {@code explain --noise-tunnel} builds it.
 */
class NoiseTunnelGoldenTest {
    static final Path ROOT = Path.of("src/test/resources/fixtures");
    static final Backend CPU = Engine.cpu();

    static JsonObject manifest() throws IOException {
        return JsonParser.parseString(Files.readString(ROOT.resolve("noisetunnel/manifest.json"))).getAsJsonObject();
    }

    static Stream<Arguments> cases() throws IOException {
        List<Arguments> out = new ArrayList<>();
        for (Map.Entry<String, JsonElement> m : manifest().getAsJsonObject("models").entrySet())
            for (JsonElement c : m.getValue().getAsJsonObject().getAsJsonArray("cases"))
                out.add(Arguments.of(c.getAsJsonObject().get("id").getAsString(), m.getValue(), c));
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesPyTorch(String id, JsonObject model, JsonObject c) throws IOException {
        JsonObject man = manifest();
        int samples = man.get("samples").getAsInt();
        NdArray x = Npy.read(ROOT.resolve(model.get("input").getAsString()));
        NdArray noise = Npy.read(ROOT.resolve(model.get("noise").getAsString()));
        NdArray ref = Npy.read(ROOT.resolve(c.get("output").getAsString()));
        int n = (int) x.dim(0), row = x.data().length / n;
        assertEquals((long) samples * n * row, noise.data().length);
        NoiseTunnel.NoiseSource src = (s, img, size, px) -> {
            float[] z = new float[size];
            System.arraycopy(noise.data(), (s * n + img) * row, z, 0, size);
            return z;
        };
        Map<String, String> cli = new LinkedHashMap<>();
        if (c.has("options"))
            for (Map.Entry<String, JsonElement> o : c.getAsJsonObject("options").entrySet())
                cli.put(o.getKey(), o.getValue().getAsString());
        MethodSpec spec = Methods.get(c.get("method").getAsString());
        Target target = c.get("target").getAsString().equals("top1") ? Target.top1()
                : Target.parse(model.getAsJsonArray("given").toString().replaceAll("[\\[\\] ]", ""));
        Attribution a;
        try (Model m = Model.load(ROOT.resolve(model.get("model").getAsString())); Tensor xt = x.upload(CPU)) {
            Explainer inner = spec.create(m, MethodOptions.parse(spec, cli));
            NoiseTunnel.checkWraps(spec, inner);
            NoiseTunnel nt = NoiseTunnel.over(inner, NoiseTunnel.Mode.parse(c.get("noise_tunnel").getAsString()))
                    .withOptions(NoiseTunnel.Options.samples(samples).withNoise(src));
            a = nt.explain(CPU, xt, target);
        }
        int[] want = new int[c.getAsJsonArray("targets").size()];
        for (int i = 0; i < want.length; i++) want[i] = c.getAsJsonArray("targets").get(i).getAsInt();
        assertArrayEquals(want, a.targets(), id + ": targets");
        assertArrayEquals(ref.shape(), a.shape(), id + ": shape");
        assertEquals(spec.layout(), a.layout(), id + ": the tunnel keeps the method's layout");
        float[] mask = c.has("unstable") ? Npy.read(ROOT.resolve(c.get("unstable").getAsString())).data() : null;
        double maxRef = 0;
        for (float v : ref.data()) maxRef = Math.max(maxRef, Math.abs(v));
        double atol = spec.layout() == Attribution.Layout.CAM ? 1e-4 : 1e-4 * maxRef;
        int bad = 0, skipped = 0;
        StringBuilder first = new StringBuilder();
        for (int i = 0; i < ref.data().length; i++) {
            if (mask != null && mask[i] != 0f) {
                skipped++;
                continue;
            }
            double d = Math.abs(a.values()[i] - ref.data()[i]);
            if (!(d <= atol)) {
                if (bad++ < 5) first.append(String.format(" [%d] got %g ref %g;", i, a.values()[i], ref.data()[i]));
            }
        }
        assertTrue(skipped <= 0.03 * ref.data().length, id + ": " + skipped + " unstable elements");
        assertEquals(0, bad, id + ": " + bad + " elements beyond atol " + atol + ":" + first);
    }

    @Test
    void everyTypeAndBothLayoutsAreCovered() throws IOException {
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (Map.Entry<String, JsonElement> m : manifest().getAsJsonObject("models").entrySet())
            for (JsonElement c : m.getValue().getAsJsonObject().getAsJsonArray("cases")) {
                JsonObject o = c.getAsJsonObject();
                seen.add(o.get("noise_tunnel").getAsString() + "/" + Methods.get(o.get("method").getAsString()).layout());
            }
        for (NoiseTunnel.Mode mode : NoiseTunnel.Mode.values())
            assertTrue(seen.contains(mode.id() + "/" + Attribution.Layout.INPUT), mode.id() + " over an input-shaped method");
        assertTrue(seen.contains("smoothgrad/" + Attribution.Layout.CAM), "smoothgrad over a CAM");
    }

    @Test
    void onlyGradientAndCamMethodsAreWrapped() {
        try (Model m = Model.load(ROOT.resolve("methods/resnet/model.onnx"))) {
            MethodSpec occ = Methods.get("occlusion");
            SalientException e = assertThrows(SalientException.class,
                    () -> NoiseTunnel.checkWraps(occ, occ.create(m, MethodOptions.defaults())));
            assertTrue(e.getMessage().contains("occlusion is a perturbation method"), e.getMessage());
            MethodSpec sg = Methods.get("smoothgrad");
            e = assertThrows(SalientException.class, () -> NoiseTunnel.checkWraps(sg, sg.create(m, MethodOptions.defaults())));
            assertTrue(e.getMessage().contains("already a noise tunnel"), e.getMessage());
            MethodSpec act = Methods.get("activation");
            e = assertThrows(SalientException.class, () -> NoiseTunnel.checkWraps(act, act.create(m, MethodOptions.defaults())));
            assertTrue(e.getMessage().contains("--noise-tunnel wraps"), e.getMessage());
        }
        assertEquals("--noise-tunnel must be smoothgrad, smoothgrad_sq or vargrad, got 'mean'",
                assertThrows(SalientException.class, () -> NoiseTunnel.Mode.parse("mean")).getMessage());
    }
}
