package dev.salient.cli;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.SalientException;
import dev.salient.engine.CpuNative;
import dev.salient.model.MemoryLimit;
import dev.salient.model.Model;
import picocli.CommandLine.Option;

/** Device, batch, thread and memory flags shared by the commands that run a model ({@code @Mixin RunOptions run;}). */
public final class RunOptions {
    /** Largest --batch: far beyond any real batch, small enough that batch x row sizes stay far from overflow. */
    static final int MAX_BATCH = 1 << 16;

    @Option(names = "--device", paramLabel = "cpu|cuda|auto", defaultValue = "auto",
            description = "Where to compute (default: ${DEFAULT-VALUE}: cuda when a device answers, else cpu).")
    String device;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "32",
            description = "Samples per forward pass (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--threads", paramLabel = "N",
            description = "CPU threads for the native engine (default: all cores; at most 4 per core).")
    Integer threads;

    @Option(names = "--memory-budget", paramLabel = "MB",
            description = "Activation memory one model call may use; a call that needs more is refused before it "
                    + "allocates (default: a quarter of the available memory). explain also sizes its chunks of "
                    + "expanded evaluations by it (default 1024 MB).")
    Long memoryBudgetMb;

    /** Checks the flags, applies --threads and returns the backend for --device. */
    public Backend backend() {
        validate();
        if (threads != null && CpuNative.salient_set_num_threads(threads) != 0)
            throw new SalientException("--threads: " + CpuNative.salient_last_error().getString());
        Backend b = Engine.forName(device);
        if (b.name().equals("cuda") && Engine.cudaEmulated())
            System.err.println("salient: warning: cuda is the CPU emulation of the kernels (SALIENT_CUDA=emulate), "
                    + "meant for tests: slow, and no evidence of GPU behaviour");
        return b;
    }

    /** Checks the flags without touching the engine. */
    void validate() {
        if (batch <= 0 || batch > MAX_BATCH)
            throw new SalientException("--batch must be between 1 and " + MAX_BATCH + ", got " + batch);
        if (threads != null) {
            int max = CpuNative.salient_max_threads();
            if (threads <= 0 || threads > max)
                throw new SalientException("--threads must be between 1 and " + max + " on this machine ("
                        + Runtime.getRuntime().availableProcessors() + " cores), got " + threads);
        }
        if (memoryBudgetMb != null && (memoryBudgetMb <= 0 || memoryBudgetMb > (1L << 40)))
            throw new SalientException("--memory-budget must be between 1 and " + (1L << 40) + " MB, got " + memoryBudgetMb);
    }

    /** Applies --memory-budget to a loaded model (else it keeps the host default); returns it. */
    public Model limit(Model m) {
        if (memoryBudgetMb != null) m.memoryLimit(memoryBudgetMb << 20);
        return m;
    }

    /** The chunk budget of explain (bytes): --memory-budget, else 1 GiB. */
    long chunkBudget() {
        return memoryBudgetMb != null ? memoryBudgetMb << 20 : 1L << 30;
    }

    /** What report.json records: the flag, or "default". */
    Object memoryBudgetForReport() {
        return memoryBudgetMb != null ? memoryBudgetMb : "default (" + (MemoryLimit.hostDefault() >> 20) + " MB activations, 1024 MB chunks)";
    }

    public int batch() {
        return batch;
    }
}
