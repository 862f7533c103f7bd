package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;

/** MatMul with numpy semantics: batch broadcasting, 1-D operands promoted and the added dims removed. */
final class MatMulOp extends AbstractOp {
    MatMulOp(OpContext ctx) {
        super(ctx);
    }

    @Override
    public long[][] outputShapes(long[][] in) {
        long[] a = in[0], b = in[1];
        if (a.length == 0 || b.length == 0) throw error("scalar operand");
        long[] a2 = a.length == 1 ? new long[] {1, a[0]} : a;
        long[] b2 = b.length == 1 ? new long[] {b[0], 1} : b;
        long k = a2[a2.length - 1];
        if (k != b2[b2.length - 2]) throw error("shapes " + str(a) + " and " + str(b) + " do not multiply");
        long[] batch;
        try {
            batch = Shapes.broadcast(java.util.Arrays.copyOf(a2, a2.length - 2), java.util.Arrays.copyOf(b2, b2.length - 2));
        } catch (RuntimeException e) {
            throw error("batch dims of " + str(a) + " and " + str(b) + " do not broadcast");
        }
        int r = batch.length + (a.length == 1 ? 0 : 1) + (b.length == 1 ? 0 : 1);
        long[] y = java.util.Arrays.copyOf(batch, r);
        int i = batch.length;
        if (a.length > 1) y[i++] = a2[a2.length - 2];
        if (b.length > 1) y[i] = b2[b2.length - 1];
        return new long[][] {y};
    }

    @Override
    public void forward(Backend b, Tensor[] in, Tensor[] out) {
        b.matmul(in[0], in[1], out[0]);
    }

    /** dA = dY B^T, for a 2-D weight B (the Linear layer as exporters write it). */
    @Override
    public void backward(Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn) {
        if (dIn[0] == null) return;
        if (in[1].rank() != 2 || in[0].rank() < 2)
            throw error("backward supports A of rank >= 2 times a 2-D B, got " + in[0] + " x " + in[1]);
        long k = in[0].dim(-1), n = in[1].dim(1), m = in[0].numel() / k;
        Tensor dy = TensorViews.view(dOut[0], m, n), dx = TensorViews.view(dIn[0], m, k);
        b.gemm(dy, in[1], null, dx, false, true, 1f, 0f);
    }
}
