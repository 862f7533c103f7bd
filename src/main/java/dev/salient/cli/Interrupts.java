package dev.salient.cli;

import java.util.ArrayList;
import java.util.List;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * SIGINT and SIGTERM during a run: the first one asks the run to stop after the
 * batch it is writing (the run then records what it wrote and exits 130 or
 * 143); a second one stops the process at once, which still leaves every
 * written batch readable (the NPY header is rewritten after each batch).
 *
 * <pre>{@code
 * try (Interrupts stop = Interrupts.install()) {
 *     for (...) { ...write a batch...; if (stop.requested()) break; }
 * }
 * }</pre>
 */
final class Interrupts implements AutoCloseable {
    private volatile String signal; // "INT" or "TERM" once asked
    private final List<Signal> installed = new ArrayList<>();
    private final List<SignalHandler> previous = new ArrayList<>();

    private Interrupts() {}

    static Interrupts install() {
        Interrupts in = new Interrupts();
        for (String name : new String[] {"INT", "TERM"}) {
            try {
                Signal s = new Signal(name);
                SignalHandler old = Signal.handle(s, sig -> in.onSignal(sig.getName()));
                in.installed.add(s);
                in.previous.add(old);
            } catch (IllegalArgumentException | UnsupportedOperationException e) {
                // the platform or the JVM (-Xrs) does not let us handle it: the default action stays
            }
        }
        return in;
    }

    private void onSignal(String name) {
        if (signal != null) Runtime.getRuntime().halt(exitCode(name)); // second signal: stop now
        signal = name;
    }

    /** The signal that asked the run to stop, or null. */
    String requested() {
        return signal;
    }

    /** 128 + the signal number, as a shell reports a process killed by it: 130 for INT, 143 for TERM. */
    static int exitCode(String name) {
        return "INT".equals(name) ? 130 : 143;
    }

    @Override
    public void close() {
        for (int i = 0; i < installed.size(); i++) {
            try {
                Signal.handle(installed.get(i), previous.get(i));
            } catch (IllegalArgumentException e) {
                // nothing to restore
            }
        }
    }
}
