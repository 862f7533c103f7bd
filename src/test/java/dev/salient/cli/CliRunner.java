package dev.salient.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;

/** Runs the CLI in-process, capturing stdout and stderr. */
record CliRunner(int code, String out, String err) {
    static CliRunner run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new CliRunner(code, out.toString(), err.toString());
    }

    /** The single stderr line of a failed run; fails the test if the run is not exactly that. */
    String errorLine() {
        org.junit.jupiter.api.Assertions.assertNotEquals(0, code, "expected a failure, stdout: " + out);
        String e = err.strip();
        org.junit.jupiter.api.Assertions.assertEquals(1, e.lines().count(), "expected one stderr line, got:\n" + err);
        org.junit.jupiter.api.Assertions.assertTrue(e.startsWith("salient: error: "), e);
        org.junit.jupiter.api.Assertions.assertFalse(e.contains("\tat ") || e.matches(".*\\bat [a-z]+\\.[\\w.$]+\\(.*"),
                "stack trace in: " + e);
        return e;
    }
}
