package dev.salient.engine;

/**
 * A backend ran out of memory for a tensor even after returning its cached
 * blocks. Methods that expand a batch catch it and retry in smaller chunks;
 * when one image alone does not fit it reaches the user as one line.
 */
public class OutOfDeviceMemoryException extends SalientException {
    public OutOfDeviceMemoryException(String message) {
        super(message);
    }
}
