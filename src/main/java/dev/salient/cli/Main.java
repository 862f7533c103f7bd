package dev.salient.cli;

import dev.salient.engine.SalientException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code salient} command line. Subcommands are classes of this package
 * registered in {@link #commandLine()}.
 *
 * <p>Exit codes: 0 success; 2 a user error (bad option, missing or corrupt
 * file, unsupported model, wrong input shape), reported as exactly one line
 * {@code salient: error: <message>} on stderr; 1 an internal error, also one
 * line. Set {@code SALIENT_DEBUG=1} to get the stack trace as well.
 */
@Command(
        name = "salient",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = "Explain the decisions of CNN image classifiers (ONNX models) on a native CPU/CUDA engine.",
        subcommands = {CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    public static final int EXIT_USER_ERROR = 2;
    public static final int EXIT_INTERNAL_ERROR = 1;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command (try 'salient --help')");
    }

    public static void main(String[] args) {
        int rc = commandLine().execute(args);
        // SALIENT_PROFILE=1 (or shapes): the steps' times of the whole command, on standard error
        if (dev.salient.model.OpProfile.on()) System.err.print(dev.salient.model.OpProfile.report());
        System.exit(rc);
    }

    /** The configured command line: subcommands, one-line error handlers. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.addSubcommand("predict", new PredictCommand());
        cl.addSubcommand("explain", new ExplainCommand());
        ExplainCommand.addMethodOptions(cl.getSubcommands().get("explain"));
        cl.addSubcommand("evaluate", new EvaluateCommand());
        EvaluateCommand.addMethodOptions(cl.getSubcommands().get("evaluate"));
        cl.addSubcommand("demo", new DemoCommand());
        cl.addSubcommand("bench", new BenchCommand());
        cl.addSubcommand("batch", new BatchCommand());
        ExplainCommand.addMethodOptions(cl.getSubcommands().get("batch"));
        cl.addSubcommand("visualize", new VisualizeCommand());
        cl.setParameterExceptionHandler(Main::usageError);
        cl.setExecutionExceptionHandler((ex, line, parsed) -> failure(ex, line.getErr()));
        // picocli hands only Exceptions to the handler above and rethrows Errors (OutOfMemoryError,
        // StackOverflowError): catch them here, so that they too end in one line
        cl.setExecutionStrategy(parsed -> {
            try {
                return execute(parsed);
            } catch (Error e) {
                CommandLine sub = parsed.subcommand() != null ? parsed.subcommand().commandSpec().commandLine() : cl;
                return failure(e, sub.getErr());
            }
        });
        return cl;
    }

    /** Runs the command; {@code explain --method NAME --help} prints that method's options only. */
    private static int execute(CommandLine.ParseResult pr) {
        CommandLine.ParseResult sub = pr.subcommand();
        if (sub != null && sub.commandSpec().userObject() instanceof ExplainCommand && sub.isUsageHelpRequested()
                && sub.hasMatchedOption("--method")) {
            CommandLine cl = sub.commandSpec().commandLine();
            try {
                String name = sub.matchedOption("--method").getValue();
                cl.getOut().print(ExplainCommand.methodHelp(dev.salient.explain.Methods.get(name)));
                cl.getOut().flush();
                return 0;
            } catch (SalientException e) {
                return failure(e, cl.getErr());
            }
        }
        return new CommandLine.RunLast().execute(pr);
    }

    static int usageError(CommandLine.ParameterException ex, String[] args) {
        CommandLine cl = ex.getCommandLine();
        PrintWriter err = cl.getErr();
        String where = cl.getCommandSpec().qualifiedName();
        err.println("salient: error: " + oneLine(ex.getMessage()) + " (see '" + where + " --help')");
        debugTrace(ex, err);
        err.flush();
        return EXIT_USER_ERROR;
    }

    /** Prints the one error line for an exception thrown by a command; returns the exit code. */
    static int failure(Throwable ex, PrintWriter err) {
        int code;
        String msg;
        if (ex instanceof SalientException) {
            msg = ex.getMessage();
            code = EXIT_USER_ERROR;
        } else if (ex instanceof FileSystemException fs) {
            msg = fs.getFile() + ": " + (fs.getReason() != null ? fs.getReason() : ex.getClass().getSimpleName());
            code = EXIT_USER_ERROR;
        } else if (ex instanceof IOException || ex instanceof UncheckedIOException) {
            msg = ex.getMessage();
            code = EXIT_USER_ERROR;
        } else if (ex instanceof OutOfMemoryError) {
            msg = "out of memory (" + ex.getMessage() + "); try a smaller --batch, a smaller --memory-budget or a larger -Xmx";
            code = EXIT_USER_ERROR;
        } else if (ex instanceof StackOverflowError) {
            msg = "internal error: stack overflow (set SALIENT_DEBUG=1 for the stack trace)";
            code = EXIT_INTERNAL_ERROR;
        } else {
            msg = "internal error: " + ex + " (set SALIENT_DEBUG=1 for the stack trace)";
            code = EXIT_INTERNAL_ERROR;
        }
        err.println("salient: error: " + oneLine(msg));
        debugTrace(ex, err);
        err.flush();
        return code;
    }

    /** Longest message an error line quotes (characters); the rest is cut with a count. */
    static final int MAX_LINE = 400;

    /** The message on one line, cut to {@link #MAX_LINE} characters. */
    static String oneLine(String s) {
        if (s == null || s.isBlank()) return "unknown error";
        String t = s.strip().replaceAll("\\s*[\\r\\n]+\\s*", " ");
        if (t.length() <= MAX_LINE) return t;
        return t.substring(0, MAX_LINE) + "... (" + (t.length() - MAX_LINE) + " more characters)";
    }

    private static void debugTrace(Throwable ex, PrintWriter err) {
        if ("1".equals(System.getenv("SALIENT_DEBUG"))) ex.printStackTrace(err);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"salient " + (v != null ? v : "dev")};
        }
    }
}
