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
 * CPU and the GPU alike and its adjoint is the transposed products:
 * <pre>
 *   values (N,C,H,2,K), K = W/2+1: row y holds Re Z[y,0..K) then Im Z[y,0..K)
 *   T  = (values ⊙ scale) viewed (N·C·H, 2K) · Mw (2K, 2W)      the real transform along W
 *   x  = Mh (H, 2H) · T viewed (N·C, 2H, W)                       the complex one along H, real part
 * </pre>
 * With {@code c_k} = 1 for k = 0 and k = W/2 (W even), else 2 (the Hermitian half; irfft drops
 * the imaginary parts of those two bins, and their sines vanish):
 * {@code Mw[k,n] = c_k cos(2πkn/W)/√W, Mw[k,W+n] = Mw[K+k,n] = −c_k sin(2πkn/W)/√W,
 * Mw[K+k,W+n] = −c_k cos(2πkn/W)/√W} and {@code Mh[m,2y] = cos(2πym/H)/(4√H), Mh[m,2y+1] = sin(2πym/H)/(4√H)}.
 * That is x = Re Σ_y Σ_k c_k Z[y,k] e^{2πi(ym/H + kn/W)} / (4√(HW)), numpy's irfftn.
 * For H, W ≤ 512 the products cost 4·H·W·(H+W)·N·C FLOPs per pass, a few per cent of a CNN's.
 */
final class FourierImage implements ImageParam {
    private final Backend b;
    private final long n, c, h, w, k;
    private final Tensor values, scale, mw, mh, mhT;

    FourierImage(Backend b, long n, long c, long h, long w) {
        this.b = b;
        this.n = n;
        this.c = c;
        this.h = h;
        this.w = w;
        this.k = w / 2 + 1;
        Tensor v = null, s = null, a = null, m = null, mt = null;
        try {
            v = b.zeros(n, c, h, 2, k);
            s = b.upload(scale(h, w), 1, 1, h, 2, k);
            a = b.upload(mw(w), 2 * k, 2 * w);
            float[] hm = mh(h);
            m = b.upload(hm, h, 2 * h);
            mt = b.upload(transpose(hm, (int) h, (int) (2 * h)), 2 * h, h);
        } catch (RuntimeException e) {
            for (Tensor t : new Tensor[] {v, s, a, m, mt}) if (t != null) t.close();
            throw e;
        }
        values = v;
        scale = s;
        mw = a;
        mh = m;
        mhT = mt;
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

    static float[] mw(long w) {
        int k = (int) (w / 2 + 1), ww = (int) w;
        float[] m = new float[2 * k * 2 * ww];
        double rs = 1 / Math.sqrt(w);
        for (int kk = 0; kk < k; kk++) {
            double ck = (kk == 0 || (w % 2 == 0 && kk == w / 2)) ? 1 : 2;
            for (int x = 0; x < ww; x++) {
                double[] t = cs((long) kk * x, w);
                float cosv = (float) (ck * t[0] * rs), sinv = (float) (ck * t[1] * rs);
                m[kk * 2 * ww + x] = cosv;
                m[kk * 2 * ww + ww + x] = -sinv;
                m[(k + kk) * 2 * ww + x] = -sinv;
                m[(k + kk) * 2 * ww + ww + x] = -cosv;
            }
        }
        return m;
    }

    static float[] mh(long h) {
        int hh = (int) h;
        float[] m = new float[hh * 2 * hh];
        double rs = 1 / (4 * Math.sqrt(h));
        for (int row = 0; row < hh; row++)
            for (int y = 0; y < hh; y++) {
                double[] t = cs((long) y * row, h);
                m[row * 2 * hh + 2 * y] = (float) (t[0] * rs);
                m[row * 2 * hh + 2 * y + 1] = (float) (t[1] * rs);
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
        try (Tensor sp = b.allocate(values.shape()); Tensor t = b.allocate(n * c * h, 2 * w)) {
            b.binary(BinaryOp.MUL, values, scale, sp);
            b.gemm(Views.view(sp, n * c * h, 2 * k), mw, null, t, false, false, 1f, 0f);
            b.matmul(mh, Views.view(t, n * c, 2 * h, w), Views.view(y, n * c, h, w));
        }
    }

    @Override
    public void backward(Tensor dy, Tensor dValues) {
        try (Tensor dt = b.allocate(n * c, 2 * h, w)) {
            b.matmul(mhT, Views.view(dy, n * c, h, w), dt);
            b.gemm(Views.view(dt, n * c * h, 2 * w), mw, null, Views.view(dValues, n * c * h, 2 * k), false, true, 1f, 0f);
            b.binary(BinaryOp.MUL, dValues, scale, dValues);
        }
    }

    @Override
    public void close() {
        for (Tensor t : new Tensor[] {values, scale, mw, mh, mhT}) t.close();
    }
}
