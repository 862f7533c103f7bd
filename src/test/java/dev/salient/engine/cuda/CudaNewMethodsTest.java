package dev.salient.engine.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.engine.Engine;
import dev.salient.engine.Parity;
import dev.salient.explain.Attribution;
import dev.salient.explain.NewMethodCases;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * CUDA parity of the new methods (cam, gradcamelementwise, eigencam, eigengradcam, fullgrad,
 * cfcam, attention, activation, deconvnet, counterfactual CAMs): every golden case of
 * fixtures/newmethods runs on cuda and on cpu and must agree (CAM maps within 1e-4,
 * activations within 1e-5 of max|cpu| + 1e-5 relative, deconvnet within 1e-4 of max|cpu|
 * + 1e-4 relative). Skips without a CUDA device.
 */
class CudaNewMethodsTest {
    @BeforeEach
    void needsGpu() {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
    }

    static Stream<Arguments> cases() throws IOException {
        JsonObject m = JsonParser.parseString(Files.readString(Path.of("src/test/resources/fixtures/newmethods/manifest.json")))
                .getAsJsonObject();
        List<Arguments> out = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : m.getAsJsonObject("models").entrySet())
            for (JsonElement c : e.getValue().getAsJsonObject().getAsJsonArray("cases"))
                if (!c.getAsJsonObject().has("error")) out.add(Arguments.of(c.getAsJsonObject().get("id").getAsString(), e.getValue().getAsJsonObject(),
                        c.getAsJsonObject()));
        return out.stream();
    }

    @AfterAll
    static void closeModels() {
        NewMethodCases.closeModels();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesCpu(String id, JsonObject model, JsonObject c) {
        Attribution ref = NewMethodCases.run(Engine.cpu(), model, c);
        Attribution got = NewMethodCases.run(CudaBackend.shared(), model, c);
        assertArrayEquals(ref.shape(), got.shape(), id + ": shape");
        assertArrayEquals(ref.targets(), got.targets(), id + ": targets");
        double max = 0;
        for (float v : ref.values()) max = Math.max(max, Math.abs(v));
        switch (ref.layout()) {
            case CAM -> Parity.assertClose(id, got.values(), ref.values(), 1e-4, 0);
            case LAYER -> Parity.assertClose(id, got.values(), ref.values(), 1e-5 * max, 1e-5);
            default -> Parity.assertClose(id, got.values(), ref.values(), 1e-4 * max, 1e-4);
        }
    }
}
