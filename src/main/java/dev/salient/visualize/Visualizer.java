package dev.salient.visualize;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.explain.core.BackwardRules;
import dev.salient.explain.core.Tape;
import dev.salient.model.Model;
import dev.salient.model.OpProfile;
import dev.salient.model.Plan;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Feature visualisation by regularised activation maximisation, with Lucid/Lucent's semantics
 * (render_vis: Adam at lr 0.05, Fourier parametrisation with decorrelated colours, the
 * standard transforms), many objectives optimised together as one batch, one image per
 * objective, in chunks that fit the memory budget. Randomness is seeded per objective
 * (initial spectrum and transform choices are functions of the seed, the objective's index and
 * the step), so an image is the same whatever the batch it was optimised in.
 *
 * <pre>{@code
 * var objectives = Visualizer.channels(0, 16);
 * Visualizer.Result r = new Visualizer(model, cpu, "layer3", mean, std).run(objectives, Visualizer.Options.defaults());
 * }</pre>
 */
public final class Visualizer {
    /**
     * Options: {@code fourier} or pixel parametrisation, colour decorrelation, standard or no
     * transforms, Lucid's redirected ReLU gradient for the first 16 steps, image size, steps, learning rate, seed, objectives per batch (0: as many as
     * the memory budget allows) and that budget in bytes.
     */
    public record Options(boolean fourier, boolean decorrelate, boolean transforms, boolean reluRedirect, int size, int steps,
            float lr, long seed, int batch, long memoryBudget) {
        public static Options defaults() {
            return new Options(true, true, true, true, 128, 512, 0.05f, 0, 0, 1L << 30);
        }

        public Options withSize(int s) {
            return new Options(fourier, decorrelate, transforms, reluRedirect, s, steps, lr, seed, batch, memoryBudget);
        }

        public Options withSteps(int s) {
            return new Options(fourier, decorrelate, transforms, reluRedirect, size, s, lr, seed, batch, memoryBudget);
        }

        public Options withBatch(int n) {
            return new Options(fourier, decorrelate, transforms, reluRedirect, size, steps, lr, seed, n, memoryBudget);
        }

        public Options withSeed(long s) {
            return new Options(fourier, decorrelate, transforms, reluRedirect, size, steps, lr, s, batch, memoryBudget);
        }

        public Options withTransforms(boolean t) {
            return new Options(fourier, decorrelate, t, reluRedirect, size, steps, lr, seed, batch, memoryBudget);
        }
    }

    /**
     * The optimised images (N,C,H,W) in [0,1] as the model saw them before its normalisation, and
     * each objective's value on the untransformed image at the start and at the end.
     */
    public record Result(List<Objective> objectives, long[] shape, float[] images, double[] start, double[] end, int batch,
            double seconds) {}

    /** Lucent's default parameter scale: the spectrum's (and pixels') initial standard deviation. */
    static final float SD = 0.01f;

    private final Model model;
    private final Backend b;
    private final String layer, inName;
    private final float[] mean, std;
    private final long channels, fixedH, fixedW;

    /**
     * @param layer a resolved graph tensor (see {@code Layers.resolve}); ignored for class objectives
     * @param mean, std the model's normalisation, one value per input channel
     */
    public Visualizer(Model model, Backend b, String layer, float[] mean, float[] std) {
        if (model.inputs().size() != 1)
            throw new SalientException("visualize needs a model with one input; this one has " + model.inputs().size());
        this.model = model;
        this.b = b;
        this.layer = layer;
        this.inName = model.inputs().get(0).name();
        long[] in = model.inputs().get(0).shape();
        if (in == null || in.length != 4 || in[1] <= 0)
            throw new SalientException("visualize needs an image model with input (N,C,H,W) and a fixed C, got "
                    + (in == null ? "unknown" : Arrays.toString(in)));
        this.channels = in[1];
        this.fixedH = in[2];
        this.fixedW = in[3];
        if (mean.length != channels || std.length != channels)
            throw new SalientException("need " + channels + " mean and std values, got " + mean.length + " and " + std.length);
        this.mean = mean.clone();
        this.std = std.clone();
    }

    /** channel objectives for {@code first..first+count-1}. */
    public static List<Objective> channels(int first, int count) {
        List<Objective> out = new ArrayList<>();
        for (int i = 0; i < count; i++) out.add(new Objective(Objective.Kind.CHANNEL, first + i));
        return out;
    }

    /** The tensor an objective reads: the layer, or the logits for class objectives. */
    String target(Objective.Kind kind) {
        return kind == Objective.Kind.CLASS ? model.outputs().get(0).name() : layer;
    }

    /** The input shape the model sees for an image of size s (the transforms' output). */
    long[] modelInput(Options o, long n) {
        return transforms(o).outShape(n);
    }

    Transforms transforms(Options o) {
        return new Transforms(o.transforms(), channels, o.size(), o.size(), fixedH, fixedW);
    }

    Transforms clean(Options o) {
        return new Transforms(false, channels, o.size(), o.size(), fixedH, fixedW);
    }

    /** Checks the objectives and options against the model; one line on what is wrong. */
    public void check(List<Objective> objectives, Options o) {
        if (objectives.isEmpty()) throw new SalientException("no objectives to visualize");
        if (o.steps() < 1) throw new SalientException("--steps must be at least 1, got " + o.steps());
        if (!(o.lr() > 0) || !Float.isFinite(o.lr())) throw new SalientException("--lr must be positive, got " + o.lr());
        if (o.size() < 1 || o.size() > 512) throw new SalientException("--size must be between 1 and 512, got " + o.size());
        if (o.batch() < 0) throw new SalientException("--batch must be positive, got " + o.batch());
        int min = minimumSize(o);
        if (o.size() < min)
            throw new SalientException("--size " + o.size() + " is below the model's minimum input size " + min
                    + (o.transforms() ? " (with the standard transforms)" : ""));
        Objective.Kind kind = objectives.get(0).kind();
        for (Objective ob : objectives)
            if (ob.kind() != kind) throw new SalientException("one objective kind per run, got " + kind + " and " + ob.kind());
        long[] shape = shapeOf(target(kind), modelInput(o, 1));
        if ((kind == Objective.Kind.CHANNEL || kind == Objective.Kind.NEURON) && shape.length != 4)
            throw new SalientException(kind.label() + " objectives need a 4-D (N,C,H,W) layer, but '" + layer + "' has shape "
                    + Shapes.str(shape));
        for (Objective ob : objectives) {
            if (kind == Objective.Kind.CLASS) {
                if (shape.length != 2)
                    throw new SalientException("class objectives need logits of shape (N, classes), got " + Shapes.str(shape));
                if (ob.index() < 0 || ob.index() >= shape[1])
                    throw new SalientException("class " + ob.index() + " is out of range: the model has " + shape[1] + " classes");
            } else if (kind != Objective.Kind.LAYER && (ob.index() < 0 || ob.index() >= shape[1])) {
                throw new SalientException("channel " + ob.index() + " is out of range: layer '" + layer + "' has " + shape[1]
                        + " channels (0-" + (shape[1] - 1) + ")");
            }
        }
    }

    /** The channel count of the layer, for channel and neuron objectives (which need it 4-D). */
    public long channelCount(Objective.Kind kind, Options o) {
        long[] shape = shapeOf(layer, modelInput(o.withSize(Math.max(o.size(), minimumSize(o))), 1));
        if (shape.length != 4)
            throw new SalientException(kind.label() + " objectives need a 4-D (N,C,H,W) layer, but '" + layer + "' has shape "
                    + Shapes.str(shape));
        return shape[1];
    }

    /** The shape of a tensor for one input row. */
    long[] shapeOf(String tensor, long[] inputShape) {
        Plan p = model.plan(Map.of(inName, inputShape), Set.of(tensor));
        long[] s = p.shape(tensor);
        if (s == null) throw new SalientException("unknown tensor '" + tensor + "'");
        return s;
    }

    /** The smallest image size the model accepts, clean and through the transforms. */
    int minimumSize(Options o) {
        if (fixedH > 0 && fixedW > 0) return 1; // every size is resized to the model's
        int lo = 1, hi = 512;
        if (!accepts(o.withSize(hi))) return hi + 1;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (accepts(o.withSize(mid))) hi = mid;
            else lo = mid + 1;
        }
        return lo;
    }

    private boolean accepts(Options o) {
        try {
            for (long[] s : new long[][] {modelInput(o, 1), clean(o).outShape(1)}) {
                Plan p = model.plan(Map.of(inName, s), Set.of(model.outputs().get(0).name()));
                for (Plan.Step st : p.steps())
                    for (long[] os : st.outputShapes())
                        if (os != null) for (long d : os) if (d <= 0) return false;
            }
            return true;
        } catch (SalientException e) {
            return false;
        }
    }

    /** Objectives per batch: the option, else as many as the memory budget allows. */
    int batchSize(List<Objective> objectives, Options o) {
        long[] row = modelInput(o, 1);
        long perRow = Tape.floatsPerRow(model, row, Set.of(inName)) * 4;
        long s = o.size(), k = s / 2 + 1;
        perRow += 4 * channels * (s * 2 * k * 5 + s * s * 8 + Shapes.numel(transforms(o).midShape(1)) * 2);
        long fit = Math.max(1, o.memoryBudget() / Math.max(1, perRow));
        long want = o.batch() > 0 ? o.batch() : objectives.size();
        return (int) Math.max(1, Math.min(Math.min(want, fit), objectives.size()));
    }

    /** Optimises one image per objective. */
    public Result run(List<Objective> objectives, Options o) {
        check(objectives, o);
        long t0 = System.nanoTime();
        int bs = batchSize(objectives, o);
        int n = objectives.size();
        long px = channels * (long) o.size() * o.size();
        float[] images = new float[Math.toIntExact(n * px)];
        double[] start = new double[n], end = new double[n];
        for (int g0 = 0; g0 < n; g0 += bs) {
            int g1 = Math.min(n, g0 + bs);
            float[] img = batch(objectives.subList(g0, g1), g0, o, start, end);
            System.arraycopy(img, 0, images, (int) (g0 * px), img.length);
        }
        return new Result(List.copyOf(objectives), new long[] {n, channels, o.size(), o.size()}, images, start, end, bs,
                (System.nanoTime() - t0) / 1e9);
    }

    /** One batch: objectives[g0 .. g0+len), values written into start and end at their global index. */
    private float[] batch(List<Objective> obs, int g0, Options o, double[] start, double[] end) {
        int n = obs.size();
        long s = o.size();
        long[] index = new long[n];
        for (int i = 0; i < n; i++) index[i] = g0 + i;
        Transforms tr = transforms(o), cl = clean(o);
        Objective.Kind kind = obs.get(0).kind();
        String target = target(kind);
        List<Tensor> owned = new ArrayList<>();
        try (ImageParam param = o.fourier() ? new FourierImage(b, n, channels, s, s) : new PixelImage(b, n, channels, s, s);
                ValidRgb rgb = new ValidRgb(b, channels, o.decorrelate());
                Adam adam = new Adam(b, param.values(), o.lr())) {
            param.init(o.seed(), index, SD);
            Tensor x = keep(owned, b.allocate(n, channels, s, s)), pre = keep(owned, b.allocate(n, channels, s, s));
            Tensor img = keep(owned, b.allocate(n, channels, s, s));
            Tensor mid = keep(owned, b.allocate(tr.midShape(n))), out = keep(owned, b.allocate(tr.outShape(n)));
            Tensor dImg = keep(owned, b.allocate(n, channels, s, s)), dX = keep(owned, b.allocate(n, channels, s, s));
            Tensor dP = keep(owned, b.allocate(param.values().shape()));
            Tensor scale = keep(owned, b.upload(invStd(), channels)), shift = keep(owned, b.upload(shift(), channels));
            long[] aShape = shapeOf(target, tr.outShape(n));
            Tensor seed = keep(owned, b.zeros(aShape));
            if (kind != Objective.Kind.LAYER) {
                float[] h = new float[Math.toIntExact(Shapes.numel(aShape))];
                for (int i = 0; i < n; i++) obs.get(i).seedRow(h, i, aShape, -1f); // Lucent minimises −objective
                Tensor up = keep(owned, b.upload(h, aShape));
                b.copy(up, seed);
            }
            values(param, rgb, cl, obs, o, x, pre, img, scale, shift, g0, start);
            // channel and neuron objectives read one channel per image: the layer's own step computes those alone
            int[] own = null;
            if (kind == Objective.Kind.CHANNEL || kind == Objective.Kind.NEURON) {
                own = new int[n];
                for (int i = 0; i < n; i++) own[i] = obs.get(i).index();
            }
            BackwardRules redirect = RedirectedRelu.rules();
            for (int step = 1; step <= o.steps(); step++) {
                long t0 = OpProfile.start(b);
                param.forward(x);
                rgb.forward(x, pre, img);
                OpProfile.stop(b, "phase image", t0);
                t0 = OpProfile.start(b);
                Transforms.Step st = tr.step(o.seed(), index, step);
                tr.forward(b, img, st, mid, out);
                b.channelAffine(out, scale, shift, out);
                OpProfile.stop(b, "phase transforms", t0);
                t0 = OpProfile.start(b);
                // the tape keeps what this step's rules read: with the standard ones no Conv output
                // is kept, so each Conv runs with its Relu (and residual Add) fused
                BackwardRules rules = o.reluRedirect() && step <= RedirectedRelu.STEPS ? redirect : BackwardRules.standard();
                try (Tape tape = Tape.record(model, b, out, Set.of(inName), target, List.of(rules), own)) {
                    OpProfile.stop(b, "phase tape forward", t0);
                    t0 = OpProfile.start(b);
                    if (kind == Objective.Kind.LAYER) {
                        Tensor a = tape.output();
                        b.axpby(-2f / (a.numel() / n), a, 0f, seed);
                    }
                    Map<String, Tensor> gr = tape.backward(seed, rules, Set.of(inName));
                    OpProfile.stop(b, "phase backward", t0);
                    t0 = OpProfile.start(b);
                    try (Tensor dOut = gr.get(inName)) {
                        b.channelAffine(dOut, scale, null, dOut);
                        tr.backward(b, dOut, st, mid, dImg);
                    }
                    OpProfile.stop(b, "phase transforms backward", t0);
                }
                t0 = OpProfile.start(b);
                rgb.backward(pre, dImg, dX);
                param.backward(dX, dP);
                adam.step(param.values(), dP);
                OpProfile.stop(b, "phase image backward and step", t0);
            }
            values(param, rgb, cl, obs, o, x, pre, img, scale, shift, g0, end);
            return img.toArray();
        } finally {
            for (Tensor t : owned) t.close();
        }
    }

    /** Renders the current images into img (in [0,1]) and writes each objective's value on them, untransformed. */
    private void values(ImageParam param, ValidRgb rgb, Transforms cl, List<Objective> obs, Options o, Tensor x, Tensor pre,
            Tensor img, Tensor scale, Tensor shift, int g0, double[] into) {
        int n = obs.size();
        param.forward(x);
        rgb.forward(x, pre, img);
        String target = target(obs.get(0).kind());
        try (Tensor in = b.allocate(cl.outShape(n))) {
            cl.forward(b, img, cl.step(o.seed(), new long[n], 0), null, in);
            b.channelAffine(in, scale, shift, in);
            Map<String, Tensor> got = model.run(b, Map.of(inName, in), Set.of(target));
            try (Tensor a = got.get(target)) {
                float[] h = a.toArray();
                long[] sh = a.shape();
                for (int i = 0; i < n; i++) into[g0 + i] = obs.get(i).value(h, i, sh);
            }
        }
    }

    private float[] invStd() {
        float[] r = new float[std.length];
        for (int i = 0; i < r.length; i++) r[i] = 1f / std[i];
        return r;
    }

    private float[] shift() {
        float[] r = new float[std.length];
        for (int i = 0; i < r.length; i++) r[i] = -mean[i] / std[i];
        return r;
    }

    private static Tensor keep(List<Tensor> owned, Tensor t) {
        owned.add(t);
        return t;
    }
}
