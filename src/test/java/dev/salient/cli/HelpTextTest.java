package dev.salient.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * Every command's help renders as written: a bare {@code %} in a description is a format
 * specifier to picocli, which then warns on stderr and prints the text unformatted.
 */
class HelpTextTest {
    @Test
    void everyCommandsHelpFormatsWithoutWarnings() {
        CommandLine root = Main.commandLine();
        PrintStream err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try {
            System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
            String top = root.getUsageMessage(CommandLine.Help.Ansi.OFF);
            assertFalse(top.isBlank());
            for (Map.Entry<String, CommandLine> e : root.getSubcommands().entrySet()) {
                String help = e.getValue().getUsageMessage(CommandLine.Help.Ansi.OFF);
                assertTrue(help.contains(e.getKey()), e.getKey() + " help:\n" + help);
                assertFalse(help.contains("%n"), e.getKey() + " help left a format string unformatted:\n" + help);
            }
        } finally {
            System.setErr(err);
        }
        String warnings = captured.toString(StandardCharsets.UTF_8);
        assertFalse(warnings.contains("Could not format"), warnings);
    }
}
