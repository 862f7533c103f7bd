package dev.salient.engine;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;
import org.bytedeco.openblas.presets.openblas_nolapack;

/**
 * The JavaCPP binding of {@code native/salient.h}: one static native method per
 * C function, pointers and integers only. Call through {@link CpuBackend}, which
 * checks return codes; this class is the raw ABI.
 */
@Properties(
        inherit = openblas_nolapack.class,
        value = @Platform(
                compiler = {"cpp17", "openmp"},
                include = "salient.h",
                link = {"gomp@.1", "salient_cpu"}))
public final class SalientNative {
    static {
        Loader.load();
    }

    private SalientNative() {}

    // ---- runtime
    public static native @Cast("const char*") BytePointer salient_last_error();
    public static native FloatPointer salient_alloc(long count);
    public static native void salient_free(FloatPointer p);
    public static native int salient_set_num_threads(int n);
    public static native int salient_get_num_threads();

    // ---- elementwise
    public static final int ACT_RELU = 0, ACT_LEAKY_RELU = 1, ACT_CLIP = 2, ACT_SIGMOID = 3,
            ACT_HARD_SIGMOID = 4, ACT_HARD_SWISH = 5;

    public static native int fill_cpu(FloatPointer x, long n, float value);

    public static native int activation_forward_cpu(int kind, @Cast("const float*") FloatPointer x, FloatPointer y,
            long n, float alpha, float beta);
    public static native int activation_backward_cpu(int kind, @Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer dy, FloatPointer dx, long n, float alpha, float beta);

    // ---- attribution: CAM family (native/cpu/cam.cpp)
    public static final int CAMW_GRADCAM = 0, CAMW_GRADCAMPP = 1, CAMW_XGRADCAM = 2;
    public static final int CAMC_WEIGHTED = 0, CAMC_LAYERCAM = 1, CAMC_HIRESCAM = 2;

    public static native int gradcam_weights_cpu(int kind, @Cast("const float*") FloatPointer a,
            @Cast("const float*") FloatPointer g, FloatPointer w, int n, int k, long p);
    public static native int cam_combine_cpu(int mode, @Cast("const float*") FloatPointer a,
            @Cast("const float*") FloatPointer wg, FloatPointer cam, int n, int k, long p);
    public static native int bilinear_resize_cpu(@Cast("const float*") FloatPointer x, FloatPointer y, int nc,
            int ih, int iw, int oh, int ow);
    public static native int cam_finish_cpu(FloatPointer cam, FloatPointer out, int n, int h, int w, int oh, int ow);

    // ---- attribution: Integrated Gradients (native/cpu/ig.cpp)
    public static native int ig_interpolate_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer b, @Cast("const float*") FloatPointer alphas, FloatPointer y,
            int s, int n, long d);
    public static native int ig_accumulate_cpu(@Cast("const float*") FloatPointer g,
            @Cast("const float*") FloatPointer weights, FloatPointer acc, int s, int n, long d);
}
