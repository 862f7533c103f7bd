package dev.salient.explain.relevance;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.core.BackwardRule;
import dev.salient.model.Model;
import dev.salient.model.ops.Op;
import java.util.ArrayList;
import java.util.List;

/**
 * Zennit's LRP rules (zennit/rules.py) as backward rules. A rule of a linear node
 * (Conv, Gemm) evaluates the node's own forward and data backward on modified
 * inputs and parameters, as Zennit's BasicHook does: input modifiers (x⁺, x⁻, 1,
 * the box bounds), parameter modifiers (w⁺, w⁻, w + γw⁺, 1, w²), a gradient mapper
 * {@code R / stab(z)} and a reducer {@code Σ input ⊙ gradient}. The stabiliser is
 * Zennit's {@code z + sign(z)·ε} with sign(0) = +1. Every step is a backend op
 * (conv forward, conv backward-data, binary, activation), so the rules run on cpu
 * and cuda alike. Parameter-free nodes take {@link #PASS} (activations, a standalone
 * channel affine) or {@link #norm} (Add, average pooling), as Zennit's base layer map.
 */
final class LrpRules {
    private LrpRules() {}

    /** Zennit's Pass: the relevance goes through unchanged (activations, folded or standalone BatchNorm). */
    static final BackwardRule PASS = (dev.salient.explain.core.PassThrough) (op, b, in, out, dOut, dIn) -> {
        if (dIn[0] == null) return;
        if (dIn[0].numel() != dOut[0].numel())
            throw new SalientException("lrp: the pass rule needs an elementwise op, " + op.opType() + " is not");
        b.copy(dOut[0], dIn[0]);
    };

    /**
     * Zennit's Norm, for parameter-free sums and averages (Add, AveragePool,
     * GlobalAveragePool): {@code R_in = x ⊙ opᵀ(R / stab(y))}, each input of an Add its share.
     */
    static BackwardRule norm(float stabilizer) {
        return (op, b, in, out, dOut, dIn) -> {
            try (Scope s = new Scope(b)) {
                Tensor g = s.stabDiv(dOut[0], out[0], stabilizer);
                if (op.opType().equals("Add") && sameShapes(in, out[0])) {
                    // an Add without broadcasting passes g to each input unchanged: x_i ⊙ g directly,
                    // the same products without the copies
                    for (int i = 0; i < dIn.length; i++) if (dIn[i] != null) b.binary(BinaryOp.MUL, g, in[i], dIn[i]);
                    return;
                }
                shares(op, b, in, out[0], g, dIn);
            }
        };
    }

    /**
     * Norm for an Add, as {@link #norm}, with the sum recomputed from the inputs: one rounding of
     * the same two values, so the forward's output bit for bit, and the tape need not keep it
     * ({@link dev.salient.explain.core.BackwardRule#readsOutputs}).
     */
    static BackwardRule normSum(float stabilizer) {
        return BackwardRule.inputsOnly((op, b, in, out, dOut, dIn) -> {
            if (!op.opType().equals("Add") || in.length != 2 || in[0] == null || in[1] == null)
                throw new SalientException("lrp: the sum rule needs an Add of two inputs, not " + op.opType());
            if (dIn[0] == null && dIn[1] == null) return;
            if (sameShapes(in, dOut[0])) {  // the sum, quotient and shares in one pass
                b.normShares(in[0], in[1], dOut[0], dIn[0], dIn[1], stabilizer);
                return;
            }
            try (Scope s = new Scope(b)) {
                Tensor z = s.like(dOut[0]);
                b.binary(BinaryOp.ADD, in[0], in[1], z);
                shares(op, b, in, z, s.stabDiv(dOut[0], z, stabilizer), dIn);
            }
        });
    }

    /** Norm's shares through the op's own backward: {@code dIn_i = x_i ⊙ opᵀ(g)}, y the op's output. */
    private static void shares(Op op, Backend b, Tensor[] in, Tensor y, Tensor g, Tensor[] dIn) {
        op.backward(b, in, new Tensor[] {y}, new Tensor[] {g}, dIn);
        for (int i = 0; i < dIn.length; i++) if (dIn[i] != null) b.binary(BinaryOp.MUL, dIn[i], in[i], dIn[i]);
    }

    private static boolean sameShapes(Tensor[] in, Tensor out) {
        for (Tensor t : in) if (t == null || !java.util.Arrays.equals(t.shape(), out.shape())) return false;
        return true;
    }

    /** Epsilon: {@code R_in = x ⊙ Wᵀ(R / stab(Wx + b))}. */
    static BackwardRule epsilon(float epsilon) {
        return linear(null, (s, op, x, w, bias, z, r, dx) -> {
            Tensor g = s.stabDiv(r, z, epsilon);
            s.backward(op, x, w, g, dx);
            s.b.binary(BinaryOp.MUL, dx, x, dx);
        });
    }

    /**
     * ZPlus: x⁺ through w⁺ (with b⁺) and x⁻ through w⁻, one shared denominator. Behind a ReLU
     * x⁻ = 0 and its terms are dropped ({@link Scope#negOrNull}).
     */
    static BackwardRule zPlus(Model model, float stabilizer) {
        return zPlus(model, stabilizer, false);
    }

    /** As {@link #zPlus(Model, float)}; {@code nonNegative}: the input is known to hold no value below 0 (the check is skipped). */
    static BackwardRule zPlus(Model model, float stabilizer, boolean nonNegative) {
        return BackwardRule.inputsOnly(linear(model, (s, op, x, w, bias, z, r, dx) -> {
            Tensor xn = nonNegative ? null : s.negOrNull(x), xp = xn == null ? x : s.pos(x), wp = s.wPos(w), wn = s.wNeg(w);
            Tensor den = s.plus(s.forward(op, xp, wp, s.wPos(bias)), op, xn, wn);
            Tensor g = s.stabDiv(r, den, stabilizer);
            s.reduce(op, dx, g, xp, wp, xn, wn);
        }));
    }

    /** AlphaBeta with α − β = 1: α times the positive contributions, minus β times the negative ones. */
    static BackwardRule alphaBeta(Model model, float alpha, float beta, float stabilizer) {
        return alphaBeta(model, alpha, beta, stabilizer, false);
    }

    static BackwardRule alphaBeta(Model model, float alpha, float beta, float stabilizer, boolean nonNegative) {
        if (alpha < 0 || beta < 0 || alpha - beta != 1f)
            throw new SalientException("alpha-beta needs alpha >= 0, beta >= 0 and alpha - beta = 1, got alpha " + alpha
                    + ", beta " + beta);
        return BackwardRule.inputsOnly(linear(model, (s, op, x, w, bias, z, r, dx) -> {
            Tensor xn = nonNegative ? null : s.negOrNull(x), xp = xn == null ? x : s.pos(x), wp = s.wPos(w), wn = s.wNeg(w);
            Tensor zp = s.plus(s.forward(op, xp, wp, s.wPos(bias)), op, xn, wn);
            Tensor zn = s.plus(s.forward(op, xp, wn, s.wNeg(bias)), op, xn, wp);
            Tensor gp = s.stabDiv(r, zp, stabilizer), gn = s.stabDiv(r, zn, stabilizer);
            s.reduce(op, dx, gp, xp, wp, xn, wn);
            try (Tensor neg = s.b.allocate(dx.shape())) {
                s.reduce(op, neg, gn, xp, wn, xn, wp);
                s.b.axpby(-beta, neg, alpha, dx);
            }
        }));
    }

    /**
     * Gamma: where z > 0 the contributions of x⁺ through w + γw⁺ (bias b + γb⁺) and x⁻
     * through w + γw⁻, where z < 0 those of x⁺ through w + γw⁻ (bias b + γb⁻) and x⁻
     * through w + γw⁺; relevance where z = 0 is dropped.
     */
    static BackwardRule gamma(Model model, float gamma, float stabilizer) {
        return gamma(model, gamma, stabilizer, false);
    }

    static BackwardRule gamma(Model model, float gamma, float stabilizer, boolean nonNegative) {
        return linear(model, (s, op, x, w, bias, z, r, dx) -> {
            Tensor xn = nonNegative ? null : s.negOrNull(x), xp = xn == null ? x : s.pos(x);
            Tensor wgp = s.wGamma(w, gamma, true), wgn = s.wGamma(w, gamma, false);
            Tensor bgp = s.wGamma(bias, gamma, true), bgn = s.wGamma(bias, gamma, false);
            Tensor zp = s.plus(s.forward(op, xp, wgp, bgp), op, xn, wgn);
            Tensor zn = s.plus(s.forward(op, xp, wgn, bgn), op, xn, wgp);
            Tensor mp = s.indicatorPositive(z), mn = s.indicatorPositive(s.scaled(z, -1f));
            Tensor gp = s.stabDiv(s.mul(r, mp), zp, stabilizer);
            Tensor gn = s.stabDiv(s.mul(r, mn), zn, stabilizer);
            s.reduce(op, dx, gp, xp, wgp, xn, wgn);
            try (Tensor more = s.b.allocate(dx.shape())) {
                s.reduce(op, more, gn, xp, wgn, xn, wgp);
                s.b.axpby(1f, more, 1f, dx);
            }
        });
    }

    /** Flat: every input and weight 1, no bias: relevance spread uniformly over the receptive field. */
    static BackwardRule flat(Model model, float stabilizer) {
        return BackwardRule.inputsOnly(linear(model, (s, op, x, w, bias, z, r, dx) -> {
            Tensor ones = s.filled(x, 1f), w1 = s.wOnes(w);
            Tensor g = s.stabDiv(r, s.forward(op, ones, w1, null), stabilizer);
            s.backward(op, ones, w1, g, dx);
        }));
    }

    /**
     * W²: inputs 1, every parameter squared, the bias too (Zennit's WSquare modifies all
     * parameters, ParamMod with param_keys=None).
     */
    static BackwardRule wSquare(Model model, float stabilizer) {
        return BackwardRule.inputsOnly(linear(model, (s, op, x, w, bias, z, r, dx) -> {
            Tensor ones = s.filled(x, 1f), w2 = s.wSquare(w);
            Tensor b2 = s.wSquare(bias);
            Tensor g = s.stabDiv(r, s.forward(op, ones, w2, b2), stabilizer);
            s.backward(op, ones, w2, g, dx);
        }));
    }

    /**
     * ZBox (z^B) for the first layer, bounds per input channel: {@code z = Wx − W⁺l − W⁻h},
     * {@code R_in = x ⊙ Wᵀg − l ⊙ W⁺ᵀg − h ⊙ W⁻ᵀg} with g = R / stab(z) (the biases cancel).
     */
    static BackwardRule zBox(Model model, float[] low, float[] high, float stabilizer) {
        return BackwardRule.inputsOnly(linear(model, (s, op, x, w, bias, z, r, dx) -> {
            if (x.rank() < 2 || x.dim(1) != low.length)
                throw new SalientException("lrp: --low/--high give " + low.length + " channels, the first layer's input has "
                        + (x.rank() < 2 ? 1 : x.dim(1)));
            Tensor l = s.channels(x, low), h = s.channels(x, high);
            Tensor wp = s.wPos(w), wn = s.wNeg(w);
            Tensor zb = s.sub(s.sub(s.forward(op, x, w, null), s.forward(op, l, wp, null)), s.forward(op, h, wn, null));
            Tensor g = s.stabDiv(r, zb, stabilizer);
            s.backward(op, x, w, g, dx);
            s.b.binary(BinaryOp.MUL, dx, x, dx);
            Tensor t = s.like(dx);
            s.backward(op, l, wp, g, t);
            s.b.binary(BinaryOp.MUL, t, l, t);
            s.b.axpby(-1f, t, 1f, dx);
            s.backward(op, h, wn, g, t);
            s.b.binary(BinaryOp.MUL, t, h, t);
            s.b.axpby(-1f, t, 1f, dx);
        }));
    }

    /**
     * One rule by name, as {@code --rule-map} gives it: {@code epsilon[:EPS]}, {@code zplus},
     * {@code gamma[:GAMMA]}, {@code alpha-beta[:A,B]} (default 2,1), {@code flat}, {@code wsquare},
     * {@code zbox} (bounds from --low/--high), {@code pass}, {@code norm}, {@code gradient}.
     */
    static BackwardRule parse(Model model, String spec, float[] low, float[] high, float stabilizer) {
        String s = spec.trim().toLowerCase(java.util.Locale.ROOT);
        String name = s.contains(":") ? s.substring(0, s.indexOf(':')) : s;
        String arg = s.contains(":") ? s.substring(s.indexOf(':') + 1) : null;
        try {
            return switch (name) {
                case "epsilon" -> epsilon(arg == null ? stabilizer : Float.parseFloat(arg));
                case "zplus" -> zPlus(model, stabilizer);
                case "gamma" -> gamma(model, arg == null ? Composite.GAMMA : Float.parseFloat(arg), stabilizer);
                case "alpha-beta" -> {
                    String[] ab = arg == null ? new String[] {"2", "1"} : arg.split(",");
                    if (ab.length != 2) throw new SalientException("rule '" + spec + "': alpha-beta takes alpha,beta");
                    yield alphaBeta(model, Float.parseFloat(ab[0]), Float.parseFloat(ab[1]), stabilizer);
                }
                case "flat" -> flat(model, stabilizer);
                case "wsquare" -> wSquare(model, stabilizer);
                case "zbox" -> {
                    if (low == null || high == null) throw new SalientException("rule zbox needs --low and --high");
                    yield zBox(model, low, high, stabilizer);
                }
                case "pass" -> PASS;
                case "norm" -> norm(stabilizer);
                case "gradient" -> dev.salient.explain.core.BackwardRules.gradient();
                default -> throw new SalientException("unknown LRP rule '" + spec
                        + "' (use epsilon[:EPS], zplus, gamma[:G], alpha-beta[:A,B], flat, wsquare, zbox, pass, norm, gradient)");
            };
        } catch (NumberFormatException e) {
            throw new SalientException("rule '" + spec + "': bad number (" + e.getMessage() + ")");
        }
    }

    /** The body of a rule of a linear node: x, weight, bias (or null), output z, incoming relevance r, result dx. */
    @FunctionalInterface
    interface LinearBody {
        void apply(Scope s, Op op, Tensor x, Tensor w, Tensor bias, Tensor z, Tensor r, Tensor dx);
    }

    /**
     * A rule for Conv and Gemm nodes (input 0 the data, 1 the weight, 2 the optional bias). The
     * modified parameters (w⁺, w⁻, w + γw⁺, 1, w²) are made once per weight and kind and kept by
     * {@code model} ({@link Model#derived}); null keeps nothing.
     */
    static BackwardRule linear(Model model, LinearBody body) {
        return (op, b, in, out, dOut, dIn) -> {
            if (dIn[0] == null) return;
            if (in.length < 2 || in[1] == null)
                throw new SalientException("lrp: " + op.opType() + " without a weight input has no linear rule");
            try (Scope s = new Scope(b, model)) {
                body.apply(s, op, in[0], in[1], in.length > 2 ? in[2] : null, out[0], dOut[0], dIn[0]);
            }
        };
    }

    /** Temporaries of one rule application, freed together; small helpers over backend ops. */
    static final class Scope implements AutoCloseable {
        final Backend b;
        private final Model model;
        private final List<Tensor> temps = new ArrayList<>();

        Scope(Backend b) {
            this(b, null);
        }

        Scope(Backend b, Model model) {
            this.b = b;
            this.model = model;
        }

        /**
         * A modified parameter: made once per weight and kind and kept by the model when w is
         * one of its weights, else made here and freed with the scope. Null stays null.
         */
        Tensor param(Tensor w, String kind, java.util.function.UnaryOperator<Tensor> make) {
            if (w == null) return null;
            Tensor t = model == null ? null : model.derived(w, "lrp:" + kind, make);
            if (t != null) return t;
            t = make.apply(w);
            temps.add(t);
            return t;
        }

        /** w⁺ = max(w, 0). */
        Tensor wPos(Tensor w) {
            return param(w, "pos", v -> {
                Tensor y = b.allocate(v.shape());
                b.activationForward(Activation.RELU, v, y, 0, 0);
                return y;
            });
        }

        /** w⁻ = min(w, 0). */
        Tensor wNeg(Tensor w) {
            return param(w, "neg", v -> {
                Tensor y = b.allocate(v.shape());
                b.activationForward(Activation.RELU, v, y, 0, 0);
                b.binary(BinaryOp.SUB, v, y, y);
                return y;
            });
        }

        /** w + γw⁺ (positive) or w + γw⁻. */
        Tensor wGamma(Tensor w, float gamma, boolean positive) {
            return param(w, (positive ? "gamma+:" : "gamma-:") + gamma, v -> {
                Tensor y = b.allocate(v.shape());
                b.activationForward(Activation.RELU, v, y, 0, 0);
                if (!positive) b.binary(BinaryOp.SUB, v, y, y);
                b.axpby(1f, v, gamma, y);
                return y;
            });
        }

        /** Ones of w's shape. */
        Tensor wOnes(Tensor w) {
            return param(w, "ones", v -> {
                Tensor y = b.allocate(v.shape());
                b.fill(y, 1f);
                return y;
            });
        }

        /** w². */
        Tensor wSquare(Tensor w) {
            return param(w, "square", v -> {
                Tensor y = b.allocate(v.shape());
                b.binary(BinaryOp.MUL, v, v, y);
                return y;
            });
        }

        Tensor like(Tensor t) {
            Tensor y = b.allocate(t.shape());
            temps.add(y);
            return y;
        }

        Tensor filled(Tensor t, float v) {
            Tensor y = like(t);
            b.fill(y, v);
            return y;
        }

        Tensor pos(Tensor x) {
            Tensor y = like(x);
            b.activationForward(Activation.RELU, x, y, 0, 0);
            return y;
        }

        /**
         * x⁻ = min(x, 0), or null when no element of x is below 0 (an input behind a ReLU): then
         * x⁻ is zero, and every term it feeds adds zeros, so the rules skip those convolutions.
         */
        Tensor negOrNull(Tensor x) {
            float min;
            try (Tensor m = b.allocate(1)) {
                b.reduceRows(dev.salient.engine.Reduction.MIN, dev.salient.model.ops.TensorViews.view(x, 1, x.numel()), m);
                min = m.toArray()[0];
            }
            return min >= 0f ? null : neg(x);
        }

        /** {@code z} plus the node's forward of x2 through w2 (no bias), or z itself when x2 is null (zero). */
        Tensor plus(Tensor z, Op op, Tensor x2, Tensor w2) {
            return x2 == null ? z : add(z, forward(op, x2, w2, null));
        }

        /** min(x, 0) = x − relu(x). */
        Tensor neg(Tensor x) {
            Tensor y = pos(x);
            b.binary(BinaryOp.SUB, x, y, y);
            return y;
        }

        Tensor scaled(Tensor x, float a) {
            Tensor y = like(x);
            b.fill(y, 0f);
            b.axpby(a, x, 0f, y);
            return y;
        }

        Tensor add(Tensor x, Tensor y) {
            Tensor z = like(x);
            b.binary(BinaryOp.ADD, x, y, z);
            return z;
        }

        Tensor sub(Tensor x, Tensor y) {
            Tensor z = like(x);
            b.binary(BinaryOp.SUB, x, y, z);
            return z;
        }

        Tensor mul(Tensor x, Tensor y) {
            Tensor z = like(x);
            b.binary(BinaryOp.MUL, x, y, z);
            return z;
        }

        Tensor div(Tensor x, Tensor y) {
            Tensor z = like(x);
            b.binary(BinaryOp.DIV, x, y, z);
            return z;
        }

        /** 1 where x > 0, else 0: the ReLU derivative, exact at 0. */
        Tensor indicatorPositive(Tensor x) {
            Tensor one = filled(x, 1f), y = like(x);
            b.activationBackward(Activation.RELU, x, one, y, 0, 0);
            return y;
        }

        /** {@code r / (z + ε·sign(z))} with sign(0) = +1, Zennit's stabilised quotient in one pass. */
        Tensor stabDiv(Tensor r, Tensor z, float eps) {
            Tensor y = like(r);
            b.stabilizedDivide(r, z, y, eps);
            return y;
        }

        /** A tensor of x's shape holding v[c] along axis 1. */
        Tensor channels(Tensor x, float[] v) {
            long[] sh = new long[x.rank()];
            java.util.Arrays.fill(sh, 1);
            sh[1] = v.length;
            Tensor c = b.upload(v, sh);
            temps.add(c);
            Tensor y = filled(x, 0f);
            b.binary(BinaryOp.ADD, y, c, y);
            return y;
        }

        /** The node's forward on modified input, weight and bias. */
        Tensor forward(Op op, Tensor x, Tensor w, Tensor bias) {
            long[][] shapes = op.outputShapes(bias == null ? new long[][] {x.shape(), w.shape()}
                    : new long[][] {x.shape(), w.shape(), bias.shape()});
            Tensor y = b.allocate(shapes[0]);
            temps.add(y);
            op.forward(b, bias == null ? new Tensor[] {x, w} : new Tensor[] {x, w, bias}, new Tensor[] {y});
            return y;
        }

        /** dx = the node's data VJP of g with modified input and weight. */
        void backward(Op op, Tensor x, Tensor w, Tensor g, Tensor dx) {
            op.backward(b, new Tensor[] {x, w}, new Tensor[] {null}, new Tensor[] {g}, new Tensor[] {dx, null});
        }

        /** dx = x1 ⊙ W1ᵀg + x2 ⊙ W2ᵀg; x2 null is zero. */
        void reduce(Op op, Tensor dx, Tensor g, Tensor x1, Tensor w1, Tensor x2, Tensor w2) {
            backward(op, x1, w1, g, dx);
            b.binary(BinaryOp.MUL, dx, x1, dx);
            if (x2 == null) return;
            Tensor t = like(dx);
            backward(op, x2, w2, g, t);
            b.binary(BinaryOp.MUL, t, x2, t);
            b.axpby(1f, t, 1f, dx);
        }

        @Override
        public void close() {
            for (Tensor t : temps) t.close();
            temps.clear();
        }
    }
}
