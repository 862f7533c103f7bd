package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import java.util.Arrays;

/** Gemm: Y = alpha * op(A) op(B) + beta * C, C optional and broadcast to (M,N). */
final class GemmOp extends AbstractOp {
    private final boolean transA, transB;
    private final float alpha, beta;

    GemmOp(OpContext ctx) {
        super(ctx);
        var a = ctx.attrs();
        transA = a.getInt("transA", 0) != 0;
        transB = a.getInt("transB", 0) != 0;
        alpha = a.getFloat("alpha", 1f);
        beta = a.getFloat("beta", 1f);
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        requireRank(in[0], 2, 2, "A");
        requireRank(in[1], 2, 2, "B");
        long m = transA ? in[0][1] : in[0][0], k = transA ? in[0][0] : in[0][1];
        long kb = transB ? in[1][1] : in[1][0], n = transB ? in[1][0] : in[1][1];
        if (k != kb) throw error("A " + str(in[0]) + " and B " + str(in[1]) + " do not multiply (transA=" + transA + ", transB=" + transB + ")");
        long[] y = {m, n};
        if (in.length > 2 && in[2] != null) {
            long[] c;
            try {
                c = Shapes.broadcast(y, in[2]);
            } catch (RuntimeException e) {
                throw error("C " + str(in[2]) + " does not broadcast to " + str(y));
            }
            if (!Arrays.equals(c, y)) throw error("C " + str(in[2]) + " does not broadcast to " + str(y));
        }
        return new long[][] {y};
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        Tensor c = in.length > 2 ? in[2] : null;
        b.gemm(in[0], in[1], c, out[0], transA, transB, alpha, c == null ? 0f : beta);
    }

    /** The data gradient reads B, never the output. */
    @Override
    public boolean backwardReadsOutputs() {
        return false;
    }

    /** dA = alpha * dY op(B)^T (or its transpose when transA). */
    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] == null) return;
        if (!transA) b.gemm(dOut[0], in[1], null, dIn[0], false, !transB, alpha, 0f); // (M,N) x op(B)^T
        else b.gemm(in[1], dOut[0], null, dIn[0], transB, true, alpha, 0f);          // op(B) (K,N) x dY^T -> (K,M)
    }
}
