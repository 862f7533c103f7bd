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
    /** {@code --window H[xW]}. */
    public static final MethodOption<int[]> WINDOW = MethodOption.of("--window", "H[xW]", new int[] {15, 15}, s -> {
        String[] p = s.split("x", -1);
        if (p.length > 2) throw new SalientException("--window needs H or HxW, got '" + s + "'");
        try {
            int wh = Integer.parseInt(p[0].trim()), ww = p.length == 2 ? Integer.parseInt(p[1].trim()) : wh;
            if (wh < 1 || ww < 1) throw new SalientException("--window must be at least 1x1, got '" + s + "'");
            return new int[] {wh, ww};
        } catch (NumberFormatException e) {
            throw new SalientException("--window needs H or HxW, got '" + s + "'");
        }
    }, "Occluding window, pixels: H or HxW, over all channels (default: 15).").reportedAs(w -> w[0] + "x" + w[1]);

    /** {@code --stride S}. */
    public static final MethodOption<Integer> STRIDE = MethodOption.intAtLeast("--stride", "S", 8, 1,
            "Step between windows, pixels, on both axes (default: 8).");

    public static final MethodSpec SPEC = new MethodSpec("occlusion", MethodSpec.Family.PERTURBATION,
            dev.salient.explain.Attribution.Layout.INPUT,
            "Captum Occlusion: mean over covering windows of `f(x) - f(x with window := baseline)`",
            List.of(WINDOW, STRIDE, IntegratedGradients.BASELINE), Occlusion::new, MethodSpec.NO_AXIOM);

    private final int wh, ww, stride;

    public Occlusion(Model model, int windowH, int windowW, int stride, Baseline baseline) {
        super(model, baseline);
        if (windowH < 1 || windowW < 1) throw new SalientException("--window must be at least 1x1");
        if (stride < 1) throw new SalientException("--stride must be at least 1, got " + stride);
        this.wh = windowH;
        this.ww = windowW;
        this.stride = stride;
    }

    public Occlusion(Model model, MethodOptions o) {
        this(model, o.get(WINDOW)[0], o.get(WINDOW)[1], o.get(STRIDE), Baseline.parse(o.get(IntegratedGradients.BASELINE), 0L));
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
        if (shape.length != 4) return new Features() {
            public int count() { return 0; }
            public boolean shared() { return true; }
            public int[] pixels(int image, int f) { return new int[0]; }
        };
        int h = (int) shape[2], w = (int) shape[3];
        if (wh > h || ww > w)
            throw new SalientException("--window " + wh + "x" + ww + " is larger than the image (" + h + "x" + w + ")");
        if ((stride > wh && wh < h) || (stride > ww && ww < w))
            throw new SalientException("--stride " + stride + " is larger than the window " + wh + "x" + ww
                    + ": some pixels would be in no window");
        int ny = positions(h, wh, stride), nx = positions(w, ww, stride);
        return new Features() {
            @Override
            public int count() {
                return ny * nx;
            }

            @Override
            public boolean shared() {
                return true;
            }

            @Override
            public int[] pixels(int image, int f) {
                int y0 = (f / nx) * stride, x0 = (f % nx) * stride;
                int y1 = Math.min(h, y0 + wh), x1 = Math.min(w, x0 + ww);
                int[] p = new int[(y1 - y0) * (x1 - x0)];
                int k = 0;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) p[k++] = y * w + x;
                return p;
            }
        };
    }
}
