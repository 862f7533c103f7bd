package dev.salient.explain.relevance;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.core.BackwardRule;
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
    static final BackwardRule PASS = (op, b, in, out, dOut, dIn) -> {
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
                Tensor g = s.div(dOut[0], s.stab(out[0], stabilizer));
                op.backward(b, in, out, new Tensor[] {g}, dIn);
                for (int i = 0; i < dIn.length; i++) if (dIn[i] != null) b.binary(BinaryOp.MUL, dIn[i], in[i], dIn[i]);
            }
        };
    }

    /** Epsilon: {@code R_in = x ⊙ Wᵀ(R / stab(Wx + b))}. */
    static BackwardRule epsilon(float epsilon) {
        return linear((s, op, x, w, bias, z, r, dx) -> {
            Tensor g = s.div(r, s.stab(z, epsilon));
            s.backward(op, x, w, g, dx);
            s.b.binary(BinaryOp.MUL, dx, x, dx);
        });
    }

    /** ZPlus: x⁺ through w⁺ (with b⁺) and x⁻ through w⁻, one shared denominator. */
    static BackwardRule zPlus(float stabilizer) {
        return linear((s, op, x, w, bias, z, r, dx) -> {
            Tensor xp = s.pos(x), xn = s.neg(x), wp = s.pos(w), wn = s.neg(w);
            Tensor den = s.add(s.forward(op, xp, wp, s.posOrNull(bias)), s.forward(op, xn, wn, null));
            Tensor g = s.div(r, s.stab(den, stabilizer));
            s.reduce(op, dx, g, xp, wp, xn, wn);
        });
    }

    /** AlphaBeta with α − β = 1: α times the positive contributions, minus β times the negative ones. */
    static BackwardRule alphaBeta(float alpha, float beta, float stabilizer) {
        if (alpha < 0 || beta < 0 || alpha - beta != 1f)
            throw new SalientException("alpha-beta needs alpha >= 0, beta >= 0 and alpha - beta = 1, got alpha " + alpha
                    + ", beta " + beta);
        return linear((s, op, x, w, bias, z, r, dx) -> {
            Tensor xp = s.pos(x), xn = s.neg(x), wp = s.pos(w), wn = s.neg(w);
            Tensor zp = s.add(s.forward(op, xp, wp, s.posOrNull(bias)), s.forward(op, xn, wn, null));
            Tensor zn = s.add(s.forward(op, xp, wn, s.negOrNull(bias)), s.forward(op, xn, wp, null));
            Tensor gp = s.div(r, s.stab(zp, stabilizer)), gn = s.div(r, s.stab(zn, stabilizer));
            s.reduce(op, dx, gp, xp, wp, xn, wn);
            try (Tensor neg = s.b.allocate(dx.shape())) {
                s.reduce(op, neg, gn, xp, wn, xn, wp);
                s.b.axpby(-beta, neg, alpha, dx);
            }
        });
    }

    /**
     * Gamma: where z > 0 the contributions of x⁺ through w + γw⁺ (bias b + γb⁺) and x⁻
     * through w + γw⁻, where z < 0 those of x⁺ through w + γw⁻ (bias b + γb⁻) and x⁻
     * through w + γw⁺; relevance where z = 0 is dropped.
     */
    static BackwardRule gamma(float gamma, float stabilizer) {
        return linear((s, op, x, w, bias, z, r, dx) -> {
            Tensor xp = s.pos(x), xn = s.neg(x);
            Tensor wgp = s.plusScaled(w, s.pos(w), gamma), wgn = s.plusScaled(w, s.neg(w), gamma);
            Tensor bgp = bias == null ? null : s.plusScaled(bias, s.pos(bias), gamma);
            Tensor bgn = bias == null ? null : s.plusScaled(bias, s.neg(bias), gamma);
            Tensor zp = s.add(s.forward(op, xp, wgp, bgp), s.forward(op, xn, wgn, null));
            Tensor zn = s.add(s.forward(op, xp, wgn, bgn), s.forward(op, xn, wgp, null));
            Tensor mp = s.indicatorPositive(z), mn = s.indicatorPositive(s.scaled(z, -1f));
            Tensor gp = s.div(s.mul(r, mp), s.stab(zp, stabilizer));
            Tensor gn = s.div(s.mul(r, mn), s.stab(zn, stabilizer));
            s.reduce(op, dx, gp, xp, wgp, xn, wgn);
            try (Tensor more = s.b.allocate(dx.shape())) {
                s.reduce(op, more, gn, xp, wgn, xn, wgp);
                s.b.axpby(1f, more, 1f, dx);
            }
        });
    }

    /** Flat: every input and weight 1, no bias: relevance spread uniformly over the receptive field. */
    static BackwardRule flat(float stabilizer) {
        return linear((s, op, x, w, bias, z, r, dx) -> {
            Tensor ones = s.filled(x, 1f), w1 = s.filled(w, 1f);
            Tensor g = s.div(r, s.stab(s.forward(op, ones, w1, null), stabilizer));
            s.backward(op, ones, w1, g, dx);
        });
    }

    /**
     * W²: inputs 1, every parameter squared, the bias too (Zennit's WSquare modifies all
     * parameters, ParamMod with param_keys=None).
     */
    static BackwardRule wSquare(float stabilizer) {
        return linear((s, op, x, w, bias, z, r, dx) -> {
            Tensor ones = s.filled(x, 1f), w2 = s.mul(w, w);
            Tensor b2 = bias == null ? null : s.mul(bias, bias);
            Tensor g = s.div(r, s.stab(s.forward(op, ones, w2, b2), stabilizer));
            s.backward(op, ones, w2, g, dx);
        });
    }

    /**
     * ZBox (z^B) for the first layer, bounds per input channel: {@code z = Wx − W⁺l − W⁻h},
     * {@code R_in = x ⊙ Wᵀg − l ⊙ W⁺ᵀg − h ⊙ W⁻ᵀg} with g = R / stab(z) (the biases cancel).
     */
    static BackwardRule zBox(float[] low, float[] high, float stabilizer) {
        return linear((s, op, x, w, bias, z, r, dx) -> {
            if (x.rank() < 2 || x.dim(1) != low.length)
                throw new SalientException("lrp: --low/--high give " + low.length + " channels, the first layer's input has "
                        + (x.rank() < 2 ? 1 : x.dim(1)));
            Tensor l = s.channels(x, low), h = s.channels(x, high);
            Tensor wp = s.pos(w), wn = s.neg(w);
            Tensor zb = s.sub(s.sub(s.forward(op, x, w, null), s.forward(op, l, wp, null)), s.forward(op, h, wn, null));
            Tensor g = s.div(r, s.stab(zb, stabilizer));
            s.backward(op, x, w, g, dx);
            s.b.binary(BinaryOp.MUL, dx, x, dx);
            Tensor t = s.like(dx);
            s.backward(op, l, wp, g, t);
            s.b.binary(BinaryOp.MUL, t, l, t);
            s.b.axpby(-1f, t, 1f, dx);
            s.backward(op, h, wn, g, t);
            s.b.binary(BinaryOp.MUL, t, h, t);
            s.b.axpby(-1f, t, 1f, dx);
        });
    }

    /**
     * One rule by name, as {@code --rule-map} gives it: {@code epsilon[:EPS]}, {@code zplus},
     * {@code gamma[:GAMMA]}, {@code alpha-beta[:A,B]} (default 2,1), {@code flat}, {@code wsquare},
     * {@code zbox} (bounds from --low/--high), {@code pass}, {@code norm}, {@code gradient}.
     */
    static BackwardRule parse(String spec, float[] low, float[] high, float stabilizer) {
        String s = spec.trim().toLowerCase(java.util.Locale.ROOT);
        String name = s.contains(":") ? s.substring(0, s.indexOf(':')) : s;
        String arg = s.contains(":") ? s.substring(s.indexOf(':') + 1) : null;
        try {
            return switch (name) {
                case "epsilon" -> epsilon(arg == null ? stabilizer : Float.parseFloat(arg));
                case "zplus" -> zPlus(stabilizer);
                case "gamma" -> gamma(arg == null ? Composite.GAMMA : Float.parseFloat(arg), stabilizer);
                case "alpha-beta" -> {
                    String[] ab = arg == null ? new String[] {"2", "1"} : arg.split(",");
                    if (ab.length != 2) throw new SalientException("rule '" + spec + "': alpha-beta takes alpha,beta");
                    yield alphaBeta(Float.parseFloat(ab[0]), Float.parseFloat(ab[1]), stabilizer);
                }
                case "flat" -> flat(stabilizer);
                case "wsquare" -> wSquare(stabilizer);
                case "zbox" -> {
                    if (low == null || high == null) throw new SalientException("rule zbox needs --low and --high");
                    yield zBox(low, high, stabilizer);
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

    /** A rule for Conv and Gemm nodes (input 0 the data, 1 the weight, 2 the optional bias). */
    static BackwardRule linear(LinearBody body) {
        return (op, b, in, out, dOut, dIn) -> {
            if (dIn[0] == null) return;
            if (in.length < 2 || in[1] == null)
                throw new SalientException("lrp: " + op.opType() + " without a weight input has no linear rule");
            try (Scope s = new Scope(b)) {
                body.apply(s, op, in[0], in[1], in.length > 2 ? in[2] : null, out[0], dOut[0], dIn[0]);
            }
        };
    }

    /** Temporaries of one rule application, freed together; small helpers over backend ops. */
    static final class Scope implements AutoCloseable {
        final Backend b;
        private final List<Tensor> temps = new ArrayList<>();

        Scope(Backend b) {
            this.b = b;
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

        /** min(x, 0) = x − relu(x). */
        Tensor neg(Tensor x) {
            Tensor y = pos(x);
            b.binary(BinaryOp.SUB, x, y, y);
            return y;
        }

        Tensor posOrNull(Tensor x) {
            return x == null ? null : pos(x);
        }

        Tensor negOrNull(Tensor x) {
            return x == null ? null : neg(x);
        }

        Tensor scaled(Tensor x, float a) {
            Tensor y = like(x);
            b.fill(y, 0f);
            b.axpby(a, x, 0f, y);
            return y;
        }

        /** x + a·y. */
        Tensor plusScaled(Tensor x, Tensor y, float a) {
            Tensor z = like(x);
            b.copy(x, z);
            b.axpby(a, y, 1f, z);
            return z;
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

        /** Zennit's stabiliser {@code z + ε·sign(z)} with sign(0) = +1: z + ε − 2ε·[z < 0]. */
        Tensor stab(Tensor z, float eps) {
            Tensor y = indicatorPositive(scaled(z, -1f));
            b.axpby(1f, z, -2f * eps, y);
            Tensor e = filled(z, eps);
            b.binary(BinaryOp.ADD, y, e, y);
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

        /** dx = x1 ⊙ W1ᵀg + x2 ⊙ W2ᵀg. */
        void reduce(Op op, Tensor dx, Tensor g, Tensor x1, Tensor w1, Tensor x2, Tensor w2) {
            backward(op, x1, w1, g, dx);
            b.binary(BinaryOp.MUL, dx, x1, dx);
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
