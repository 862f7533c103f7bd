package dev.salient.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.Methods;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The CLI reads the method specs: per-method help, and options a method does not take. */
class MethodOptionsCliTest {
    static final String MODEL = "src/main/resources/dev/salient/demo/fashion_cnn.onnx";

    @Test
    void methodHelpListsThatMethodsOptionsOnly() {
        for (MethodSpec s : Methods.ALL) {
            CliRunner r = CliRunner.run("explain", "--method", s.name(), "--help");
            assertEquals(0, r.code(), s.name() + ": " + r.err());
            assertTrue(r.out().contains(s.name()) && r.out().contains(s.layout().describe()), r.out());
            for (MethodSpec other : Methods.ALL)
                for (MethodOption<?> o : other.options()) {
                    boolean mine = s.option(o.cli()) != null;
                    assertEquals(mine, r.out().contains(o.cli() + " "), s.name() + " help and " + o.cli() + ":\n" + r.out());
                }
        }
    }

    @Test
    void generalHelpListsEveryMethodAndEveryOption() {
        CliRunner r = CliRunner.run("explain", "--help");
        assertEquals(0, r.code(), r.err());
        for (MethodSpec s : Methods.ALL) {
            assertTrue(r.out().contains(s.name()), s.name() + " missing from:\n" + r.out());
            for (MethodOption<?> o : s.options()) assertTrue(r.out().contains(o.cli()), o.cli());
        }
    }

    @Test
    void anOptionTheMethodDoesNotTakeIsAnErrorNamingItsOptions(@org.junit.jupiter.api.io.TempDir Path dir) {
        String line = CliRunner.run("explain", "--model", MODEL, "--method", "gradcam", "--steps", "4", "--input", MODEL,
                "--out", dir.resolve("o.npy").toString()).errorLine();
        assertTrue(line.contains("gradcam does not take --steps") && line.contains("--layer"), line);
        line = CliRunner.run("explain", "--model", MODEL, "--method", "saliency", "--layer", "auto", "--input", MODEL,
                "--out", dir.resolve("o.npy").toString()).errorLine();
        assertTrue(line.contains("saliency does not take --layer") && line.contains("no options"), line);
    }

    @Test
    void badOptionValuesAndUnknownMethodsAreOneLine(@org.junit.jupiter.api.io.TempDir Path dir) {
        String line = CliRunner.run("explain", "--model", MODEL, "--method", "smoothgrad", "--samples", "zero", "--input",
                MODEL, "--out", dir.resolve("o.npy").toString()).errorLine();
        assertTrue(line.contains("--samples needs an integer"), line);
        line = CliRunner.run("explain", "--method", "nope", "--help").errorLine();
        assertTrue(line.contains("unknown method 'nope'"), line);
    }
}
