package dev.salient.engine;

/**
 * The one exception type of salient for user-facing failures: a corrupt model,
 * an unsupported op, a wrong shape, a native or device error. Its message is a
 * single line that names what is wrong; the CLI prints exactly that line.
 */
public class SalientException extends RuntimeException {
    public SalientException(String message) {
        super(message);
    }

    public SalientException(String message, Throwable cause) {
        super(message, cause);
    }
}
