package dev.salient.model;

import dev.salient.engine.OutOfDeviceMemoryException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The activation-memory budget of a model call. A plan knows the bytes it will
 * allocate before it allocates them ({@link Plan#activationBytes()}); a call
 * over the budget is refused with one line that says how much it would need.
 *
 * <p>The host default is a quarter of the memory the system reports available
 * ({@code MemAvailable} in {@code /proc/meminfo}, else the JVM's view of free
 * physical memory), at least 256 MiB: a corrupt or hostile model (a Conv with
 * pads of 1000) is refused instead of taking the machine's memory.
 */
public final class MemoryLimit {
    private MemoryLimit() {}

    static final long MIN_DEFAULT = 256L << 20;

    /**
     * Thrown when a plan needs more than the budget. It is an out-of-memory
     * condition, so methods that expand a batch split their chunks and retry.
     */
    public static final class Exceeded extends OutOfDeviceMemoryException {
        public Exceeded(String message) {
            super(message);
        }
    }

    /** A quarter of the available memory, at least 256 MiB. */
    public static long hostDefault() {
        return Math.max(MIN_DEFAULT, availableBytes() / 4);
    }

    /** Memory the system can hand out now without swapping (bytes). */
    public static long availableBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo")))
                if (line.startsWith("MemAvailable:")) {
                    String[] p = line.trim().split("\\s+");
                    return Long.parseLong(p[1]) * 1024;
                }
        } catch (IOException | RuntimeException e) {
            // not Linux: ask the JVM
        }
        try {
            var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
            return os.getFreeMemorySize();
        } catch (RuntimeException | LinkageError e) {
            return 4L << 30;
        }
    }

    /** "12.5 GiB" / "312 MiB" / "0.5 MiB": whole MiB from 16 MiB up, one decimal below. */
    public static String mib(long bytes) {
        if (bytes >= (10L << 30)) return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
        if (bytes >= (16L << 20)) return String.format(Locale.ROOT, "%d MiB", (bytes + (1 << 20) - 1) >> 20);
        return String.format(Locale.ROOT, "%.1f MiB", Math.ceil(bytes / (double) (1L << 20) * 10) / 10);
    }
}
