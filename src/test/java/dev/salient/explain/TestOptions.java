package dev.salient.explain;

import java.util.LinkedHashMap;
import java.util.Map;

/** Small option values for tests, applied to the options a method takes. */
public final class TestOptions {
    private TestOptions() {}

    /** {@code given} (CLI name -> text) restricted to the options {@code spec} takes. */
    public static MethodOptions forSpec(MethodSpec spec, Map<String, String> given) {
        Map<String, String> mine = new LinkedHashMap<>();
        given.forEach((k, v) -> {
            if (spec.option(k) != null) mine.put(k, v);
        });
        return MethodOptions.parse(spec, mine);
    }
}
