package dev.salient.model.ops;

import dev.salient.engine.SalientException;
import java.util.Arrays;

/** Shared plumbing: the node name for messages and small shape helpers. */
abstract class AbstractOp implements Op {
    protected final OpContext ctx;

    AbstractOp(OpContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public String opType() {
        return ctx.node().opType();
    }

    protected SalientException error(String msg) {
        return ctx.error(msg);
    }

    /** A shape or small int list for an error line: at most 8 values quoted, then how many more. */
    protected static String str(long[] s) {
        if (s.length <= 8) return Arrays.toString(s);
        return Arrays.toString(Arrays.copyOf(s, 8)).replace("]", ", ... (" + s.length + " values)]");
    }

    /** Normalises a possibly negative axis against rank r; error if out of range. */
    protected int axis(long a, int r) {
        long x = a < 0 ? a + r : a;
        if (x < 0 || x >= r) throw error("axis " + a + " out of range for rank " + r);
        return (int) x;
    }

    protected void requireRank(long[] s, int min, int max, String what) {
        if (s.length < min || s.length > max)
            throw error(what + " has rank " + s.length + " (shape " + str(s) + "); expected " + (min == max ? "" + min : min + " to " + max));
    }

    protected static long prod(long[] s, int from, int to) {
        long p = 1;
        for (int i = from; i < to; i++) p *= s[i];
        return p;
    }
}
