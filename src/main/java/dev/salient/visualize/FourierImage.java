package dev.salient.visualize;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.Tensor;

/**
 * Lucent's {@code fft_image} (lucent/optvis/param/spatial.py, after Lucid): the values are a
 * half spectrum per channel, scaled by {@code 1 / max(f, 1/max(H,W))} (decay power 1), turned
 * into an image by the inverse real 2-D FFT with orthonormal scaling
 * ({@code torch.fft.irfftn(s=(H,W), norm="ortho")}) and divided by 4.
 *
 * <p>The inverse FFT is written as two matrix products on the engine's GEMM, so it runs on the
 * CPU and the GPU alike and its adjoint is the transposed products, in irfftn's order: the
 * complex inverse transform along H on the K = W/2+1 stored columns, then the complex-to-real one
 * along W:
 * <pre>
 *   values (N,C,H,2,K): row y holds Re Z[y,0..K) then Im Z[y,0..K)
 *   U = A (2H, 2H) · (values ⊙ scale) viewed (N·C, 2H, K)      along H: rows (m, Re/Im) of U[m, k]
 *   x = U viewed (N·C·H, 2K) · B (2K, W)                         along W, the real part
 * </pre>
 * with {@code A[2m,2y] = A[2m+1,2y+1] = cos(2πym/H)/√H}, {@code A[2m,2y+1] = −sin(2πym/H)/√H},
 * {@code A[2m+1,2y] = sin(2πym/H)/√H}, and with {@code c_k} = 1 for k = 0 and k = W/2 (W even), else
 * 2 (the Hermitian half; irfft drops the imaginary parts of those two bins, and their sines vanish
 * exactly here), {@code B[k,n] = c_k cos(2πkn/W)/(4√W)}, {@code B[K+k,n] = −c_k sin(2πkn/W)/(4√W)}.
 * That is x = Re Σ_y Σ_k c_k Z[y,k] e^{2πi(ym/H + kn/W)} / (4√(HW)), numpy's irfftn. For H, W ≤ 512
 * the products cost 4·H·K·(2H + W)·N·C FLOPs per pass (the order W-then-H costs 4·H·W·(K + H), a
 * third more: the intermediate is W complex columns wide instead of K), a few per cent of a CNN's.
 *
 * <p>Where H is a power of two, the product by A is the engine's FFT along H instead
 * ({@link Backend#dftRows}, whose inverse is A and whose forward is Aᵀ): 5·H·log2(H) FLOPs per
 * column instead of 8·H² (at 128², batch 64, 3 channels: 7.0 -> 1.7 ms a pass on 2 cores).
 */
final class FourierImage implements ImageParam {
    private final Backend b;
    private final long n, c, h, w, k;
    private final Tensor values, scale, ah, ahT, bw;

    FourierImage(Backend b, long n, long c, long h, long w) {
        this.b = b;
        this.n = n;
        this.c = c;
        this.h = h;
        this.w = w;
        this.k = w / 2 + 1;
        Tensor v = null, s = null, a = null, at = null, m = null;
        try {
            v = b.zeros(n, c, h, 2, k);
            s = b.upload(scale(h, w), 1, 1, h, 2, k);
            if (!fftAlongH()) {
                float[] am = ah(h);
                a = b.upload(am, 2 * h, 2 * h);
                at = b.upload(transpose(am, (int) (2 * h), (int) (2 * h)), 2 * h, 2 * h);
            }
            m = b.upload(bw(w), 2 * k, w);
        } catch (RuntimeException e) {
            for (Tensor t : new Tensor[] {v, s, a, at, m}) if (t != null) t.close();
            throw e;
        }
        values = v;
        scale = s;
        ah = a;
        ahT = at;
        bw = m;
    }

    /** Whether the transform along H runs as the engine's FFT (H a power of two), else as the product by A. */
    boolean fftAlongH() {
        return (h & (h - 1)) == 0;
    }

    /** Lucent's rfft2d_freqs: sqrt(fx² + fy²) with numpy's fftfreq, then 1/max(f, 1/max(H,W)), for Re and Im. */
    static float[] scale(long h, long w) {
        long k = w / 2 + 1;
        float[] s = new float[(int) (h * 2 * k)];
        double floor = 1.0 / Math.max(h, w);
        for (int y = 0; y < h; y++) {
            double fy = fftfreq(y, h);
            for (int x = 0; x < k; x++) {
                double fx = fftfreq(x, w);
                // numpy evaluates in float64 and Lucent casts the scale to float32
                float v = (float) (1.0 / Math.max(Math.sqrt(fx * fx + fy * fy), floor));
                s[(int) ((y * 2) * k + x)] = v;
                s[(int) ((y * 2 + 1) * k + x)] = v;
            }
        }
        return s;
    }

    /** numpy.fft.fftfreq(n)[i]. */
    static double fftfreq(long i, long n) {
        long half = (n - 1) / 2 + 1;
        return (i < half ? i : i - n) / (double) n;
    }

    /** cos and sin of 2π·r/n with r reduced mod n first (exact zeros where they should be). */
    private static double[] cs(long r, long n) {
        r = Math.floorMod(r, n);
        if (r == 0) return new double[] {1, 0};
        if (2 * r == n) return new double[] {-1, 0};
        double a = 2 * Math.PI * r / n;
        return new double[] {Math.cos(a), Math.sin(a)};
    }

    /** A: the complex inverse DFT along H on rows (y, Re/Im), as a real (2H, 2H) matrix, scaled 1/√H. */
    static float[] ah(long h) {
        int hh = (int) h, m2 = 2 * hh;
        float[] a = new float[m2 * m2];
        double rs = 1 / Math.sqrt(h);
        for (int m = 0; m < hh; m++)
            for (int y = 0; y < hh; y++) {
                double[] t = cs((long) y * m, h);
                float cosv = (float) (t[0] * rs), sinv = (float) (t[1] * rs);
                a[(2 * m) * m2 + 2 * y] = cosv;
                a[(2 * m) * m2 + 2 * y + 1] = -sinv;
                a[(2 * m + 1) * m2 + 2 * y] = sinv;
                a[(2 * m + 1) * m2 + 2 * y + 1] = cosv;
            }
        return a;
    }

    /** B: the complex-to-real inverse DFT along W from the K stored columns, (2K, W), with irfftn's and Lucent's 1/(4√W). */
    static float[] bw(long w) {
        int k = (int) (w / 2 + 1), ww = (int) w;
        float[] m = new float[2 * k * ww];
        double rs = 1 / (4 * Math.sqrt(w));
        for (int kk = 0; kk < k; kk++) {
            double ck = (kk == 0 || (w % 2 == 0 && kk == w / 2)) ? 1 : 2;
            for (int x = 0; x < ww; x++) {
                double[] t = cs((long) kk * x, w);
                m[kk * ww + x] = (float) (ck * t[0] * rs);
                m[(k + kk) * ww + x] = (float) (-ck * t[1] * rs);
            }
        }
        return m;
    }

    static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[a.length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
        return t;
    }

    @Override
    public Tensor values() {
        return values;
    }

    @Override
    public void init(long seed, long[] index, float sd) {
        ImageParam.normalRows(values, seed, index, sd);
    }

    @Override
    public void forward(Tensor y) {
        try (Tensor sp = b.allocate(values.shape()); Tensor u = b.allocate(n * c, 2 * h, k)) {
            b.binary(BinaryOp.MUL, values, scale, sp);
            if (fftAlongH()) b.dftRows(Views.view(sp, n * c, h, 2, k), Views.view(u, n * c, h, 2, k), true);
            else b.matmul(ah, Views.view(sp, n * c, 2 * h, k), u);
            b.gemm(Views.view(u, n * c * h, 2 * k), bw, null, Views.view(y, n * c * h, w), false, false, 1f, 0f);
        }
    }

    @Override
    public void backward(Tensor dy, Tensor dValues) {
        try (Tensor du = b.allocate(n * c, 2 * h, k)) {
            b.gemm(Views.view(dy, n * c * h, w), bw, null, Views.view(du, n * c * h, 2 * k), false, true, 1f, 0f);
            if (fftAlongH()) b.dftRows(Views.view(du, n * c, h, 2, k), Views.view(dValues, n * c, h, 2, k), false);
            else b.matmul(ahT, du, Views.view(dValues, n * c, 2 * h, k));
            b.binary(BinaryOp.MUL, dValues, scale, dValues);
        }
    }

    @Override
    public void close() {
        for (Tensor t : new Tensor[] {values, scale, ah, ahT, bw}) if (t != null) t.close();
    }
}
