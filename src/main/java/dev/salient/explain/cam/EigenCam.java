package dev.salient.explain.cam;

import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.CamCombine;
import dev.salient.engine.HostLinalg;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.model.Model;

/**
 * Eigen-CAM (Muhammad and Yeasin 2020, arXiv:2008.00299): the projection of the layer's
 * activations, as (h·w × C) rows centred by their column means, on their first principal
 * direction; as pytorch-grad-cam's EigenCAM, with the sign made deterministic (see
 * {@link HostLinalg#principalDirections}: the principal direction is flipped to agree with
 * the sum of the uncentred activations; LAPACK leaves it arbitrary, pytorch-grad-cam issue #315). No gradient, no class: every target gets the same map.
 * Then the CAM pipeline (ReLU, min-max, resize, min-max).
 * <pre>{@code
 * Attribution a = new EigenCam(model, "auto").explain(Engine.cpu(), batch, Target.top1());
 * }</pre>
 */
public class EigenCam extends BaseCam {
    public static final MethodSpec SPEC = MethodSpec.cam("eigencam",
            "projection of the centred (h*w, C) activations on their first principal direction (LAPACK, double); "
                    + "sign: the projection of the uncentred activations sums to >= 0", EigenCam::new);

    public EigenCam(Model model, String layer) {
        super(model, layer);
    }

    public EigenCam(Model model, MethodOptions o) {
        super(model, o);
    }

    @Override
    public MethodSpec spec() {
        return SPEC;
    }

    @Override
    protected boolean usesGradient() {
        return false;
    }

    @Override
    protected void checkLayer(String tensor, long[] layerShape) {
        if (layerShape[1] < 2)
            throw new SalientException(name() + " needs a layer with at least 2 channels for a principal component, but '"
                    + tensor + "' has " + layerShape[1]);
    }

    /** The (N,C,h,w) data whose principal component is taken: the activations. */
    protected Tensor data(Backend b, Tensor a, Tensor g) {
        Tensor t = b.allocate(a.shape());
        b.copy(a, t);
        return t;
    }

    @Override
    protected final Tensor combine(Backend b, Tensor a, Tensor g) {
        int n = (int) a.dim(0), c = (int) a.dim(1), h = (int) a.dim(2), w = (int) a.dim(3), p = h * w;
        Tensor cam = b.allocate(n, h, w);
        try (Tensor m = data(b, a, g); Tensor sums = b.allocate(n, c, 1, 1); Tensor mean = b.allocate(n, c, 1, 1)) {
            b.reduceSumTo(m, sums);
            b.copy(sums, mean);
            b.axpby(0f, sums, 1f / p, mean);
            b.binary(BinaryOp.SUB, m, mean, m);
            float[] v = HostLinalg.principalDirections(m.toArray(), sums.toArray(), n, c, p);
            try (Tensor wt = b.upload(v, n, c)) {
                b.camCombine(CamCombine.WEIGHTED, m, wt, cam);
            }
            return cam;
        } catch (RuntimeException e) {
            cam.close();
            throw e;
        }
    }
}
