package dev.salient.explain.perturbation;

import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Baseline;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.gradient.IntegratedGradients;
import dev.salient.model.Model;
import java.util.ArrayList;
import java.util.List;

/**
 * Feature ablation as Captum's FeatureAblation with a feature mask: each segment
 * of {@code --segments} (all channels) in turn is set to the baseline, and each of
 * its elements receives {@code f(x) − f(x with the segment ablated)} for the
 * target's raw logit. Output (rows, C, H, W), raw.
 * <pre>{@code
 * Attribution a = new FeatureAblation(model, Segments.grid(8), Baseline.zeros()).explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public final class FeatureAblation extends Ablation implements Segmented {
    public static final MethodSpec SPEC = new MethodSpec("featureablation", MethodSpec.Family.PERTURBATION,
            Attribution.Layout.INPUT, "Captum FeatureAblation: `f(x) - f(x with segment := baseline)` over `--segments`",
            List.of(Segments.OPTION, IntegratedGradients.BASELINE), FeatureAblation::new, MethodSpec.NO_AXIOM);

    private final Segments segments;

    public FeatureAblation(Model model, Segments segments, Baseline baseline) {
        super(model, baseline);
        this.segments = segments;
    }

    public FeatureAblation(Model model, MethodOptions o) {
        this(model, Segments.parse(o.get(Segments.OPTION)), Baseline.parse(o.get(IntegratedGradients.BASELINE), 0L));
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    public Segments segments() {
        return segments;
    }

    @Override
    public FeatureAblation withSegments(Segments s, int firstImage) {
        FeatureAblation f = new FeatureAblation(model, s, baseline());
        f.memoryBudget(memoryBudget());
        return f;
    }

    @Override
    protected Features features(Tensor batch) {
        if (batch.rank() != 4) return features(batch.shape());
        return features(segments.resolve(batch));
    }

    @Override
    protected Features features(long[] shape) {
        if (shape.length != 4) return new Features() {
            public int count() { return 0; }
            public boolean shared() { return true; }
            public int[] pixels(int image, int f) { return new int[0]; }
        };
        int n = (int) shape[0], h = (int) shape[2], w = (int) shape[3];
        int m = segments.count(n, h, w);
        int[][] l = new int[segments.shared() ? 1 : n][];
        for (int i = 0; i < l.length; i++) l[i] = segments.labels(i, n, h, w);
        return features(new Segments.Resolved(l, m, h, w));
    }

    private static Features features(Segments.Resolved r) {
        int m = r.count();
        boolean shared = r.shared();
        int[][][] byImage = new int[r.labels().length][][];
        for (int i = 0; i < byImage.length; i++) byImage[i] = pixelsByLabel(r.labels()[i], m);
        return new Features() {
            @Override
            public int count() {
                return m;
            }

            @Override
            public boolean shared() {
                return shared;
            }

            @Override
            public int[] pixels(int image, int f) {
                return byImage[shared ? 0 : image][f];
            }
        };
    }

    static int[][] pixelsByLabel(int[] labels, int m) {
        int[] cnt = new int[m];
        for (int l : labels) cnt[l]++;
        int[][] out = new int[m][];
        for (int f = 0; f < m; f++) out[f] = new int[cnt[f]];
        int[] k = new int[m];
        for (int p = 0; p < labels.length; p++) out[labels[p]][k[labels[p]]++] = p;
        return out;
    }
}
