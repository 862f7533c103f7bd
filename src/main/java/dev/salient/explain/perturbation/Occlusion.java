package dev.salient.explain.perturbation;

import dev.salient.engine.SalientException;
import dev.salient.explain.Baseline;
import dev.salient.explain.MethodOption;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.gradient.IntegratedGradients;
import dev.salient.model.Model;
import java.util.List;

/**
 * Occlusion (Zeiler and Fergus 2014) as Captum's Occlusion: a window of
 * {@code --window} pixels over all channels slides with {@code --stride}, the first
 * at 0 and {@code ⌈(dim − window)/stride⌉ + 1} positions per axis (the last one
 * truncated at the border); each window in turn is set to the baseline, and every
 * element receives the mean of {@code f(x) − f(x occluded)} over the windows
 * covering it. Output (rows, C, H, W), raw.
 * <pre>{@code
 * Attribution a = new Occlusion(model, 15, 15, 8, Baseline.zeros()).explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class Occlusion extends Ablation {
    /** {@code --window N, HxW or DxHxW}: one value is a square (image) or a cube (volume). */
    public static final MethodOption<int[]> WINDOW = MethodOption.of("--window", "N|HxW|DxHxW", new int[] {15}, s -> {
        String[] p = s.split("x", -1);
        if (p.length > 3) throw new SalientException("--window needs N, HxW or DxHxW, got '" + s + "'");
        try {
            int[] w = new int[p.length];
            for (int i = 0; i < p.length; i++) {
                w[i] = Integer.parseInt(p[i].trim());
                if (w[i] < 1) throw new SalientException("--window must be at least 1 on every axis, got '" + s + "'");
            }
            return w;
        } catch (NumberFormatException e) {
            throw new SalientException("--window needs N, HxW or DxHxW, got '" + s + "'");
        }
    }, "Occluding window: N (a square, or a cube for volumes), HxW, or DxHxW for volumes, over all channels "
            + "(default: 15).").reportedAs(w -> String.join("x", java.util.Arrays.stream(w).mapToObj(Integer::toString).toList()));

    /** {@code --stride S}. */
    public static final MethodOption<Integer> STRIDE = MethodOption.intAtLeast("--stride", "S", 8, 1,
            "Step between windows, pixels, on both axes (default: 8).");

    public static final MethodSpec SPEC = new MethodSpec("occlusion", MethodSpec.Family.PERTURBATION,
            dev.salient.explain.Attribution.Layout.INPUT,
            "Captum Occlusion: mean over covering windows of `f(x) - f(x with window := baseline)`",
            List.of(WINDOW, STRIDE, IntegratedGradients.BASELINE), Occlusion::new, MethodSpec.NO_AXIOM).withVolumes();

    private final int[] window; // 1 value (square or cube), 2 (HxW) or 3 (DxHxW)
    private final int stride;

    public Occlusion(Model model, int windowH, int windowW, int stride, Baseline baseline) {
        this(model, new int[] {windowH, windowW}, stride, baseline);
    }

    /** @param window N (a square or cube), {H, W} for images or {D, H, W} for volumes */
    public Occlusion(Model model, int[] window, int stride, Baseline baseline) {
        super(model, baseline);
        if (window.length < 1 || window.length > 3) throw new SalientException("--window needs 1 to 3 values");
        for (int v : window) if (v < 1) throw new SalientException("--window must be at least 1 on every axis");
        if (stride < 1) throw new SalientException("--stride must be at least 1, got " + stride);
        this.window = window.clone();
        this.stride = stride;
    }

    public Occlusion(Model model, MethodOptions o) {
        this(model, o.get(WINDOW), o.get(STRIDE), Baseline.parse(o.get(IntegratedGradients.BASELINE), 0L));
    }

    /** The window per spatial axis of an input with {@code axes} spatial axes. */
    private int[] windowFor(int axes) {
        if (window.length == 1) {
            int[] w = new int[axes];
            java.util.Arrays.fill(w, window[0]);
            return w;
        }
        if (window.length != axes)
            throw new SalientException("--window " + WINDOW.report(window) + " has " + window.length + " values, the input has "
                    + axes + " spatial axes (give N or " + (axes == 3 ? "DxHxW" : "HxW") + ")");
        return window.clone();
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    /** Window positions along an axis of {@code dim} pixels. */
    static int positions(int dim, int window, int stride) {
        return (dim - window + stride - 1) / stride + 1;
    }

    @Override
    protected Features features(long[] shape) {
        if (shape.length != 4 && shape.length != 5) return new Features() {
            public int count() { return 0; }
            public boolean shared() { return true; }
            public int[] pixels(int image, int f) { return new int[0]; }
        };
        int axes = shape.length - 2;
        int[] win = windowFor(axes), dim = new int[axes], pos = new int[axes];
        String ws = String.valueOf(WINDOW.report(win)), ds = "";
        for (int a = 0; a < axes; a++) {
            dim[a] = (int) shape[2 + a];
            ds += (a > 0 ? "x" : "") + dim[a];
        }
        for (int a = 0; a < axes; a++)
            if (win[a] > dim[a])
                throw new SalientException("--window " + ws + " is larger than the " + (axes == 3 ? "volume" : "image")
                        + " (" + ds + ")");
        for (int a = 0; a < axes; a++)
            if (stride > win[a] && win[a] < dim[a])
                throw new SalientException("--stride " + stride + " is larger than the window " + ws
                        + ": some pixels would be in no window");
        int total = 1;
        for (int a = 0; a < axes; a++) total *= pos[a] = positions(dim[a], win[a], stride);
        final int count = total;
        return new Features() {
            @Override
            public int count() {
                return count;
            }

            @Override
            public boolean shared() {
                return true;
            }

            /** Window f in row-major order over the positions; its elements as flat indices of the (spatial) plane. */
            @Override
            public int[] pixels(int image, int f) {
                int[] lo = new int[axes], hi = new int[axes];
                int rest = f, n = 1;
                for (int a = axes - 1; a >= 0; a--) {
                    lo[a] = (rest % pos[a]) * stride;
                    rest /= pos[a];
                    hi[a] = Math.min(dim[a], lo[a] + win[a]);
                    n *= hi[a] - lo[a];
                }
                int[] p = new int[n];
                int k = 0;
                if (axes == 2) {
                    for (int y = lo[0]; y < hi[0]; y++)
                        for (int x = lo[1]; x < hi[1]; x++) p[k++] = y * dim[1] + x;
                } else {
                    for (int z = lo[0]; z < hi[0]; z++)
                        for (int y = lo[1]; y < hi[1]; y++)
                            for (int x = lo[2]; x < hi[2]; x++) p[k++] = (z * dim[1] + y) * dim[2] + x;
                }
                return p;
            }
        };
    }
}
