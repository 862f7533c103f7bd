package dev.salient.engine;

/**
 * Picks a {@link Backend}: {@code cpu} is always there; {@code cuda} when this
 * build has CUDA and a device answers; {@code auto} prefers cuda.
 */
public final class Engine {
    private Engine() {}

    public static Backend cpu() {
        return CpuBackend.instance();
    }

    /** "cpu", "cuda" or "auto"; throws SalientException naming the problem otherwise. */
    public static Backend forName(String device) {
        return switch (device) {
            case "cpu" -> cpu();
            case "auto" -> cpu(); // cuda joins here when the CUDA backend lands
            case "cuda" -> throw new SalientException("--device cuda: this build has no CUDA backend yet");
            default -> throw new SalientException("unknown device '" + device + "' (use cpu, cuda or auto)");
        };
    }
}
