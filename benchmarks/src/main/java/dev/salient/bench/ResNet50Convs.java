package dev.salient.bench;

import dev.salient.engine.Conv2dGeometry;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The distinct convolution shapes of ResNet-50 (torchvision v1.5: stride on the
 * 3x3) at 224x224, by name, so benchmarks and scripts/bench_conv_pytorch.py
 * agree on them. Each entry is (c, h, k, kernel, stride, pad); square images,
 * symmetric pads, no groups, no bias (BatchNorm folded adds one).
 */
public final class ResNet50Convs {
    private ResNet50Convs() {}

    /** name -> {c, h, k, kernel, stride, pad}; keep in sync with scripts/bench_conv_pytorch.py. */
    public static final Map<String, int[]> SHAPES = new LinkedHashMap<>();

    static {
        SHAPES.put("stem_7x7s2", new int[] {3, 224, 64, 7, 2, 3});
        SHAPES.put("l1_reduce_64", new int[] {64, 56, 64, 1, 1, 0});
        SHAPES.put("l1_reduce_256", new int[] {256, 56, 64, 1, 1, 0});
        SHAPES.put("l1_3x3", new int[] {64, 56, 64, 3, 1, 1});
        SHAPES.put("l1_expand", new int[] {64, 56, 256, 1, 1, 0});
        SHAPES.put("l2_reduce_first", new int[] {256, 56, 128, 1, 1, 0});
        SHAPES.put("l2_3x3s2", new int[] {128, 56, 128, 3, 2, 1});
        SHAPES.put("l2_down_s2", new int[] {256, 56, 512, 1, 2, 0});
        SHAPES.put("l2_reduce", new int[] {512, 28, 128, 1, 1, 0});
        SHAPES.put("l2_3x3", new int[] {128, 28, 128, 3, 1, 1});
        SHAPES.put("l2_expand", new int[] {128, 28, 512, 1, 1, 0});
        SHAPES.put("l3_reduce_first", new int[] {512, 28, 256, 1, 1, 0});
        SHAPES.put("l3_3x3s2", new int[] {256, 28, 256, 3, 2, 1});
        SHAPES.put("l3_down_s2", new int[] {512, 28, 1024, 1, 2, 0});
        SHAPES.put("l3_reduce", new int[] {1024, 14, 256, 1, 1, 0});
        SHAPES.put("l3_3x3", new int[] {256, 14, 256, 3, 1, 1});
        SHAPES.put("l3_expand", new int[] {256, 14, 1024, 1, 1, 0});
        SHAPES.put("l4_reduce_first", new int[] {1024, 14, 512, 1, 1, 0});
        SHAPES.put("l4_3x3s2", new int[] {512, 14, 512, 3, 2, 1});
        SHAPES.put("l4_down_s2", new int[] {1024, 14, 2048, 1, 2, 0});
        SHAPES.put("l4_reduce", new int[] {2048, 7, 512, 1, 1, 0});
        SHAPES.put("l4_3x3", new int[] {512, 7, 512, 3, 1, 1});
        SHAPES.put("l4_expand", new int[] {512, 7, 2048, 1, 1, 0});
    }

    /** How many times each shape runs in one ResNet-50 forward pass (scripts/bench-gpu keeps a copy). */
    public static final Map<String, Integer> COUNT = Map.ofEntries(
            Map.entry("stem_7x7s2", 1), Map.entry("l1_reduce_64", 1), Map.entry("l1_reduce_256", 2),
            Map.entry("l1_3x3", 3), Map.entry("l1_expand", 4), Map.entry("l2_reduce_first", 1),
            Map.entry("l2_3x3s2", 1), Map.entry("l2_down_s2", 1), Map.entry("l2_reduce", 3), Map.entry("l2_3x3", 3),
            Map.entry("l2_expand", 4), Map.entry("l3_reduce_first", 1), Map.entry("l3_3x3s2", 1),
            Map.entry("l3_down_s2", 1), Map.entry("l3_reduce", 5), Map.entry("l3_3x3", 5), Map.entry("l3_expand", 6),
            Map.entry("l4_reduce_first", 1), Map.entry("l4_3x3s2", 1), Map.entry("l4_down_s2", 1),
            Map.entry("l4_reduce", 2), Map.entry("l4_3x3", 2), Map.entry("l4_expand", 3));

    public static Conv2dGeometry geometry(String name, int batch) {
        int[] v = SHAPES.get(name);
        if (v == null) throw new IllegalArgumentException("unknown ResNet-50 conv '" + name + "'");
        int c = v[0], h = v[1], k = v[2], r = v[3], s = v[4], p = v[5];
        return new Conv2dGeometry(batch, c, h, h, k, r, r, s, s, p, p, p, p, 1, 1, 1);
    }
}
