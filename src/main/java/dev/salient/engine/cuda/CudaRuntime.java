package dev.salient.engine.cuda;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;

/**
 * Finding out, once per process and without ever throwing, whether CUDA can run here: the
 * library loads, a device answers, and one of this build's kernels runs on it.
 */
final class CudaRuntime {
    private CudaRuntime() {}

    /** Result of loading the library and asking the driver for devices; computed once. */
    record Probe(boolean available, String reason, String device) {}

    private static volatile Probe probe;

    static Probe probe() {
        Probe p = probe;
        if (p == null) {
            synchronized (CudaRuntime.class) {
                p = probe;
                if (p == null) probe = p = doProbe();
            }
        }
        return p;
    }

    private static Probe doProbe() {
        try {
            Loader.load(CudaNative.class);
        } catch (Throwable t) {
            if (!driverLibraryPresent())
                return new Probe(false, "no NVIDIA driver on this machine (libcuda.so.1 not found)", null);
            return new Probe(false, "the CUDA runtime library could not be loaded (" + firstLine(t) + ")", null);
        }
        try {
            int count = CudaNative.salient_cuda_device_count();
            if (count <= 0) {
                String why = CudaNative.salient_cuda_probe_error().getString();
                return new Probe(false, "no CUDA device answers" + (why.isEmpty() ? "" : " (" + why + ")"), null);
            }
            byte[] buf = new byte[256];
            if (CudaNative.salient_cuda_device_describe(0, buf, buf.length) != 0)
                return new Probe(false, "CUDA device 0 cannot be queried: " + CudaNative.salient_cuda_last_error().getString(), null);
            int len = 0;
            while (len < buf.length && buf[len] != 0) len++;
            String device = new String(buf, 0, len, StandardCharsets.UTF_8);
            String selfTest = selfTest();
            if (selfTest != null)
                return new Probe(false, "CUDA device 0 (" + device + ") cannot run this build's kernels: " + selfTest, null);
            return new Probe(true, "", device);
        } catch (Throwable t) {
            return new Probe(false, "CUDA probe failed (" + firstLine(t) + ")", null);
        }
    }

    /**
     * Runs one kernel and reads its result back: catches a driver too old for the compiled
     * code (no sm_80/sm_90 image and PTX newer than the driver) before any real work.
     * Returns null when the kernel ran, else the CUDA error line.
     */
    private static String selfTest() {
        if (CudaNative.salient_cuda_set_device(0) != 0) return CudaNative.salient_cuda_last_error().getString();
        FloatPointer p = CudaNative.salient_cuda_malloc(4);
        if (p == null || p.isNull()) return CudaNative.salient_cuda_last_error().getString();
        try {
            float[] back = new float[4];
            if (CudaNative.fill_cuda(p, 4, 1.5f) != 0 || CudaNative.salient_cuda_download(back, p, 0, 4) != 0)
                return CudaNative.salient_cuda_last_error().getString();
            for (float v : back)
                if (v != 1.5f) return "a test kernel wrote " + v + " instead of 1.5";
            return null;
        } finally {
            CudaNative.salient_cuda_free(p);
        }
    }

    /** Whether the driver library can be found where the dynamic loader looks for it. */
    private static boolean driverLibraryPresent() {
        List<String> dirs = new ArrayList<>(List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64",
                "/usr/lib", "/lib/x86_64-linux-gnu", "/usr/local/nvidia/lib64", "/usr/lib/wsl/lib"));
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) dirs.addAll(Arrays.asList(ld.split(":")));
        for (String d : dirs)
            if (!d.isEmpty() && Files.exists(Path.of(d, "libcuda.so.1"))) return true;
        return false;
    }

    private static String firstLine(Throwable t) {
        String m = String.valueOf(t.getMessage());
        int nl = m.indexOf('\n');
        return t.getClass().getSimpleName() + ": " + (nl >= 0 ? m.substring(0, nl) : m);
    }

}
