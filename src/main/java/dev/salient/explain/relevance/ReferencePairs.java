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
 * As in Captum, the pairs' one forward pass is the only one: the target classes come from
 * the input rows ({@link #imagesLead()}), and the references' logits for the summation-to-delta
 * gaps from the reference rows ({@link #referenceLogits()}).
 */
class ReferencePairs implements Expansion {
    /** Where the references come from: per image (DeepLift's baseline) or shared (DeepLiftShap's). */
    interface References {
        /** How many references each image has. */
        int count();

        /** Copies reference j of image {@code image} into {@code dst} at element {@code offset}. */
        void write(Backend b, int j, int image, Tensor dst, long offset);

        /** Whether reference j is the same for every image (then a chunk's forward runs it once). */
        default boolean shared() {
            return false;
        }

        void close();
    }

    /** Whether chunks run shared references once ({@link Tape#recordShared}); tests compare with every row. */
    static volatile boolean shareRows = true;

    private final String in;
    private final References refs;
    private final int images;
    /** Σ_j y(r_j) per image and class, from the tapes' reference rows; null until the first tape. */
    private double[] refSum;
    private boolean[] refSeen;
    private int classes;

    ReferencePairs(String inputName, References refs, int images) {
        this.in = inputName;
        this.refs = refs;
        this.images = images;
    }

    /** The input rows lead every chunk's first pair: the targets come from the pairs' own forward pass. */
    @Override
    public boolean imagesLead() {
        return true;
    }

    /**
     * The mean over its references of the logits of each image's references, (images, classes),
     * as the pairs' forward passes computed them (no further forward pass).
     */
    float[] referenceLogits() {
        if (refSum == null) throw new IllegalStateException("no pair has been evaluated");
        for (boolean seen : refSeen) if (!seen) throw new IllegalStateException("a reference was not evaluated");
        float[] out = new float[refSum.length];
        for (int i = 0; i < out.length; i++) out[i] = (float) (refSum[i] / refs.count());
        return out;
    }

    /** Adds the logits of the references of pairs [pair0, pair0 + p) of images [first, first + cnt), once each. */
    private void addReferenceLogits(Tape tape, int pair0, int p, int first, int cnt) {
        Tensor l = tape.logits();
        int nc = (int) l.dim(1);
        if (refSum == null) {
            classes = nc;
            refSum = new double[images * nc];
            refSeen = new boolean[images * refs.count()];
        }
        float[] v = null;
        for (int k = 0; k < p; k++)
            for (int i = 0; i < cnt; i++) {
                int seen = (first + i) * refs.count() + pair0 + k;
                if (refSeen[seen]) continue;
                if (v == null) v = l.toArray();
                refSeen[seen] = true;
                int row = (p + k) * cnt + i;
                for (int c = 0; c < classes; c++) refSum[(first + i) * classes + c] += v[row * nc + c];
            }
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

            /**
             * With references shared by the images, the chunk's P·cnt reference rows are P distinct
             * rows: the forward runs on the inputs and those alone ({@link Tape#recordShared}).
             */
            @Override
            public Tape record(dev.salient.model.Model model, Backend bb, Tensor points, Set<String> wrt, int s0, int count) {
                if (!shareRows || !refs.shared() || cnt < 2) return null;
                int p = count / 2, inputs = p * cnt;
                long[] sh = points.shape();
                sh[0] = inputs + p;
                try (Tensor compact = bb.allocate(sh)) {
                    bb.copyRange(points, 0, compact, 0, inputs * row);
                    for (int k = 0; k < p; k++) bb.copyRange(points, (long) (inputs + k * cnt) * row, compact, (inputs + k) * row, row);
                    return Tape.recordShared(model, bb, compact, cnt, wrt);
                }
            }

            @Override
            public Tensor accumulate(Backend bb, Tape tape, List<Map<String, Tensor>> grads, int s0, int count, Tensor acc) {
                int p = count / 2;
                addReferenceLogits(tape, s0 / 2, p, firstImage, cnt);
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
