package dev.salient.engine;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;

/**
 * Picks a {@link Backend}:
 * <ul>
 *   <li>{@code cpu}: the C++ engine, always there;
 *   <li>{@code cuda}: the CUDA kernels on device 0, when this build has them (nvcc was present)
 *       and a device answers; otherwise a one-line error saying which of the two is missing;
 *   <li>{@code auto}: cuda when available, else cpu.
 * </ul>
 * The CUDA classes are looked up by name, so a build without nvcc (which leaves them out)
 * still links and runs.
 */
public final class Engine {
    private static final String CUDA_CLASS = "dev.salient.engine.cuda.CudaBackend";

    private Engine() {}

    public static Backend cpu() {
        return CpuBackend.instance();
    }

    /** The process-wide CUDA backend; throws SalientException naming why CUDA is unavailable. */
    public static Backend cuda() {
        Class<?> c = cudaClass();
        if (c == null) throw new SalientException("--device cuda: this build has no CUDA backend (it was built without nvcc)");
        return (Backend) call(c, "shared");
    }

    /**
     * True when this build has CUDA and a real device answers; never throws. The CPU
     * emulation of the kernels (SALIENT_CUDA=emulate, for tests) does not count.
     */
    public static boolean cudaAvailable() {
        Class<?> c = cudaClass();
        if (c == null) return false;
        try {
            return (Boolean) call(c, "isAvailable") && !(Boolean) call(c, "isEmulated");
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** True when the CUDA backend runs under the CPU emulation of the kernels (SALIENT_CUDA=emulate). */
    public static boolean cudaEmulated() {
        Class<?> c = cudaClass();
        if (c == null) return false;
        try {
            return (Boolean) call(c, "isEmulated");
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** "cpu", "cuda" or "auto"; throws SalientException naming the problem otherwise. */
    public static Backend forName(String device) {
        return switch (device) {
            case "cpu" -> cpu();
            case "auto" -> cudaAvailable() ? cuda() : cpu();  // never the emulation
            case "cuda" -> cuda();
            default -> throw new SalientException("unknown device '" + device + "' (use cpu, cuda or auto)");
        };
    }

    private static Class<?> cudaClass() {
        try {
            return Class.forName(CUDA_CLASS);
        } catch (ClassNotFoundException | LinkageError e) {
            return null;
        }
    }

    private static Object call(Class<?> c, String name) {
        try {
            Method m = c.getMethod(name);
            return m.invoke(null);
        } catch (InvocationTargetException e) {
            Throwable t = e.getCause();
            if (t instanceof RuntimeException r) throw r;
            throw new SalientException("cuda: " + t);
        } catch (ReflectiveOperationException e) {
            throw new SalientException("cuda: " + e);
        }
    }
}
