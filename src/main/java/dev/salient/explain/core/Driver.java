package dev.salient.explain.core;

import dev.salient.engine.Backend;
import dev.salient.engine.OutOfDeviceMemoryException;
import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Target;
import dev.salient.model.Model;
import dev.salient.model.OpProfile;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The one evaluation loop of every method that expands images into forward and
 * backward evaluations (as Captum's internal batching). It splits the
 * (images × evaluations) rows into chunks that fit the memory budget, records one
 * tape per chunk, runs the method's backward passes for each target class,
 * hands the gradients to the method's {@link Expansion.Chunk} and writes the
 * output rows (image-major: row {@code image·k + j} for the j-th target). When
 * the device runs out of memory it retries with a quarter of the budget, down to
 * one row per chunk; the budget it shrinks is this call's own copy, so one
 * explainer may serve many threads.
 */
public final class Driver {
    private Driver() {}

    /** Output rows on the backend, with what each row explains. The caller owns {@code values}. */
    public record Rows(Tensor values, int[] images, int[] targets, float[] scores) {}

    /** Runs the expansion for {@code target} and downloads the result. */
    public static Attribution explain(String method, Model model, Backend b, Tensor batch, Target target, Expansion e,
            Attribution.Layout layout, long budget) {
        Rows r = rows(method, model, b, batch, target, null, e, budget);
        try (Tensor v = r.values()) {
            long t0 = OpProfile.start(b);
            Attribution a = e.complete(b, new Attribution(v.toArray(), v.shape(), layout, r.images(), r.targets(), r.scores(), null));
            OpProfile.stop(b, "phase complete", t0);
            return a;
        }
    }

    /**
     * The output rows on the backend. {@code classes} (per image, k classes) overrides
     * {@code target} when not null; scores are then NaN for expanded methods whose images do not
     * lead their evaluations ({@link Expansion#imagesLead()}).
     */
    public static Rows rows(String method, Model model, Backend b, Tensor batch, Target target, int[][] classes,
            Expansion e, long budget) {
        if (batch.rank() != 4 && batch.rank() != 5)
            throw new SalientException("attribution expects an (N,C,H,W) or (N,C,D,H,W) batch, got shape "
                    + Shapes.str(batch.shape()));
        long bud = budget;
        while (true) {
            try {
                return chunks(model, b, batch, target, classes, e, bud);
            } catch (OutOfDeviceMemoryException oom) {
                if (bud <= 1)
                    throw new SalientException(method + ": one image does not fit in device memory (" + oom.getMessage() + ")");
                bud = Math.max(1, bud / 4);
            }
        }
    }

    private static Rows chunks(Model model, Backend b, Tensor batch, Target target, int[][] given, Expansion e,
            long budget) {
        int n = (int) batch.dim(0);
        int k = given != null ? given[0].length : target.mapsPerImage();
        int steps = e.perImage();
        Set<String> wrt = e.wrt();
        String from = e.from();
        if (from != null && (steps < 2 || !wrt.isEmpty()))
            throw new IllegalStateException("an expansion from a layer is gradient-free and has several evaluations");
        long[] rowShape = e.rowShape(batch.shape());
        long rowLen = Shapes.numel(rowShape);
        // the tape keeps what the passes' rules read, and the chunks are sized on that
        List<BackwardRules> rules = new ArrayList<>();
        for (Expansion.Pass p : e.passes()) rules.add(p.rules());
        int chunk = from == null ? rowsPerChunk(model, batch.shape(), wrt, rules, budget)
                : suffixRowsPerChunk(model, batch.shape(), from, budget);
        long[] fromShape = from == null ? null : model.plan(Map.of(model.inputs().get(0).name(), withRows(batch.shape(), 1)),
                Set.of(model.outputs().get(0).name())).shape(from);
        int[][] t = given != null ? given.clone() : new int[n][];
        float[] scores = new float[n * k];
        if (given != null || (steps > 1 && !e.imagesLead())) Arrays.fill(scores, Float.NaN);
        if (given == null && steps > 1 && !e.imagesLead()) {
            // the classes and scores come from the images themselves, before the expansion
            long t0 = OpProfile.start(b);
            float[] logits = forwardChunked(model, b, batch, from == null ? chunk : rowsPerChunk(model, batch.shape(), wrt, budget));
            OpProfile.stop(b, "phase targets forward", t0);
            int nc = logits.length / n;
            int[][] r = target.resolve(logits, n, nc);
            for (int i = 0; i < n; i++) {
                t[i] = r[i];
                for (int j = 0; j < k; j++) scores[i * k + j] = logits[i * nc + r[i][j]];
            }
        }
        long[] outShape = new long[rowShape.length + 1];
        outShape[0] = (long) n * k;
        System.arraycopy(rowShape, 0, outShape, 1, rowShape.length);
        Tensor out = b.allocate(outShape);
        boolean ok = false;
        try {
            int g = e.group();
            if (g < 1 || steps % g != 0) throw new IllegalStateException("evaluations per image " + steps + " are not groups of " + g);
            // as many chunks as the budget needs, of even sizes (8 images at 6 per chunk run as
            // 4 + 4, not 6 + 2: a small last chunk runs the convs at a poor batch)
            int nb = even(n, Math.min(n, Math.max(1, chunk / g)), 1);
            int sb = steps == 1 ? 1 : even(steps, Math.max(g, Math.min(steps, chunk / nb) / g * g), g);
            long total = (long) n * steps, done = 0;
            for (int i0 = 0; i0 < n; i0 += nb) {
                int cnt = Math.min(nb, n - i0);
                try (Tensor xi = rows(b, batch, i0, cnt); Expansion.Chunk c = e.begin(b, xi, i0)) {
                    Tensor[] acc = new Tensor[k];
                    try {
                        for (int s0 = 0; s0 < steps; s0 += sb) {
                            int scnt = Math.min(sb, steps - s0);
                            Tensor pts = steps == 1 ? xi
                                    : b.allocate(withRows(from == null ? xi.shape() : fromShape, (long) scnt * cnt));
                            try {
                                long t0 = OpProfile.start(b);
                                if (steps > 1) c.expand(b, s0, scnt, pts);
                                OpProfile.stop(b, "phase expand", t0);
                                t0 = OpProfile.start(b);
                                Tape own = from == null ? c.record(model, b, pts, wrt, s0, scnt) : null;
                                try (Tape tape = own != null ? own : from == null ? record(model, b, pts, wrt, rules)
                                        : suffix(model, b, c, from, pts, withRows(xi.shape(), (long) scnt * cnt), cnt, e.fromIsWhole())) {
                                    OpProfile.stop(b, "phase tape forward", t0);
                                    // the tape's first rows are the images when steps == 1 or the images lead
                                    if (t[i0] == null) resolveFromTape(tape, target, t, scores, i0, cnt, k);
                                    else if (given != null && s0 == 0 && (steps == 1 || e.imagesLead()))
                                        scoresFromTape(tape, t, scores, i0, cnt, k);
                                    for (int j = 0; j < k; j++) {
                                        int[] cls = new int[scnt * cnt];
                                        for (int s = 0; s < scnt; s++)
                                            for (int i = 0; i < cnt; i++) cls[s * cnt + i] = t[i0 + i][j];
                                        acc[j] = backwardAndAccumulate(b, tape, e, c, cls, s0, scnt, acc[j]);
                                    }
                                }
                            } finally {
                                if (pts != xi) pts.close();
                            }
                            done += (long) scnt * cnt;
                            Cost.step(done, total);
                        }
                        for (int j = 0; j < k; j++) {
                            long t0 = OpProfile.start(b);
                            Tensor o = c.finish(b, acc[j]);
                            try {
                                for (int i = 0; i < cnt; i++)
                                    b.copyRange(o, i * rowLen, out, ((long) (i0 + i) * k + j) * rowLen, rowLen);
                            } finally {
                                if (o != acc[j]) o.close();
                            }
                            OpProfile.stop(b, "phase finish", t0);
                        }
                    } finally {
                        for (Tensor a : acc) if (a != null) a.close();
                    }
                }
            }
            int[] images = new int[n * k], targets = new int[n * k];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < k; j++) {
                    images[i * k + j] = i;
                    targets[i * k + j] = t[i][j];
                }
            ok = true;
            return new Rows(out, images, targets, scores);
        } finally {
            if (!ok) out.close();
        }
    }

    /** A tape of a whole forward pass, counted. */
    private static Tape record(Model model, Backend b, Tensor pts, Set<String> wrt, List<BackwardRules> rules) {
        Tape t = Tape.record(model, b, pts, wrt, rules);
        Cost.forwards(pts.dim(0));
        return t;
    }

    /**
     * A tape of the graph after {@code from}, on points (scnt·images rows) at that tensor; the
     * suffix's other inputs are the chunk's per-image values, repeated for every evaluation. Counted
     * as whole forward passes when the points are whole inputs' values ({@link Expansion#fromIsWhole}).
     */
    private static Tape suffix(Model model, Backend b, Expansion.Chunk c, String from, Tensor pts, long[] inputShape,
            int images, boolean whole) {
        long rows = pts.dim(0);
        List<String> frontier = model.suffixInputs(inputShape, from, Set.of(model.outputs().get(0).name()));
        Map<String, Tensor> given = new java.util.LinkedHashMap<>();
        given.put(frontier.get(0), pts);
        List<Tensor> repeated = new ArrayList<>();
        try {
            for (String f : frontier.subList(1, frontier.size())) {
                Tensor v = c.prefix(f);
                long per = v.numel();
                Tensor r = b.allocate(withRows(v.shape(), rows));
                repeated.add(r);
                for (long s = 0; s < rows / images; s++) b.copyRange(v, 0, r, s * per, per);
                given.put(f, r);
            }
            Tape t = Tape.recordSuffix(model, b, inputShape, from, given);
            if (whole) Cost.forwards(rows);
            else Cost.suffixForwards(rows);
            return t;
        } finally {
            for (Tensor r : repeated) r.close();
        }
    }

    /**
     * Rows of a suffix forward from {@code from} that fit the budget: per row the suffix plan's
     * activations and its inputs, with 50% headroom.
     */
    static int suffixRowsPerChunk(Model model, long[] batchShape, String from, long budget) {
        long[] one = withRows(batchShape, 1);
        dev.salient.model.Plan p = model.suffixPlan(one, from, Set.of(model.outputs().get(0).name()));
        long floats = p.activationBytes() / 4;
        for (String f : p.frontier()) floats += 2 * Shapes.numel(p.shape(f));
        long perRow = floats * 4 * 3 / 2;
        return (int) Math.min(Math.max(1, budget / Math.max(1, perRow)), 4096);
    }

    /**
     * Runs the graph from the input up to {@code fetch} (layer activations a method keeps, as
     * Score-CAM's unmasked A), counted as a prefix forward of its rows. The caller owns the result.
     */
    public static Map<String, Tensor> prefix(Model model, Backend b, Tensor x, Set<String> fetch) {
        Map<String, Tensor> r = model.run(b, Map.of(model.inputs().get(0).name(), x), fetch);
        Cost.prefixForwards(x.dim(0));
        return r;
    }

    /**
     * {@link #prefix} of one tensor for a whole batch (images, ...), run in chunks of images that
     * fit the budget (a quarter of the chunk again when the device runs out of memory). The
     * caller owns the result.
     */
    public static Tensor prefixRows(Model model, Backend b, Tensor batch, String tensor, long budget) {
        int n = (int) batch.dim(0);
        int chunk = rowsPerChunk(model, batch.shape(), Set.of(), budget);
        while (true) {
            Tensor out = null;
            try {
                int each = even(n, chunk, 1);
                for (int i0 = 0; i0 < n; i0 += each) {
                    int cnt = Math.min(each, n - i0);
                    if (cnt == n) return prefix(model, b, batch, Set.of(tensor)).get(tensor);
                    try (Tensor xi = rows(b, batch, i0, cnt); Tensor a = prefix(model, b, xi, Set.of(tensor)).get(tensor)) {
                        if (out == null) out = b.allocate(withRows(a.shape(), n));
                        b.copyRange(a, 0, out, (long) i0 * (a.numel() / cnt), a.numel());
                    }
                }
                return out;
            } catch (OutOfDeviceMemoryException oom) {
                if (out != null) out.close();
                if (chunk <= 1) throw new SalientException("one image does not fit in device memory (" + oom.getMessage() + ")");
                chunk = Math.max(1, chunk / 4);
            } catch (RuntimeException e) {
                if (out != null) out.close();
                throw e;
            }
        }
    }

    private static Tensor backwardAndAccumulate(Backend b, Tape tape, Expansion e, Expansion.Chunk c, int[] cls, int s0,
            int scnt, Tensor acc) {
        List<Map<String, Tensor>> grads = new ArrayList<>();
        try {
            long t0 = OpProfile.start(b);
            for (Expansion.Pass p : e.passes()) grads.add(tape.backward(cls, p.rules(), p.to()));
            OpProfile.stop(b, "phase backward", t0);
            t0 = OpProfile.start(b);
            Tensor r = c.accumulate(b, tape, grads, cls, s0, scnt, acc);
            OpProfile.stop(b, "phase accumulate", t0);
            return r;
        } finally {
            for (Map<String, Tensor> g : grads) for (Tensor x : g.values()) x.close();
        }
    }

    /**
     * The classes and scores of images [i0, i0+cnt) from the first cnt rows of the tape's logits
     * (the tape may hold more rows: a chunk's references). Resolved as rows i0.. of the whole
     * batch, so that a per-image target picks each image's own class.
     */
    private static void resolveFromTape(Tape tape, Target target, int[][] t, float[] scores, int i0, int cnt, int k) {
        Tensor l = tape.logits();
        if (l.rank() != 2) throw new SalientException("expected logits of shape (N, classes), got " + Shapes.str(l.shape()));
        float[] logits = l.toArray();
        int nc = (int) l.dim(1), n = t.length;
        float[] all = new float[n * nc];
        System.arraycopy(logits, 0, all, i0 * nc, cnt * nc);
        int[][] r = target.resolve(all, n, nc);
        for (int i = 0; i < cnt; i++) {
            t[i0 + i] = r[i0 + i];
            for (int j = 0; j < k; j++) scores[(i0 + i) * k + j] = logits[i * nc + r[i0 + i][j]];
        }
    }

    private static void scoresFromTape(Tape tape, int[][] t, float[] scores, int i0, int cnt, int k) {
        float[] logits = tape.logits().toArray();
        int nc = (int) tape.logits().dim(1);
        for (int i = 0; i < cnt; i++)
            for (int j = 0; j < k; j++) {
                int c = t[i0 + i][j];
                if (c < 0 || c >= nc) throw new SalientException("target class " + c + " is out of range: the model has " + nc + " classes");
                scores[(i0 + i) * k + j] = logits[i * nc + c];
            }
    }

    /** The model's logits for the batch, computed in chunks of {@code chunk} images. */
    public static float[] forwardChunked(Model model, Backend b, Tensor batch, int chunk) {
        int n = (int) batch.dim(0);
        Cost.forwards(n);
        chunk = even(n, Math.max(1, chunk), 1);
        if (chunk >= n) {
            try (Tensor l = model.forward(b, batch)) {
                return l.toArray();
            }
        }
        float[] all = null;
        for (int i0 = 0; i0 < n; i0 += chunk) {
            int cnt = Math.min(chunk, n - i0);
            try (Tensor x = rows(b, batch, i0, cnt); Tensor l = model.forward(b, x)) {
                float[] part = l.toArray();
                if (all == null) all = new float[part.length / cnt * n];
                System.arraycopy(part, 0, all, i0 * (part.length / cnt), part.length);
            }
        }
        return all;
    }

    /**
     * How many rows (forward + backward evaluations of one image) fit the budget:
     * per row, the executor's buffers plus the activations a tape keeps between
     * {@code wrt} and the output and the most gradients its walk holds at once
     * (replayed on the plan's shapes at batch 1), with 25% headroom.
     */
    public static int rowsPerChunk(Model model, long[] batchShape, Set<String> wrt, long budget) {
        return rowsPerChunk(model, batchShape, wrt, List.of(), budget);
    }

    /** As {@link #rowsPerChunk(Model, long[], Set, long)} for a tape that keeps what {@code rules} read. */
    public static int rowsPerChunk(Model model, long[] batchShape, Set<String> wrt, List<BackwardRules> rules, long budget) {
        long[] one = batchShape.clone();
        one[0] = 1;
        long perRow = Tape.floatsPerRow(model, one, new HashSet<>(wrt), rules) * 4 * 5 / 4;
        long rows = Math.max(1, budget / Math.max(1, perRow));
        return (int) Math.min(rows, 4096);
    }

    /**
     * The size of each of the fewest chunks of at most {@code most} (a multiple of
     * {@code unit}) that cover {@code total}, as even as multiples of unit allow; never
     * more than {@code most}.
     */
    public static int even(int total, int most, int unit) {
        int chunks = (total + most - 1) / most;
        int units = (total + unit - 1) / unit;
        return (units + chunks - 1) / chunks * unit;
    }

    /** Copies rows [from, from+count) of t (first axis) into a new tensor. */
    public static Tensor rows(Backend b, Tensor t, long from, long count) {
        long row = t.numel() / t.dim(0);
        Tensor out = b.allocate(withRows(t.shape(), count));
        try {
            b.copyRange(t, from * row, out, 0, count * row);
            return out;
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
    }

    /** {@code shape} with its first axis set to {@code rows}. */
    public static long[] withRows(long[] shape, long rows) {
        long[] s = Arrays.copyOf(shape, shape.length);
        s[0] = rows;
        return s;
    }
}
