package dev.salient.explain.relevance;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.core.BackwardRule;
import dev.salient.explain.core.BackwardRules;
import dev.salient.explain.core.HalvesDiverge;
import dev.salient.explain.core.PairedRule;
import dev.salient.model.ops.TensorViews;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * DeepLIFT's Rescale rule (Shrikumar et al. 2017, arXiv:1704.02685) as Captum's DeepLift
 * computes it (captum/attr/_core/deep_lift.py, {@code nonlinear} and {@code maxpool}), as
 * backward rules. The tape holds the inputs in its first half of rows and their references
 * in the second half, row by row paired, as Captum concatenates them; every rule reads
 * Δin = x − x' and Δout = y − y' from the two halves and writes the same multipliers to both.
 * <ul>
 *   <li>every pointwise nonlinearity (Relu, LeakyRelu, PRelu, Clip, Sigmoid, HardSigmoid,
 *       HardSwish): {@code dx = dy·Δout/Δin} where |Δin| ≥ 1e-10, else the op's own gradient;
 *       on the ONNX graph each application is its own node, so a module a PyTorch model
 *       reused or applied functionally gets the rule too;
 *   <li>MaxPool and GlobalMaxPool: with m = max(y, y'), the products dy·(m − y') (input rows)
 *       and dy·(y − m) (reference rows) go back through each row's own pooling, the two halves
 *       are summed and divided by Δin where |Δin| ≥ 1e-10, else the plain gradient. Captum
 *       unpools with {@code max_unpool2d}, which writes once per index; the pooling's own
 *       backward adds, which is the same for windows that do not overlap and keeps the
 *       summation to delta where they do;
 *   <li>every linear op (Conv, Gemm, Add, pooling by averages, reshapes): the gradient.
 * </ul>
 */
final class RescaleRules {
    private RescaleRules() {}

    /** Whether the walks run on the input half where they can (tests compare with whole rows). */
    static volatile boolean halves = true;

    /** Captum's threshold below which |Δin| takes the plain gradient. */
    static final float EPS = 1e-10f;

    static final Set<String> NONLINEAR = Set.of("Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish");
    static final Set<String> MAX_POOLS = Set.of("MaxPool", "GlobalMaxPool");

    /** The rules: Rescale on the nonlinearities, Captum's max-pool rule, the gradient elsewhere. */
    static BackwardRules rules() {
        BackwardRules r = BackwardRules.standard();
        for (String t : NONLINEAR) r = r.with("deeplift-rescale", t, paired(RescaleRules::nonlinear, false));
        for (String t : MAX_POOLS) r = r.with("deeplift-rescale", t, paired(RescaleRules::maxPool, true));
        // both halves of every gradient are equal until a rule's own-gradient fallback tells the
        // rows apart, so the linear ops (the convolutions) need only walk the input half
        return halves ? r.pairedHalves() : r;
    }

    /**
     * {@code rule} for whole rows, and in a first-half walk ({@link PairedRule}): both halves of
     * dOut set to the given half, the rule on all rows, the input half kept. Equal halves of dOut
     * give equal halves of dIn except where |Δin| < eps and the op's own gradient differs between
     * an input and its reference (a Relu input and reference on either side of 0 within 1e-10, or
     * pooled maxima at different places), which marks the halves diverged; the max-pool rule,
     * whose input half reads the reference half's dOut, refuses a walk whose halves have diverged.
     */
    static PairedRule paired(BackwardRule rule, boolean mixes) {
        return new PairedRule() {
            @Override
            public void apply(dev.salient.model.ops.Op op, Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
                rule.apply(op, b, in, out, dOut, dIn);
            }

            @Override
            public boolean mixesHalves() {
                return mixes;
            }

            @Override
            public void applyHalf(dev.salient.model.ops.Op op, Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut,
                    Tensor[] dIn, Halves halves) {
                if (dIn[0] == null) return;
                if (mixes && halves.diverged()) throw new HalvesDiverge(op.opType());
                if (op.opType().equals("Relu")) { // one native pass over the input half, counting straddles
                    if (b.secantReluHalf(in[0], out[0], dOut[0], dIn[0], EPS) > 0) halves.diverge();
                    return;
                }
                // the forward values in paired halves (a compact tape's references repeated)
                Tensor x = halves.whole(in[0]), y = halves.whole(out[0]);
                try (Tensor dy = b.allocate(y.shape()); Tensor dx = b.allocate(x.shape())) {
                    long h = dIn[0].numel(), oh = dOut[0].numel();
                    if (2 * h != x.numel() || 2 * oh != y.numel())
                        throw new SalientException("deeplift: a first-half walk gave " + op.opType() + " gradients of "
                                + dev.salient.engine.Shapes.str(dOut[0].shape()) + " for an output of "
                                + dev.salient.engine.Shapes.str(y.shape()));
                    b.copyRange(dOut[0], 0, dy, 0, oh);
                    b.copyRange(dOut[0], 0, dy, oh, oh);
                    Tensor[] all = new Tensor[dIn.length];
                    all[0] = dx;
                    Tensor[] ins = in.clone(), outs = out.clone();
                    ins[0] = x;
                    outs[0] = y;
                    rule.apply(op, b, ins, outs, new Tensor[] {dy}, all);
                    if (halves.mixingAhead() && !halves.diverged() && !dev.salient.engine.PairedRows.halvesEqual(b, dx, h)) halves.diverge();
                    b.copyRange(dx, 0, dIn[0], 0, h);
                } finally {
                    if (x != in[0]) x.close();
                    if (y != out[0]) y.close();
                }
            }
        };
    }

    /**
     * {@code dIn = where(|Δin| < eps, own gradient, dOut·Δout/Δin)}, Δ from the row halves: one pass
     * of {@link Backend#secantBackward}, which computes a Relu's own gradient itself; other ops run
     * their own backward first.
     */
    static void nonlinear(dev.salient.model.ops.Op op, Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] == null) return;
        half(in[0]);
        if (op.opType().equals("Relu")) {
            b.secantBackward(in[0], out[0], dOut[0], dIn[0], EPS, Activation.RELU);
            return;
        }
        op.backward(b, in, out, dOut, dIn);
        b.secantBackward(in[0], out[0], dOut[0], dIn[0], EPS, null);
    }

    /**
     * Captum's max-pool rule: {@code U = poolᵀ([dy·(m − y'); dy·(y − m)])} with each row's own
     * argmax, {@code S = U_in + U_ref} on both halves, {@code dIn = where(|Δin| < eps, own
     * gradient, S/Δin)}: the last step is the secant backward with Δout = S and dOut = 1.
     */
    static void maxPool(dev.salient.model.ops.Op op, Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] == null) return;
        try (Temps s = new Temps(b)) {
            long half = half(in[0]), outHalf = half(out[0]);
            Tensor y = s.rows(out[0], 0, outHalf), yr = s.rows(out[0], outHalf, outHalf);
            // m = max(y, y') = y' + relu(y - y')
            Tensor m = s.like(y);
            b.binary(BinaryOp.SUB, y, yr, m);
            b.activationForward(Activation.RELU, m, m, 0, 0);
            b.binary(BinaryOp.ADD, m, yr, m);
            Tensor delta = s.like(out[0]);
            b.binary(BinaryOp.SUB, m, yr, TensorViews.view(delta, 1, outHalf));
            Tensor second = s.like(y);
            b.binary(BinaryOp.SUB, y, m, second);
            b.copyRange(second, 0, delta, outHalf, outHalf);
            b.binary(BinaryOp.MUL, delta, dOut[0], delta);
            Tensor u = s.like(in[0]);
            op.backward(b, in, out, new Tensor[] {delta}, withFirst(dIn, u));
            // Δout = [S; 0] with S = U_in + U_ref, against dOut = 1
            Tensor sum = s.rows(u, 0, half), ur = s.rows(u, half, half);
            b.binary(BinaryOp.ADD, sum, ur, sum);
            b.fill(u, 0f);
            b.copyRange(sum, 0, u, 0, half);
            Tensor ones = s.like(in[0]);
            b.fill(ones, 1f);
            // the plain gradient where |Δin| < eps
            op.backward(b, in, out, dOut, dIn);
            b.secantBackward(in[0], u, ones, dIn[0], EPS, null);
        }
    }

    private static Tensor[] withFirst(Tensor[] dIn, Tensor first) {
        Tensor[] d = new Tensor[dIn.length];
        d[0] = first;
        return d;
    }

    private static long half(Tensor t) {
        if (t.rank() < 1 || t.dim(0) % 2 != 0)
            throw new SalientException("deeplift: a tensor of shape " + dev.salient.engine.Shapes.str(t.shape())
                    + " does not hold input and reference rows in two halves");
        return t.numel() / 2;
    }

    /** Temporaries of one rule application, freed together. */
    private static final class Temps implements AutoCloseable {
        final Backend b;
        private final List<Tensor> temps = new ArrayList<>();

        Temps(Backend b) {
            this.b = b;
        }

        Tensor keep(Tensor t) {
            temps.add(t);
            return t;
        }

        Tensor like(Tensor t) {
            return keep(b.allocate(t.shape()));
        }

        /** Elements [from, from + count) of t as a (1, count) tensor. */
        Tensor rows(Tensor t, long from, long count) {
            Tensor y = keep(b.allocate(1, count));
            b.copyRange(t, from, y, 0, count);
            return y;
        }

        @Override
        public void close() {
            for (Tensor t : temps) t.close();
            temps.clear();
        }
    }
}
