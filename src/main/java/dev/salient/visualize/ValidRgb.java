package dev.salient.visualize;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;

/**
 * Lucent's {@code to_valid_rgb} (lucent/optvis/param/color.py, after Lucid): for 3 channels,
 * optionally recorrelate the colours with the square root of ImageNet's colour correlation,
 * {@code rgb[c'] = Σ_c M[c',c] x[c]} with Lucid's matrix normalised by its largest column norm,
 * then a sigmoid to [0,1]. The matrix product runs on the engine (a broadcast matmul over
 * pixels); other channel counts skip the colour step.
 */
final class ValidRgb implements AutoCloseable {
    /** Lucid's color_correlation_svd_sqrt. */
    static final float[][] COLOR_CORRELATION_SVD_SQRT = {{0.26f, 0.09f, 0.02f}, {0.27f, 0.00f, -0.05f}, {0.27f, -0.09f, 0.03f}};

    private final Backend b;
    private final Tensor matrix, matrixT;

    ValidRgb(Backend b, long channels, boolean decorrelate) {
        this.b = b;
        if (decorrelate && channels == 3) {
            float[] m = normalised();
            Tensor mm = b.upload(m, 3, 3);
            try {
                matrixT = b.upload(FourierImage.transpose(m, 3, 3), 3, 3);
            } catch (RuntimeException e) {
                mm.close();
                throw e;
            }
            matrix = mm;
        } else {
            matrix = matrixT = null;
        }
    }

    /** The matrix divided by its largest column norm (numpy, in float32 as Lucent does). */
    static float[] normalised() {
        float[][] m = COLOR_CORRELATION_SVD_SQRT;
        float max = 0;
        for (int j = 0; j < 3; j++) {
            float s = 0;
            for (int i = 0; i < 3; i++) s += m[i][j] * m[i][j];
            max = Math.max(max, (float) Math.sqrt(s));
        }
        float[] out = new float[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) out[i * 3 + j] = m[i][j] / max;
        return out;
    }

    boolean decorrelates() {
        return matrix != null;
    }

    /** pre (N,C,H,W) = M · x per pixel (or a copy of x); y = sigmoid(pre). */
    void forward(Tensor x, Tensor pre, Tensor y) {
        mix(matrix, x, pre);
        b.activationForward(Activation.SIGMOID, pre, y, 0f, 0f);
    }

    /** dx = Mᵀ · (dy ⊙ σ'(pre)); dy is overwritten with dy ⊙ σ'(pre). */
    void backward(Tensor pre, Tensor dy, Tensor dx) {
        b.activationBackward(Activation.SIGMOID, pre, dy, dy, 0f, 0f);
        mix(matrixT, dy, dx);
    }

    private void mix(Tensor m, Tensor x, Tensor y) {
        if (m == null) {
            b.copy(x, y);
            return;
        }
        long n = x.dim(0), hw = x.dim(2) * x.dim(3);
        b.matmul(m, Views.view(x, n, 3, hw), Views.view(y, n, 3, hw));
    }

    @Override
    public void close() {
        if (matrix != null) matrix.close();
        if (matrixT != null) matrixT.close();
    }
}
