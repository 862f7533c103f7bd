package dev.salient.explain.core;

/**
 * What the evaluations of this thread's attribution calls cost: the forward passes
 * {@link Driver} ran (one per evaluated row: an image, a masked image, an IG point) and,
 * separately, the partial ones that run only the graph after a layer (Ablation-CAM).
 * A caller resets the counts, explains, and reads them ({@code report.json} writes them). A
 * {@link Progress} listener set here hears, after every chunk, how many of the call's
 * evaluations are done. Both are confined to the calling thread, as a call of the driver is.
 */
public final class Cost {
    private Cost() {}

    /**
     * Forward passes since {@link #reset()}, in rows: of the whole graph, of the graph up to a
     * layer (Score-CAM's unmasked activations) and of the graph after a layer (Ablation-CAM).
     */
    public record Counts(long forwards, long prefixForwards, long suffixForwards) {}

    /** Hears the progress of one driver call: {@code done} of {@code total} evaluations (rows × images). */
    @FunctionalInterface
    public interface Progress {
        void evaluations(long done, long total);
    }

    private static final class State {
        long forwards, prefix, suffix;
        Progress progress;
    }

    private static final ThreadLocal<State> STATE = ThreadLocal.withInitial(State::new);

    /** Sets this thread's counts to zero. */
    public static void reset() {
        State s = STATE.get();
        s.forwards = 0;
        s.prefix = 0;
        s.suffix = 0;
    }

    /** This thread's counts since {@link #reset()}. */
    public static Counts counts() {
        State s = STATE.get();
        return new Counts(s.forwards, s.prefix, s.suffix);
    }

    /** Sets (or, with null, removes) this thread's progress listener. */
    public static void progress(Progress p) {
        STATE.get().progress = p;
    }

    static void forwards(long rows) {
        STATE.get().forwards += rows;
    }

    static void prefixForwards(long rows) {
        STATE.get().prefix += rows;
    }

    static void suffixForwards(long rows) {
        STATE.get().suffix += rows;
    }

    static void step(long done, long total) {
        Progress p = STATE.get().progress;
        if (p != null) p.evaluations(done, total);
    }
}
