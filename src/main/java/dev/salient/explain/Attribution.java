package dev.salient.explain;

import java.util.Arrays;

/**
 * The result of an attribution method, on the host.
 * <ul>
 *   <li>{@link Layout#INPUT}: (rows, C, H, W), the input's shape, as Captum returns it;
 *   <li>{@link Layout#CAM}: (rows, H, W), values in [0,1], as pytorch-grad-cam returns it;
 *   <li>{@link Layout#LAYER}: (rows, K, h, w), the shape of the explained layer;
 *   <li>{@link Layout#MAP}: (rows, H, W), a raw map at the input's resolution (RISE's saliency), not normalised.
 * </ul>
 * Row r explains image {@code image(r)} for class {@code target(r)}; with a top-k
 * target there are k rows per image, best class first.
 *
 * @param values      row-major values of {@code shape}
 * @param shape       (rows, C, H, W), (rows, H, W) or (rows, K, h, w)
 * @param layout      which of the four
 * @param images      per row, the index of the image in the batch
 * @param targets     per row, the class explained
 * @param scores      per row, the raw logit of that class at the input
 * @param deltas      per row, the convergence delta (IG only; null otherwise)
 */
public record Attribution(float[] values, long[] shape, Layout layout, int[] images, int[] targets, float[] scores,
        float[] deltas) {

    public enum Layout {
        INPUT("(rows,C,H,W)"), CAM("(rows,H,W) in [0,1]"), LAYER("(rows,K,h,w)"), MAP("(rows,H,W) raw");

        private final String shape;

        Layout(String shape) {
            this.shape = shape;
        }

        /** The rows' shape in words, as the report and the README write it. */
        public String describe() {
            return shape;
        }
    }

    public int rows() {
        return (int) shape[0];
    }

    /** Elements per row. */
    public int rowSize() {
        long n = 1;
        for (int i = 1; i < shape.length; i++) n *= shape[i];
        return (int) n;
    }

    /** A copy of row r's values. */
    public float[] row(int r) {
        int s = rowSize();
        return Arrays.copyOfRange(values, r * s, (r + 1) * s);
    }
}
