package dev.salient.explain;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.SalientException;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Every method is made from its spec with no option given: it takes its documented defaults,
 * or, when an option is required (--baselines), refuses in one line. Never another exception:
 * an unset shared option (--samples is null until given) must not reach a method as a null.
 */
class SpecDefaultsTest {
    @Test
    void everySpecCreatesFromItsDefaultsOrRefusesInOneLine() {
        try (Model m = Model.load(Path.of("src/test/resources/fixtures/arch/resnet_basic_folded/model.onnx"))) {
            int made = 0;
            for (MethodSpec spec : Methods.ALL) {
                try {
                    assertNotNull(spec.create(m, MethodOptions.parse(spec, Map.of())), spec.name());
                    made++;
                } catch (SalientException e) {
                    assertFalse(e.getMessage().contains("\n"), spec.name() + ": " + e.getMessage());
                    assertTrue(e.getMessage().contains("--"), spec.name() + " refuses without naming an option: " + e.getMessage());
                } catch (RuntimeException e) {
                    fail(spec.name() + " from its defaults: " + e, e);
                }
            }
            assertTrue(made >= Methods.ALL.size() - 3, made + " of " + Methods.ALL.size() + " made from their defaults");
        }
    }
}
