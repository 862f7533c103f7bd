package dev.salient.metrics;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.core.Driver;
import dev.salient.model.Model;
import java.util.Set;

/**
 * The target scores of many perturbed versions of one input, evaluated in chunks that fit
 * the memory budget: a metric says how to write rows [s0, s0+count) of its perturbations
 * ({@link Rows}), the scorer allocates each chunk, runs the forward pass and keeps the
 * target's softmax probability ({@link Type#PROBABILITY}) or raw logit ({@link Type#LOGIT}).
 */
public final class Scorer {
    /** What a score is: the softmax probability of the target (default) or its raw logit. */
    public enum Type {
        PROBABILITY("probability"), LOGIT("logit");

        public final String id;

        Type(String id) {
            this.id = id;
        }

        public static Type parse(String s) {
            for (Type t : values()) if (t.id.equals(s) || (t == LOGIT && s.equals("logits")) || (t == PROBABILITY
                    && s.equals("probabilities"))) return t;
            throw new SalientException("unknown --scores '" + s + "' (expected probability or logits)");
        }
    }

    /** Writes perturbations [s0, s0+count) into {@code out}, shaped (count, C, H, W). */
    @FunctionalInterface
    public interface Rows {
        void write(Backend b, int s0, int count, Tensor out);
    }

    private final Model model;
    private final Backend backend;
    private final long budget;
    private int chunk = -1;
    private long[] chunkShape;

    public Scorer(Model model, Backend backend, long budget) {
        this.model = model;
        this.backend = backend;
        this.budget = budget;
    }

    public Model model() {
        return model;
    }

    public Backend backend() {
        return backend;
    }

    public long budget() {
        return budget;
    }

    /** Rows per forward chunk for inputs of one row's shape (C,H,W): the driver's forward-only estimate. */
    public int rowsPerChunk(long[] rowShape) {
        long[] s = new long[] {1, rowShape[0], rowShape[1], rowShape[2]};
        if (chunkShape == null || !java.util.Arrays.equals(chunkShape, s)) {
            chunk = Driver.rowsPerChunk(model, s, Set.of(), budget);
            chunkShape = s;
        }
        return chunk;
    }

    /** The scores of class {@code target} for {@code count} rows made by {@code rows}, each of shape (C,H,W). */
    public float[] scores(long[] rowShape, int count, int target, Type type, Rows rows) {
        int per = Driver.even(count, rowsPerChunk(rowShape), 1);
        float[] out = new float[count];
        for (int s0 = 0; s0 < count; s0 += per) {
            int cnt = Math.min(per, count - s0);
            try (Tensor x = backend.allocate(cnt, rowShape[0], rowShape[1], rowShape[2])) {
                rows.write(backend, s0, cnt, x);
                float[] sc = scoresOf(x, type);
                int nc = sc.length / cnt;
                if (target < 0 || target >= nc)
                    throw new SalientException("target class " + target + " is out of range: the model has " + nc + " classes");
                for (int i = 0; i < cnt; i++) out[s0 + i] = sc[i * nc + target];
            }
        }
        return out;
    }

    /** The score rows (N, classes) of a batch already on the backend. */
    public float[] scoresOf(Tensor x, Type type) {
        try (Tensor logits = model.forward(backend, x)) {
            if (type == Type.LOGIT) return logits.toArray();
            long n = logits.dim(0), k = logits.numel() / n;
            try (Tensor p = backend.allocate(n, k)) {
                backend.softmaxForward(logits, p, n, k, 1);
                return p.toArray();
            }
        }
    }

    /** The scores of the rows of one uploaded batch (N,C,H,W) for one target each, in chunks. */
    public float[] scores(Tensor batch, int[] targets, Type type) {
        int n = (int) batch.dim(0);
        long[] rs = {batch.dim(1), batch.dim(2), batch.dim(3)};
        int per = Driver.even(n, rowsPerChunk(rs), 1);
        float[] out = new float[n];
        for (int i0 = 0; i0 < n; i0 += per) {
            int cnt = Math.min(per, n - i0);
            try (Tensor x = Driver.rows(backend, batch, i0, cnt)) {
                float[] sc = scoresOf(x, type);
                int nc = sc.length / cnt;
                for (int i = 0; i < cnt; i++) out[i0 + i] = sc[i * nc + targets[i0 + i]];
            }
        }
        return out;
    }
}
