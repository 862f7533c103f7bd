package dev.salient.engine;

/** Pointwise activations, numbered as {@code SALIENT_ACT_*} in native/salient.h. */
public enum Activation {
    RELU(0), LEAKY_RELU(1), CLIP(2), SIGMOID(3), HARD_SIGMOID(4), HARD_SWISH(5), ABS(6);

    public final int code;

    Activation(int code) {
        this.code = code;
    }
}
