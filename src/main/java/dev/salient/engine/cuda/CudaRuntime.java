package dev.salient.engine.cuda;

import java.io.File;
import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
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
 *
 * <p>With {@code SALIENT_CUDA=emulate} in the environment (or {@code -Dsalient.cuda=emulate})
 * the library is the CPU emulation of the kernels ({@code libsalient_cuda_emu.so}, built from
 * the same kernels/*.cu by g++): its device reads "emulated (CPU), ...". That mode is for
 * tests (it proves indexing, bounds, barriers and results, not speed or hardware behaviour);
 * {@code --device auto} never picks it.
 */
final class CudaRuntime {
    private CudaRuntime() {}

    /** Whether this process runs the CUDA engine under the CPU emulation. */
    static final boolean EMULATE = "emulate".equalsIgnoreCase(System.getenv("SALIENT_CUDA"))
            || "emulate".equalsIgnoreCase(System.getProperty("salient.cuda"));

    /**
     * Loads the emulation library, whose soname is the CUDA engine's, and then the JNI glue,
     * which thereby binds to it; the cudart presets (and with them libcuda) stay unloaded.
     */
    static void loadEmulation() {
        // SALIENT_CUDA_EMU_LIB: another build of the emulation library (scripts/kernel-breakages)
        String other = System.getenv("SALIENT_CUDA_EMU_LIB");
        File emu = other != null && !other.isEmpty() ? new File(other) : library("libsalient_cuda_emu.so");
        File glue = library("libjniCudaNative.so");
        System.load(emu.getAbsolutePath());
        System.load(glue.getAbsolutePath());
    }

    /** A native library next to CudaNative: the file itself in a build tree, else unpacked from the jar. */
    private static File library(String name) {
        URL url = CudaNative.class.getResource(Loader.getPlatform() + "/" + name);
        if (url == null) throw new UnsatisfiedLinkError("this build has no " + name);
        try {
            return "file".equals(url.getProtocol()) ? new File(url.toURI()) : Loader.cacheResource(url);
        } catch (IOException | URISyntaxException e) {
            throw new UnsatisfiedLinkError(name + " cannot be unpacked: " + e.getMessage());
        }
    }

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
            // CudaNative's initialiser loads the libraries: the CUDA build with the cudart presets,
            // or the emulation
            Class.forName(CudaNative.class.getName(), true, CudaNative.class.getClassLoader());
        } catch (Throwable t) {
            if (EMULATE) return new Probe(false, "the CUDA emulation cannot be loaded (" + firstLine(t) + ")", null);
            if (!driverLibraryPresent())
                return new Probe(false, "no NVIDIA driver on this machine (libcuda.so.1 not found)", null);
            return new Probe(false, "the CUDA runtime library could not be loaded (" + firstLine(t) + ")", null);
        }
        try {
            if ((CudaNative.salient_cuda_is_emulated() == 1) != EMULATE)
                return new Probe(false, EMULATE ? "SALIENT_CUDA=emulate, but the CUDA library loaded is not the emulation"
                        : "the CUDA library loaded is the CPU emulation; set SALIENT_CUDA=emulate to use it", null);
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
