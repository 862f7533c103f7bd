package dev.salient.cli;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.SalientException;
import dev.salient.engine.CpuNative;
import picocli.CommandLine.Option;

/** Device, batch and thread flags shared by the commands that run a model ({@code @Mixin RunOptions run;}). */
public final class RunOptions {
    @Option(names = "--device", paramLabel = "cpu|cuda|auto", defaultValue = "auto",
            description = "Where to compute (default: ${DEFAULT-VALUE}: cuda when a device answers, else cpu).")
    String device;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "32",
            description = "Samples per forward pass (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--threads", paramLabel = "N",
            description = "CPU threads for the native engine (default: all cores).")
    Integer threads;

    /** Applies --threads and returns the backend for --device. */
    public Backend backend() {
        if (batch <= 0) throw new SalientException("--batch must be positive, got " + batch);
        if (threads != null) {
            if (threads <= 0) throw new SalientException("--threads must be positive, got " + threads);
            CpuNative.salient_set_num_threads(threads);
        }
        Backend b = Engine.forName(device);
        if (b.name().equals("cuda") && Engine.cudaEmulated())
            System.err.println("salient: warning: cuda is the CPU emulation of the kernels (SALIENT_CUDA=emulate), "
                    + "meant for tests: slow, and no evidence of GPU behaviour");
        return b;
    }

    public int batch() {
        return batch;
    }
}
