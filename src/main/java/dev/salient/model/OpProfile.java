package dev.salient.model;

import dev.salient.engine.Backend;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Wall time per op kind, for finding where a method spends its time: the forward steps of a
 * plan by op type ({@code fwd Conv}, {@code fwd Conv+Relu} when fused), the backward rules by
 * op type and rule set ({@code bwd Relu [deeplift-rescale]}) and any named phase a caller
 * brackets. Off unless the environment sets {@code SALIENT_PROFILE=1} or the JVM
 * {@code -Dsalient.profile=true}; when off each bracket costs one branch. With
 * {@code SALIENT_PROFILE=shapes} the forward steps are also split by their inputs' shapes
 * ({@code fwd Conv [32,64,56,56] [256,64,1,1]}), to find the layer that costs. When on, the backend
 * is synchronised before each clock read, so device ops are charged to the step that launched
 * them.
 * <pre>{@code
 * long t0 = OpProfile.start(b);
 * ... work ...
 * OpProfile.stop(b, "bwd Relu", t0);
 * System.out.print(OpProfile.report());
 * }</pre>
 */
public final class OpProfile {
    private OpProfile() {}

    private static volatile boolean ON = System.getenv("SALIENT_PROFILE") != null && !System.getenv("SALIENT_PROFILE").equals("0")
            || Boolean.getBoolean("salient.profile");

    private static final boolean SHAPES = "shapes".equals(System.getenv("SALIENT_PROFILE"));

    /** Whether steps are keyed by their inputs' shapes too ({@code SALIENT_PROFILE=shapes}). */
    public static boolean byShape() {
        return ON && SHAPES;
    }

    /** Per key: total nanoseconds and calls. */
    private static final Map<String, AtomicLongArray> TIMES = new ConcurrentHashMap<>();

    public static boolean on() {
        return ON;
    }

    /** Turns profiling on or off for this JVM (the environment and property set the start value). */
    public static void enable(boolean on) {
        ON = on;
    }

    /** A start time, or 0 when profiling is off. */
    public static long start(Backend b) {
        if (!ON) return 0;
        b.synchronize();
        return System.nanoTime();
    }

    /** Charges the time since {@code t0} to {@code key}. */
    public static void stop(Backend b, String key, long t0) {
        if (!ON || t0 == 0) return;
        b.synchronize();
        long dt = System.nanoTime() - t0;
        AtomicLongArray a = TIMES.computeIfAbsent(key, k -> new AtomicLongArray(2));
        a.addAndGet(0, dt);
        a.incrementAndGet(1);
    }

    public static void reset() {
        TIMES.clear();
    }

    /**
     * Per key, the nanoseconds and calls charged since the last {@link #reset}: a copy, for a caller
     * that takes statistics over repeated runs (reset, run, snapshot).
     */
    public static Map<String, long[]> snapshot() {
        Map<String, long[]> m = new TreeMap<>();
        for (var e : TIMES.entrySet()) m.put(e.getKey(), new long[] {e.getValue().get(0), e.getValue().get(1)});
        return m;
    }

    /** One line per key, the largest total first: seconds, calls, share of the listed total. */
    public static String report() {
        List<Map.Entry<String, AtomicLongArray>> e = new ArrayList<>(TIMES.entrySet());
        e.sort((p, q) -> Long.compare(q.getValue().get(0), p.getValue().get(0)));
        long total = 0;
        for (var x : e) if (!x.getKey().startsWith("phase ")) total += x.getValue().get(0);
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-44s %9s %7s %6s%n", "op (phases are not in the total)", "s", "calls", "%"));
        for (var x : e) {
            long ns = x.getValue().get(0);
            sb.append(String.format(Locale.ROOT, "%-44s %9.3f %7d %6.1f%n", x.getKey(), ns / 1e9, x.getValue().get(1),
                    x.getKey().startsWith("phase ") ? Double.NaN : 100.0 * ns / Math.max(1, total)));
        }
        sb.append(String.format(Locale.ROOT, "%-44s %9.3f%n", "total (ops)", total / 1e9));
        return sb.toString();
    }
}
