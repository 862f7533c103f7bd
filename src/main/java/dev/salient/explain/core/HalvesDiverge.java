package dev.salient.explain.core;

/**
 * Thrown by a {@link PairedRule} in a first-half walk when the reference half's gradient
 * would no longer equal the input half's; the tape then walks all rows.
 */
public final class HalvesDiverge extends RuntimeException {
    public HalvesDiverge(String where) {
        super(where, null, false, false);
    }
}
