package dev.salient.engine;

/** Row reductions of {@link Backend#reduceRows}; codes as in native/primitives.h. */
public enum Reduction {
    SUM(0), MAX(1), MIN(2), MEAN(3);

    public final int code;

    Reduction(int code) {
        this.code = code;
    }
}
