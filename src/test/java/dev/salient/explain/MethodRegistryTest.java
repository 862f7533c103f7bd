package dev.salient.explain;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Guards of the method registry: a method is one file plus one line in
 * {@link Methods}; every method has a golden case on every fixture model; option
 * names mean one thing across methods; the README's table is the specs'.
 */
class MethodRegistryTest {
    static final Path MAIN = Path.of("src/main/java");
    static final Path GOLDEN = Path.of("src/test/resources/fixtures/methods/manifest.json");
    /** The golden cases of the methods added on the registry (scripts/make_newmethod_fixtures.py), same models. */
    static final Path GOLDEN_NEW = Path.of("src/test/resources/fixtures/newmethods/manifest.json");
    static final Path PERTURBATION_GOLDEN = Path.of("src/test/resources/fixtures/perturbation/manifest.json");
    /** The coalition methods' golden cases (scripts/make_shap_fixtures.py), same models. */
    static final Path SHAP_GOLDEN = Path.of("src/test/resources/fixtures/shap/manifest.json");
    /** Files that name a method: its own class, and the line in Methods. */
    static final int FILES_TO_ADD_A_METHOD = 2;
    /**
     * Users of the registry that pick methods by name: the demo's fixed choice and the
     * bench command's workloads (named after the method they time).
     */
    static final Set<String> NAMES_BY_CHOICE = Set.of("dev/salient/cli/DemoCommand.java", "dev/salient/cli/BenchCommand.java");

    @Test
    void namesAreUniqueAndLowerCase() {
        Set<String> seen = new TreeSet<>();
        for (MethodSpec s : Methods.ALL) assertTrue(seen.add(s.name()), "duplicate method " + s.name());
        assertEquals(Methods.ALL.size(), Methods.names().size());
    }

    /**
     * A method's name appears as a string literal only in the file that declares its
     * spec, and its spec constant is referenced only there and in {@link Methods}: no
     * switch on names anywhere else, so adding a method touches
     * {@value #FILES_TO_ADD_A_METHOD} files (plus its golden fixtures and the README row).
     */
    @Test
    void aMethodIsOneFilePlusOneLine() throws Exception {
        Map<String, String> sources = new HashMap<>();
        try (Stream<Path> s = Files.walk(MAIN)) {
            for (Path p : s.filter(f -> f.toString().endsWith(".java")).toList())
                sources.put(MAIN.relativize(p).toString().replace('\\', '/'), withoutComments(Files.readString(p)));
        }
        String methods = sources.get("dev/salient/explain/Methods.java");
        String list = methods.substring(methods.indexOf("List.of("), methods.indexOf(");", methods.indexOf("List.of(")));
        Matcher m = Pattern.compile("^\\s*(\\w+)\\.(\\w+),?\\s*$", Pattern.MULTILINE).matcher(list);
        List<String[]> lines = new ArrayList<>();
        while (m.find()) lines.add(new String[] {m.group(1), m.group(2)});
        assertEquals(Methods.ALL.size(), lines.size(), "Methods.ALL lists one spec per line");
        for (int i = 0; i < lines.size(); i++) {
            MethodSpec spec = Methods.ALL.get(i);
            String cls = lines.get(i)[0], field = lines.get(i)[1];
            String home = null;
            for (String f : sources.keySet()) if (f.endsWith("/" + cls + ".java")) home = f;
            assertNotNull(home, cls + ".java not found");
            String pkg = home.substring(0, home.lastIndexOf('/')).replace('/', '.');
            assertSame(spec, Class.forName(pkg + "." + cls).getField(field).get(null), "line " + (i + 1) + " of Methods.ALL");
            Set<String> touched = new TreeSet<>();
            for (Map.Entry<String, String> e : sources.entrySet()) {
                if (NAMES_BY_CHOICE.contains(e.getKey())) continue;
                // the engine and the model never see methods (they cannot depend on explain); a word such
                // as "activation" is an op family there, not a method registration
                if (e.getKey().startsWith("dev/salient/engine/") || e.getKey().startsWith("dev/salient/model/")) continue;
                if (e.getValue().contains("\"" + spec.name() + "\"") || e.getValue().contains(cls + "." + field))
                    touched.add(e.getKey());
            }
            touched.add(home);
            assertEquals(Set.of(home, "dev/salient/explain/Methods.java"), touched,
                    spec.name() + ": a method is its own file plus one line in Methods");
            assertEquals(FILES_TO_ADD_A_METHOD, touched.size());
        }
    }

    /** The code of a Java source, without its comments (examples in Javadoc are no registration). */
    static String withoutComments(String src) {
        return src.replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("(?m)^\\s*//.*$", "");
    }

    /** Every method has at least one golden case on every fixture model (as ArchitectureParityTest's every-fixture check). */
    @Test
    void everyMethodHasAGoldenCasePerFixtureModel() throws IOException {
        // the method fixtures (manifest.json and manifest-*.json beside it), the new CAM methods'
        // (scripts/make_newmethod_fixtures.py) and the perturbation family's
        // (scripts/make_perturbation_fixtures.py), all on the same fixture models
        List<JsonObject> manifests = new ArrayList<>(MethodGoldenTest.manifests());
        for (Path golden : List.of(GOLDEN_NEW, PERTURBATION_GOLDEN, SHAP_GOLDEN))
            manifests.add(JsonParser.parseString(Files.readString(golden)).getAsJsonObject());
        Map<String, Set<String>> have = new TreeMap<>();
        for (JsonObject m : manifests)
            for (Map.Entry<String, JsonElement> e : m.getAsJsonObject("models").entrySet())
                for (JsonElement c : e.getValue().getAsJsonObject().getAsJsonArray("cases"))
                    have.computeIfAbsent(e.getKey(), k -> new TreeSet<>()).add(c.getAsJsonObject().get("method").getAsString());
        List<String> missing = new ArrayList<>();
        for (Map.Entry<String, Set<String>> e : have.entrySet()) {
            for (String name : Methods.names()) if (!e.getValue().contains(name)) missing.add(name + " on " + e.getKey());
            for (String name : e.getValue()) assertTrue(Methods.names().contains(name), "golden case for unknown method " + name);
        }
        assertTrue(missing.isEmpty(), "methods without a golden case (scripts/make_method_fixtures.py, "
                + "make_newmethod_fixtures.py, make_perturbation_fixtures.py, make_shap_fixtures.py): " + missing);
        assertTrue(have.size() >= 2, "golden cases on at least two architectures");
    }

    /** An option name shared by two methods is the same option (same label, default and description). */
    @Test
    void sharedOptionNamesMeanOneThing() {
        Map<String, MethodOption<?>> byName = new HashMap<>();
        for (MethodSpec s : Methods.ALL)
            for (MethodOption<?> o : s.options()) {
                MethodOption<?> prev = byName.putIfAbsent(o.cli(), o);
                if (prev != null && prev != o) {
                    assertEquals(prev.label(), o.label(), o.cli() + " label differs between methods");
                    assertEquals(prev.defaultValue(), o.defaultValue(), o.cli() + " default differs between methods");
                    assertEquals(prev.description(), o.description(), o.cli() + " description differs between methods");
                }
                if (o.defaultValue() != null) assertNotNull(reportedDefault(o), o.cli());
            }
    }

    private static <T> Object reportedDefault(MethodOption<T> o) {
        return o.report(o.defaultValue());
    }

    /** README.md's method table is {@link Methods#markdownTable()} between its markers. */
    @Test
    void readmeMethodTableIsTheSpecs() throws IOException {
        String readme = Files.readString(Path.of("README.md"));
        String begin = "<!-- methods:begin -->\n", end = "<!-- methods:end -->";
        int b = readme.indexOf(begin), e = readme.indexOf(end);
        assertTrue(b >= 0 && e > b, "README.md lacks the method table markers");
        String table = readme.substring(b + begin.length(), e);
        assertEquals(Methods.markdownTable(), table, "README.md's method table differs from the specs; paste:\n"
                + Methods.markdownTable());
    }
}
