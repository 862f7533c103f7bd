package dev.salient.visualize;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;

/**
 * Adam (Kingma &amp; Ba, arXiv:1412.6980) as torch.optim.Adam with its defaults
 * (betas 0.9, 0.999, eps 1e-8, no weight decay), Lucid/Lucent's optimiser at lr 0.05.
 * Its moments live on the engine next to the parameters; one step is one elementwise
 * kernel ({@link Backend#adamStep}).
 *
 * <pre>{@code
 * try (Adam adam = new Adam(b, params, 0.05f)) { adam.step(params, grad); }
 * }</pre>
 */
public final class Adam implements AutoCloseable {
    public static final float BETA1 = 0.9f, BETA2 = 0.999f, EPS = 1e-8f;
    private final Backend b;
    private final Tensor m, v;
    private final float lr;
    private int t;

    public Adam(Backend b, Tensor params, float lr) {
        this.b = b;
        this.lr = lr;
        this.m = b.zeros(params.shape());
        Tensor vv;
        try {
            vv = b.zeros(params.shape());
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        this.v = vv;
    }

    /** params −= the Adam update for the gradient of the loss being minimised. */
    public void step(Tensor params, Tensor grad) {
        b.adamStep(params, grad, m, v, lr, BETA1, BETA2, EPS, ++t);
    }

    public int steps() {
        return t;
    }

    @Override
    public void close() {
        m.close();
        v.close();
    }
}
