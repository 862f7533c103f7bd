package dev.salient.explain.relevance;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;
import dev.salient.explain.core.Expansion;
import dev.salient.explain.core.Tape;
import dev.salient.model.ops.TensorViews;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * DeepLIFT's evaluations: each image against each of its M references, as Captum's
 * DeepLift concatenates inputs and baselines into one batch (and DeepLiftShap first
 * repeats every input against every baseline). An image expands into 2M evaluations in
 * pairs; a chunk of P pairs is recorded as one tape whose first half of rows are the
 * inputs and whose second half are the matching references, which is what
 * {@link RescaleRules} reads. The driver keeps pairs whole ({@link #group()} = 2) and
 * sizes the chunks under the memory budget, so the M references are never all expanded
 * at once. The result is {@code (1/M) Σ_j (x − r_j)·m_j}, m_j the Rescale multipliers.
 */
class ReferencePairs implements Expansion {
    /** Where the references come from: per image (DeepLift's baseline) or shared (DeepLiftShap's). */
    interface References {
        /** How many references each image has. */
        int count();

        /** Copies reference j of image {@code image} into {@code dst} at element {@code offset}. */
        void write(Backend b, int j, int image, Tensor dst, long offset);

        void close();
    }

    private final String in;
    private final References refs;

    ReferencePairs(String inputName, References refs) {
        this.in = inputName;
        this.refs = refs;
    }

    @Override
    public Set<String> wrt() {
        return Set.of(in);
    }

    @Override
    public int perImage() {
        return 2 * refs.count();
    }

    @Override
    public int group() {
        return 2;
    }

    @Override
    public List<Pass> passes() {
        return List.of(new Pass(RescaleRules.rules(), wrt()));
    }

    @Override
    public long[] rowShape(long[] inputShape) {
        return Arrays.copyOfRange(inputShape, 1, inputShape.length);
    }

    @Override
    public Chunk begin(Backend b, Tensor x, int firstImage) {
        int cnt = (int) x.dim(0);
        long row = x.numel() / cnt;
        float w = 1f / refs.count();
        return new Chunk() {
            @Override
            public void expand(Backend bb, int s0, int count, Tensor points) {
                // pairs s0/2 .. s0/2 + P - 1: the inputs P times, then the references of each pair
                int p = count / 2;
                for (int k = 0; k < p; k++) bb.copyRange(x, 0, points, k * cnt * row, cnt * row);
                for (int k = 0; k < p; k++)
                    for (int i = 0; i < cnt; i++) refs.write(bb, s0 / 2 + k, firstImage + i, points, ((long) (p + k) * cnt + i) * row);
            }

            @Override
            public Tensor accumulate(Backend bb, Tape tape, List<Map<String, Tensor>> grads, int s0, int count, Tensor acc) {
                int p = count / 2;
                long half = (long) p * cnt * row;
                Tensor pts = tape.value(in), g = grads.get(0).get(in);
                Tensor a = acc != null ? acc : bb.zeros(x.shape());
                try (Tensor diff = bb.allocate(p, cnt * row); Tensor ref = bb.allocate(p, cnt * row)) {
                    bb.copyRange(pts, 0, diff, 0, half);
                    bb.copyRange(pts, half, ref, 0, half);
                    bb.binary(BinaryOp.SUB, diff, ref, diff);
                    bb.binary(BinaryOp.MUL, diff, TensorViews.view(g, p, cnt * row), diff);
                    float[] ws = new float[p];
                    Arrays.fill(ws, w);
                    bb.weightedSum(diff, ws, a);
                }
                return a;
            }
        };
    }

    @Override
    public void close() {
        refs.close();
    }
}
