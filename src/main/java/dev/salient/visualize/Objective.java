package dev.salient.visualize;

import dev.salient.engine.SalientException;

/**
 * What one image maximises, with Lucent's definitions (lucent/optvis/objectives.py) on an
 * activation A (N,C,h,w) of the layer, or the logits for {@code class}:
 * <ul>
 *   <li>{@code channel}: mean over positions of A[n, c];
 *   <li>{@code neuron}: A[n, c, h//2, w//2], the centre position;
 *   <li>{@code layer}: mean of A[n]² over channels and positions (deepdream);
 *   <li>{@code class}: the raw logit of class k.
 * </ul>
 * Each is linear in A except {@code layer}, so its gradient is a backward pass from a seed of
 * A's shape: the objective's derivative with respect to A (see {@link #seed}).
 */
public record Objective(Kind kind, int index) {
    public enum Kind {
        CHANNEL, NEURON, LAYER, CLASS;

        public static Kind parse(String s) {
            for (Kind k : values()) if (k.name().equalsIgnoreCase(s)) return k;
            throw new SalientException("--objective must be channel, neuron, layer or class, got '" + s + "'");
        }

        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public String label() {
        return kind == Kind.LAYER ? "layer" : kind.label() + " " + index;
    }

    /**
     * d(objective)/dA for image n of a batch, written into {@code seed} (A's shape (N, ...), the
     * row of image n): {@code scale} multiplies it. For {@code layer} it depends on A and is
     * written by the caller from A itself ({@code 2A / numel}).
     */
    void seedRow(float[] seed, int n, long[] shape, float scale) {
        long per = 1;
        for (int i = 1; i < shape.length; i++) per *= shape[i];
        int base = (int) (n * per);
        switch (kind) {
            case CHANNEL -> {
                long hw = shape[2] * shape[3];
                for (long i = 0; i < hw; i++) seed[(int) (base + index * hw + i)] = scale / hw;
            }
            case NEURON -> seed[(int) (base + (index * shape[2] + shape[2] / 2) * shape[3] + shape[3] / 2)] = scale;
            case CLASS -> seed[base + index] = scale;
            case LAYER -> throw new IllegalStateException("layer seeds depend on the activation");
        }
    }

    /** The objective's value for image n of A (host values, shape (N, ...)). */
    double value(float[] a, int n, long[] shape) {
        long per = 1;
        for (int i = 1; i < shape.length; i++) per *= shape[i];
        long base = n * per;
        switch (kind) {
            case CHANNEL -> {
                long hw = shape[2] * shape[3];
                double s = 0;
                for (long i = 0; i < hw; i++) s += a[(int) (base + index * hw + i)];
                return s / hw;
            }
            case NEURON -> {
                return a[(int) (base + (index * shape[2] + shape[2] / 2) * shape[3] + shape[3] / 2)];
            }
            case CLASS -> {
                return a[(int) (base + index)];
            }
            default -> {
                double s = 0;
                for (long i = 0; i < per; i++) s += (double) a[(int) (base + i)] * a[(int) (base + i)];
                return s / per;
            }
        }
    }
}
