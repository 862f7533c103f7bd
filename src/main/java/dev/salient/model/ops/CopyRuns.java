package dev.salient.model.ops;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;

/** Moves data between backend tensors as contiguous runs (one copyRange per run, never per element when runs are long). */
final class CopyRuns {
    private CopyRuns() {}

    /** Gather along axis: y[o, j, i] = x[o, idx[j], i]. */
    static void gather(Backend b, Tensor x, Tensor y, long outer, long dimAxis, long inner, long[] idx) {
        long n = idx.length;
        for (long o = 0; o < outer; o++)
            for (int j = 0; j < n; j++)
                b.copyRange(x, (o * dimAxis + idx[j]) * inner, y, (o * n + j) * inner, inner);
    }

    /**
     * Strided slice: y[p] = x[start + p*step] per axis. The innermost axis with
     * step 1 is copied as one run.
     */
    static void slice(Backend b, Tensor x, Tensor y, long[] xShape, long[] start, long[] step, long[] yShape) {
        strided(b, x, y, xShape, start, step, yShape, false);
    }

    /** The adjoint of {@link #slice}: dx = 0, then dx[start + p*step] = dy[p]. */
    static void unslice(Backend b, Tensor dy, Tensor dx, long[] xShape, long[] start, long[] step, long[] yShape) {
        b.fill(dx, 0f);
        strided(b, dx, dy, xShape, start, step, yShape, true);
    }

    private static void strided(Backend b, Tensor x, Tensor y, long[] xShape, long[] start, long[] step, long[] yShape,
            boolean reverse) {
        int r = xShape.length;
        if (r == 0) {
            if (reverse) b.copyRange(y, 0, x, 0, 1);
            else b.copyRange(x, 0, y, 0, 1);
            return;
        }
        long[] xStride = new long[r];
        long s = 1;
        for (int i = r - 1; i >= 0; i--) {
            xStride[i] = s;
            s *= xShape[i];
        }
        for (long d : yShape) if (d == 0) return;
        boolean unitLast = step[r - 1] == 1;
        long runLen = unitLast ? yShape[r - 1] : 1;
        long[] pos = new long[r];
        long dst = 0;
        while (true) {
            long src = 0;
            for (int i = 0; i < r; i++) src += (start[i] + pos[i] * step[i]) * xStride[i];
            if (reverse) b.copyRange(y, dst, x, src, runLen);
            else b.copyRange(x, src, y, dst, runLen);
            dst += runLen;
            int k = unitLast ? r - 2 : r - 1;
            for (; k >= 0; k--) {
                if (++pos[k] < yShape[k]) break;
                pos[k] = 0;
            }
            if (k < 0) return;
        }
    }
}
