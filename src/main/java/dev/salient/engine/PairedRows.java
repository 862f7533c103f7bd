package dev.salient.engine;

/**
 * Tensors of paired rows (DeepLIFT's inputs and their references, as Captum concatenates them):
 * the input rows first, then their references, row r of the second half the reference of row r.
 * A compact form holds each reference row once, for {@code repeat} consecutive input rows. Both
 * helpers are compositions of backend ops, for the CUDA backend's composed primitives and the
 * tape alike.
 */
public final class PairedRows {
    private PairedRows() {}

    /**
     * The paired layout (2h elements) of {@code t}, whose first h elements are the input rows and
     * whose rest are reference rows of {@code row} elements, each serving {@code repeat}
     * consecutive input rows; a new tensor of {@code shape} (the caller closes it).
     */
    public static Tensor paired(Backend b, Tensor t, long h, long repeat, long row, long... shape) {
        Tensor w = b.allocate(shape);
        try {
            b.copyRange(t, 0, w, 0, h);
            for (long e = 0; e < h; e += row) b.copyRange(t, h + e / (repeat * row) * row, w, h + e, row);
            return w;
        } catch (RuntimeException ex) {
            w.close();
            throw ex;
        }
    }

    /** Whether the two halves of {@code t} (h elements each) are equal bit for bit; a NaN in either counts as a difference. */
    public static boolean halvesEqual(Backend b, Tensor t, long h) {
        try (Tensor d = b.allocate(1, h); Tensor r = b.allocate(3)) {
            b.binary(BinaryOp.SUB, part(b, t, 0, 1, h), part(b, t, h, 1, h), d);
            b.reduceRows(Reduction.MAX, d, part(b, r, 0, 1));
            b.reduceRows(Reduction.MIN, d, part(b, r, 1, 1));
            b.reduceRows(Reduction.SUM, d, part(b, r, 2, 1));
            float[] m = r.toArray();
            // MAX and MIN skip NaNs; the sum does not
            return m[0] == 0f && m[1] == 0f && !Float.isNaN(m[2]);
        }
    }

    /** Elements [off, off + numel(shape)) of t as a borrowed tensor of that shape (never closed). */
    private static Tensor part(Backend b, Tensor t, long off, long... shape) {
        return Tensor.borrowed(b, off == 0 ? t.data() : t.data().getPointer(off), t, shape);
    }
}
