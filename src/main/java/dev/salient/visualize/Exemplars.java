package dev.salient.visualize;

import dev.salient.engine.Backend;
import dev.salient.engine.Reduction;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.io.Inputs;
import dev.salient.io.NdArray;
import dev.salient.model.Model;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Dataset exemplars: for each channel (or neuron) objective, the dataset images that activate it
 * most, as feature atlases show them beside the synthetic image. One streamed forward pass over
 * the dataset up to the layer; the objective values of a batch are N×C numbers (the channel
 * means come from a row reduction on the engine), so a host-side heap of the top k per objective
 * is all that is kept, with the pixels of the images currently in some top k.
 */
public final class Exemplars {
    /** One exemplar: the dataset row, its source ("file" or "file[i]"), its objective value and its pixels (C,H,W) in [0,1]. */
    public record Item(long row, String source, double value, float[] pixels, long[] shape) {}

    private Exemplars() {}

    /** The top {@code k} rows of {@code inputs} per objective, best first. */
    public static List<List<Item>> top(Model model, Backend b, String layer, List<Objective> objectives, Inputs inputs, int batch,
            int k, float[] mean, float[] std) {
        if (k < 1) throw new SalientException("--top must be at least 1, got " + k);
        String in = model.inputs().get(0).name();
        int m = objectives.size();
        List<PriorityQueue<double[]>> heaps = new ArrayList<>(); // {value, row}, min first
        for (int i = 0; i < m; i++) heaps.add(new PriorityQueue<>((x, y) -> Double.compare(x[0], y[0])));
        Map<Long, Item> kept = new HashMap<>();
        long row0 = 0;
        for (Inputs.Batch part : inputs.batches(batch)) {
            NdArray x = part.input();
            int n = (int) x.dim(0);
            float[] values;
            long[] shape;
            try (Tensor xt = x.upload(b); Tensor a = model.run(b, Map.of(in, xt), Set.of(layer)).get(layer)) {
                shape = a.shape();
                if (shape.length != 4) throw new SalientException("exemplars need a 4-D (N,C,H,W) layer, got " + a);
                if (objectives.get(0).kind() == Objective.Kind.CHANNEL) {
                    try (Tensor means = b.allocate(shape[0] * shape[1])) {
                        b.reduceRows(Reduction.MEAN, Views.view(a, shape[0] * shape[1], shape[2] * shape[3]), means);
                        values = means.toArray();
                    }
                } else {
                    values = a.toArray();
                }
            }
            for (int r = 0; r < n; r++) {
                long row = row0 + r;
                for (int o = 0; o < m; o++) {
                    Objective ob = objectives.get(o);
                    double v = ob.kind() == Objective.Kind.CHANNEL ? values[(int) (r * shape[1] + ob.index())]
                            : ob.value(values, r, shape);
                    PriorityQueue<double[]> h = heaps.get(o);
                    if (h.size() < k || v > h.peek()[0] || (v == h.peek()[0] && row < h.peek()[1])) {
                        h.add(new double[] {v, row});
                        if (h.size() > k) h.poll();
                        if (!kept.containsKey(row)) kept.put(row, item(part, x, r, row, mean, std));
                    }
                }
            }
            // forget pixels no heap refers to any more
            Set<Long> live = new HashSet<>();
            for (PriorityQueue<double[]> h : heaps) for (double[] e : h) live.add((long) e[1]);
            kept.keySet().retainAll(live);
            row0 += n;
        }
        if (row0 == 0) throw new SalientException("--exemplars: no images");
        List<List<Item>> out = new ArrayList<>();
        for (PriorityQueue<double[]> h : heaps) {
            List<double[]> es = new ArrayList<>(h);
            es.sort((x, y) -> x[0] != y[0] ? Double.compare(y[0], x[0]) : Double.compare(x[1], y[1]));
            List<Item> items = new ArrayList<>();
            for (double[] e : es) {
                Item it = kept.get((long) e[1]);
                items.add(new Item(it.row(), it.source(), e[0], it.pixels(), it.shape()));
            }
            out.add(items);
        }
        return out;
    }

    /** The display pixels of row r: the decoded RGB for images, else the input with the normalisation undone. */
    private static Item item(Inputs.Batch part, NdArray x, int r, long row, float[] mean, float[] std) {
        NdArray rgb = part.rgb().get(r);
        long c = x.dim(1), h = x.dim(2), w = x.dim(3);
        float[] px;
        long[] shape;
        if (rgb != null) {
            px = rgb.data().clone();
            shape = rgb.shape();
        } else {
            px = new float[(int) (c * h * w)];
            for (int i = 0; i < px.length; i++) {
                int ch = (int) (i / (h * w));
                px[i] = Math.max(0f, Math.min(1f, x.data()[(int) (r * c * h * w + i)] * std[ch] + mean[ch]));
            }
            shape = new long[] {c, h, w};
        }
        return new Item(row, part.sources().get(r), 0, px, shape);
    }
}
