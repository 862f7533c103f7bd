package dev.salient.cli;

import dev.salient.explain.core.Cost;
import java.io.PrintStream;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A progress bar of one explain call's evaluations (masked images, windows, IG points), shown
 * once the call is expected to take more than {@link #THRESHOLD_NANOS} per image: a short call
 * prints nothing. Listens to the driver through {@link Cost#progress}; closing it removes the
 * listener and finishes the bar.
 */
final class EvaluationProgress implements Cost.Progress, AutoCloseable {
    /** A bar appears when one image is expected to take longer than this. */
    static final long THRESHOLD_NANOS = 3_000_000_000L;

    private final String task;
    private final int images;
    private final PrintStream err;
    private final long threshold;
    private final long t0 = System.nanoTime();
    private ProgressBar bar;

    private EvaluationProgress(String task, int images, PrintStream err, long threshold) {
        this.task = task;
        this.images = Math.max(1, images);
        this.err = err;
        this.threshold = threshold;
    }

    /** Listens to this thread's driver calls until closed; {@code enabled} false shows nothing. */
    static EvaluationProgress start(String task, int images, boolean enabled, PrintStream err) {
        return start(task, images, enabled, err, THRESHOLD_NANOS);
    }

    /** As {@link #start(String, int, boolean, PrintStream)} with another per-image threshold (tests). */
    static EvaluationProgress start(String task, int images, boolean enabled, PrintStream err, long thresholdNanos) {
        EvaluationProgress p = new EvaluationProgress(task, images, err, thresholdNanos);
        if (enabled) Cost.progress(p);
        return p;
    }

    @Override
    public void evaluations(long done, long total) {
        if (bar == null) {
            long elapsed = System.nanoTime() - t0;
            // the whole call at this rate, per image
            double perImage = (double) elapsed * total / Math.max(1, done) / images;
            if (done >= total || perImage <= threshold) return;
            bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(total).setStyle(ProgressBarStyle.ASCII)
                    .setConsumer(new ConsoleProgressBarConsumer(err)).build();
        }
        bar.maxHint(total);
        bar.stepTo(done);
    }

    /** Whether a bar was shown. */
    boolean shown() {
        return bar != null;
    }

    @Override
    public void close() {
        Cost.progress(null);
        if (bar != null) bar.close();
    }
}
