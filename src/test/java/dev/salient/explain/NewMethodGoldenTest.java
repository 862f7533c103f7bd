package dev.salient.explain;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Golden tests of cam, gradcamelementwise, eigencam, eigengradcam, fullgrad, cfcam,
 * attention, activation, deconvnet and counterfactual CAMs against the float64 PyTorch
 * references of scripts/make_newmethod_fixtures.py, on the resnet and vgg method models.
 * CAM maps within 1e-4 absolute; activation within 1e-5 of max|ref| (relative);
 * deconvnet within 1e-4 max|ref| + 1e-4 |ref|.
 */
class NewMethodGoldenTest {
    static final Path FIXTURES = Path.of("src/test/resources/fixtures");
    static final Path ROOT = FIXTURES.resolve("newmethods");
    static final Backend CPU = Engine.cpu();
    /** The methods these fixtures cover: each needs a case on every fixture model (cam: where the head allows it). */
    static final List<String> COVERED = List.of("cam", "gradcamelementwise", "eigencam", "eigengradcam", "fullgrad", "cfcam",
            "attention", "activation", "deconvnet");

    static JsonObject manifest() throws IOException {
        return JsonParser.parseString(Files.readString(ROOT.resolve("manifest.json"))).getAsJsonObject();
    }

    static Stream<Arguments> cases() throws IOException {
        List<Arguments> out = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : manifest().getAsJsonObject("models").entrySet()) {
            JsonObject model = e.getValue().getAsJsonObject();
            for (JsonElement c : model.getAsJsonArray("cases"))
                out.add(Arguments.of(c.getAsJsonObject().get("id").getAsString(), model, c.getAsJsonObject()));
        }
        return out.stream();
    }


    @AfterAll
    static void closeModels() {
        NewMethodCases.closeModels();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesPyTorch(String id, JsonObject model, JsonObject c) {
        if (c.has("error")) {
            // a model the method must refuse, in one line naming why
            SalientException e = assertThrows(SalientException.class, () -> NewMethodCases.run(CPU, model, c), id);
            assertTrue(e.getMessage().contains(c.get("error").getAsString()), id + ": " + e.getMessage());
            assertFalse(e.getMessage().contains("\n"), id + ": one line");
            return;
        }
        NdArray ref = Npy.read(ROOT.resolve(c.get("output").getAsString()));
        Attribution a = NewMethodCases.run(CPU, model, c);
        JsonArray tj = c.getAsJsonArray("targets");
        int[] want = new int[tj.size()];
        for (int i = 0; i < want.length; i++) want[i] = tj.get(i).getAsInt();
        assertArrayEquals(want, a.targets(), id + ": targets");
        long[] shape = new long[c.getAsJsonArray("shape").size()];
        for (int i = 0; i < shape.length; i++) shape[i] = c.getAsJsonArray("shape").get(i).getAsLong();
        assertArrayEquals(shape, a.shape(), id + ": shape");
        double maxRef = 0, maxErr = 0;
        float[] got = a.values(), r = ref.data();
        for (int i = 0; i < r.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(r[i]));
            maxErr = Math.max(maxErr, Math.abs(got[i] - r[i]));
        }
        String method = c.get("method").getAsString();
        System.out.printf(Locale.ROOT, "golden %-40s max|err| %.2e  max|ref| %.3g%n", id, maxErr, maxRef);
        switch (a.layout()) {
            case CAM -> Parity.assertClose(id, got, r, 1e-4, 0);
            case LAYER -> Parity.assertClose(id, got, r, 1e-5 * maxRef, 1e-5);
            default -> Parity.assertClose(id, got, r, 1e-4 * maxRef, 1e-4);
        }
        if (method.equals("cfcam")) {
            // divided by the max, not min-maxed: every map's max is 1 (or the map is all zero)
            int plane = (int) (shape[1] * shape[2]);
            for (int i = 0; i < shape[0]; i++) {
                float mx = 0;
                for (int j = 0; j < plane; j++) mx = Math.max(mx, got[i * plane + j]);
                assertEquals(1f, mx, 1e-6, id + ": row " + i + " max");
            }
        }
    }

    /** Every covered method has a golden case on every fixture model (cam only where the head is GAP -> Gemm). */
    @Test
    void everyMethodHasACasePerModel() throws IOException {
        JsonObject models = manifest().getAsJsonObject("models");
        assertEquals(Set.of("resnet", "vgg"), models.keySet());
        for (Map.Entry<String, JsonElement> e : models.entrySet()) {
            Set<String> have = new TreeSet<>();
            Set<String> counterfactual = new TreeSet<>();
            for (JsonElement c : e.getValue().getAsJsonObject().getAsJsonArray("cases")) {
                JsonObject o = c.getAsJsonObject();
                have.add(o.get("method").getAsString());
                if (o.getAsJsonObject("options").has("counterfactual")) counterfactual.add(o.get("method").getAsString());
                if (!o.has("error")) assertTrue(Files.exists(ROOT.resolve(o.get("output").getAsString())), o.get("id") + ": output file");
            }
            for (String m : COVERED) {
                assertTrue(have.contains(m), e.getKey() + ": no golden case for " + m);
            }
            assertTrue(counterfactual.size() >= 4, e.getKey() + ": counterfactual cases " + counterfactual);
        }
        for (String m : COVERED) assertTrue(Methods.names().contains(m), m + " is not registered");
    }
}
