package dev.salient.engine.cuda;

import dev.salient.engine.SalientException;

/**
 * Device memory ran out even after the backend returned its cached blocks to the driver.
 * Callers that batch (IG steps, SmoothGrad samples, occlusion windows) catch it to split
 * the batch; its message names the size that did not fit and the free memory.
 */
public final class DeviceOutOfMemoryException extends dev.salient.engine.OutOfDeviceMemoryException {
    public DeviceOutOfMemoryException(String message) {
        super(message);
    }
}
