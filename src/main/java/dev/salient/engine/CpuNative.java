package dev.salient.engine;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;
import org.bytedeco.openblas.presets.openblas_nolapack;

/**
 * The JavaCPP binding of the CPU engine, {@code native/salient.h} and {@code native/primitives.h}: one static native method per
 * C function, pointers and integers only. Call through {@link CpuBackend}, which
 * checks return codes; this class is the raw ABI.
 */
@Properties(
        inherit = openblas_nolapack.class,
        value = @Platform(
                compiler = {"cpp17", "openmp"},
                include = {"salient.h", "primitives.h"},
                link = {"gomp@.1", "salient_cpu"}))
public final class CpuNative {
    static {
        Loader.load();
    }

    private CpuNative() {}

    // ---- runtime
    public static native @Cast("const char*") BytePointer salient_last_error();
    public static native FloatPointer salient_alloc(long count);
    public static native void salient_free(FloatPointer p);
    public static native void salient_trim();
    public static native FloatPointer salient_host_alloc(long count);
    public static native void salient_host_free(FloatPointer p);
    public static native int salient_host_seal(@Cast("const float*") FloatPointer p, long count);
    public static native int salient_host_unseal(@Cast("const float*") FloatPointer p);
    public static native int salient_release_pages(@Cast("const void*") org.bytedeco.javacpp.Pointer p, long bytes);
    public static native int salient_set_num_threads(int n);
    public static native int salient_get_num_threads();
    public static native int salient_max_threads();
    /** Instruction sets of the CPU kernels (salient.h): the same bits on either. */
    public static final int ISA_AVX2 = 1, ISA_AVX512 = 2;
    public static native int salient_set_isa(int level);
    public static native int salient_get_isa();
    public static native int salient_max_isa();

    // ---- elementwise
    public static final int ACT_RELU = 0, ACT_LEAKY_RELU = 1, ACT_CLIP = 2, ACT_SIGMOID = 3,
            ACT_HARD_SIGMOID = 4, ACT_HARD_SWISH = 5, ACT_ABS = 6;

    public static native int fill_cpu(FloatPointer x, long n, float value);

    public static native int activation_forward_cpu(int kind, @Cast("const float*") FloatPointer x, FloatPointer y,
            long n, float alpha, float beta);
    public static native int activation_backward_cpu(int kind, @Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer dy, FloatPointer dx, long n, float alpha, float beta);

    // ---- 3-D convolution and pooling: geom is SALIENT_CONV3D_GEOM / SALIENT_POOL3D_GEOM ints (salient.h)
    public static native int conv3d_forward_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer w, @Cast("const float*") FloatPointer bias, FloatPointer y,
            @Cast("const int32_t*") int[] geom, int act, float alpha, float beta);
    public static native int conv3d_forward_sum_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer w, @Cast("const float*") FloatPointer bias,
            @Cast("const float*") FloatPointer z, FloatPointer y, @Cast("const int32_t*") int[] geom, int act,
            float alpha, float beta);
    public static native int conv3d_backward_data_cpu(@Cast("const float*") FloatPointer dy,
            @Cast("const float*") FloatPointer w, FloatPointer dx, @Cast("const int32_t*") int[] geom);
    public static native int maxpool3d_forward_cpu(@Cast("const float*") FloatPointer x, FloatPointer y,
            @Cast("const int32_t*") int[] geom);
    public static native int maxpool3d_backward_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer dy, FloatPointer dx, @Cast("const int32_t*") int[] geom);
    public static native int avgpool3d_forward_cpu(@Cast("const float*") FloatPointer x, FloatPointer y,
            @Cast("const int32_t*") int[] geom, int countIncludePad);
    public static native int avgpool3d_backward_cpu(@Cast("const float*") FloatPointer dy, FloatPointer dx,
            @Cast("const int32_t*") int[] geom, int countIncludePad);

    // ---- convolution: x (n,c,h,w), w (k,c/groups,r,s), bias (k) or null, y (n,k,oh,ow)
    public static native int conv2d_forward_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer w, @Cast("const float*") FloatPointer bias, FloatPointer y,
            int n, int c, int h, int wd, int k, int r, int s, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int dilH, int dilW, int groups);
    public static native int conv2d_forward_act_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer w, @Cast("const float*") FloatPointer bias, FloatPointer y,
            int n, int c, int h, int wd, int k, int r, int s, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int dilH, int dilW, int groups,
            int act, float alpha, float beta);
    public static native int conv2d_forward_sum_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer w, @Cast("const float*") FloatPointer bias,
            @Cast("const float*") FloatPointer z, FloatPointer y,
            int n, int c, int h, int wd, int k, int r, int s, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int dilH, int dilW, int groups,
            int act, float alpha, float beta);
    public static native int conv2d_forward_channels_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer w, @Cast("const float*") FloatPointer bias,
            @Cast("const float*") FloatPointer z, @Cast("const float*") FloatPointer channels, FloatPointer y,
            int n, int c, int h, int wd, int k, int r, int s, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int dilH, int dilW, int groups,
            int act, float alpha, float beta);
    public static native int conv2d_forward_pre_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer scale, @Cast("const float*") FloatPointer shift, int preAct,
            float preAlpha, float preBeta, @Cast("const float*") FloatPointer w,
            @Cast("const float*") FloatPointer bias, FloatPointer y, int n, int c, int h, int wd, int k,
            int act, float alpha, float beta);
    public static native int conv2d_pointwise_depthwise_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer w1, @Cast("const float*") FloatPointer b1, int act1, float lo1, float hi1,
            @Cast("const float*") FloatPointer w2, @Cast("const float*") FloatPointer b2, FloatPointer y, int n, int c,
            int h, int wd, int k, int stride, int act2, float lo2, float hi2);
    public static native int conv2d_pointwise_depthwise_applies_cpu(int n, int c, int h, int wd, int k, int stride);
    public static native int conv2d_depthwise_pointwise_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer w1, @Cast("const float*") FloatPointer b1, int act1, float lo1, float hi1,
            @Cast("const float*") FloatPointer w2, @Cast("const float*") FloatPointer b2, FloatPointer y, int n, int c,
            int h, int wd, int stride, int k, int act2, float lo2, float hi2);
    public static native int conv2d_depthwise_pointwise_applies_cpu(int n, int c, int h, int wd, int stride, int k);
    public static native int conv2d_backward_data_cpu(@Cast("const float*") FloatPointer dy,
            @Cast("const float*") FloatPointer w, FloatPointer dx,
            int n, int c, int h, int wd, int k, int r, int s, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int dilH, int dilW, int groups);
    public static native int conv2d_backward_data_relu_cpu(@Cast("const float*") FloatPointer dy,
            @Cast("const float*") FloatPointer w, FloatPointer dx, @Cast("const float*") FloatPointer mask,
            @Cast("const float*") FloatPointer sum, int n, int c, int h, int wd, int k, int r, int s, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int dilH, int dilW, int groups);

    // ---- pooling: x (n,c,h,w), y (n,c,oh,ow)
    public static native int maxpool2d_forward_cpu(@Cast("const float*") FloatPointer x, FloatPointer y,
            int n, int c, int h, int wd, int kh, int kw, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int dilH, int dilW, int oh, int ow);
    public static native int maxpool2d_backward_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer dy, FloatPointer dx,
            int n, int c, int h, int wd, int kh, int kw, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int dilH, int dilW, int oh, int ow);
    public static native int maxpool2d_backward_relu_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer dy, FloatPointer dx,
            int n, int c, int h, int wd, int kh, int kw, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int dilH, int dilW, int oh, int ow, int relu);
    public static native int avgpool2d_forward_cpu(@Cast("const float*") FloatPointer x, FloatPointer y,
            int n, int c, int h, int wd, int kh, int kw, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int dilH, int dilW, int oh, int ow,
            int countIncludePad);
    public static native int avgpool2d_backward_cpu(@Cast("const float*") FloatPointer dy, FloatPointer dx,
            int n, int c, int h, int wd, int kh, int kw, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int dilH, int dilW, int oh, int ow,
            int countIncludePad);

    // ---- broadcasting elementwise (shapes right-aligned, at most MAX_RANK dims)
    public static final int MAX_RANK = 8;
    public static final int BIN_ADD = 0, BIN_SUB = 1, BIN_MUL = 2, BIN_DIV = 3;

    public static native int binary_forward_cpu(int op, @Cast("const float*") FloatPointer a,
            @Cast("const int64_t*") long[] aShape, int aRank, @Cast("const float*") FloatPointer b,
            @Cast("const int64_t*") long[] bShape, int bRank, FloatPointer y,
            @Cast("const int64_t*") long[] yShape, int yRank);
    public static native int prelu_forward_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const int64_t*") long[] xShape, int xRank, @Cast("const float*") FloatPointer slope,
            @Cast("const int64_t*") long[] slopeShape, int slopeRank, FloatPointer y);
    public static native int prelu_backward_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const int64_t*") long[] xShape, int xRank, @Cast("const float*") FloatPointer slope,
            @Cast("const int64_t*") long[] slopeShape, int slopeRank, @Cast("const float*") FloatPointer dy,
            FloatPointer dx);
    public static native int reduce_sum_to_cpu(@Cast("const float*") FloatPointer src,
            @Cast("const int64_t*") long[] srcShape, int srcRank, FloatPointer dst,
            @Cast("const int64_t*") long[] dstShape, int dstRank);
    public static native int channel_affine_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer scale, @Cast("const float*") FloatPointer shift, FloatPointer y,
            long outer, long channels, long inner);
    public static native int channel_affine_act_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer scale, @Cast("const float*") FloatPointer shift, FloatPointer y,
            long outer, long channels, long inner, int act, float alpha, float beta);
    public static native int axpby_cpu(float alpha, @Cast("const float*") FloatPointer x, float beta, FloatPointer y,
            long n);

    // ---- dense
    public static native int gemm_cpu(@Cast("const float*") FloatPointer a, @Cast("const float*") FloatPointer b,
            @Cast("const float*") FloatPointer c, long cRows, long cCols, FloatPointer y, long m, long n, long k,
            int transA, int transB, float alpha, float beta);
    public static native int matmul_cpu(@Cast("const float*") FloatPointer a, @Cast("const int64_t*") long[] aBatch,
            @Cast("const float*") FloatPointer b, @Cast("const int64_t*") long[] bBatch, int batchRank,
            FloatPointer y, long m, long n, long k);

    // ---- softmax over (outer, dim, inner)
    public static native int softmax_forward_cpu(@Cast("const float*") FloatPointer x, FloatPointer y, long outer,
            long dim, long inner);
    public static native int softmax_backward_cpu(@Cast("const float*") FloatPointer y,
            @Cast("const float*") FloatPointer dy, FloatPointer dx, long outer, long dim, long inner);

    // ---- concat / slice over (outer, axis, inner)
    public static native int concat_forward_cpu(@Cast("const float*") FloatPointer x, FloatPointer y, long outer,
            long xAxis, long yAxis, long inner, long offset);
    public static native int slice_axis_cpu(@Cast("const float*") FloatPointer src, FloatPointer dst, long outer,
            long srcAxis, long dstAxis, long inner, long offset);

    // ---- attribution: CAM family (native/cpu/cam.cpp)
    public static final int CAMW_GRADCAM = 0, CAMW_GRADCAMPP = 1, CAMW_XGRADCAM = 2;
    public static final int CAMC_WEIGHTED = 0, CAMC_LAYERCAM = 1, CAMC_HIRESCAM = 2;

    public static native int gradcam_weights_cpu(int kind, @Cast("const float*") FloatPointer a,
            @Cast("const float*") FloatPointer g, FloatPointer w, int n, int k, long p);
    public static native int cam_combine_cpu(int mode, @Cast("const float*") FloatPointer a,
            @Cast("const float*") FloatPointer wg, FloatPointer cam, int n, int k, long p);
    public static native int bilinear_resize_cpu(@Cast("const float*") FloatPointer x, FloatPointer y, int nc,
            int ih, int iw, int oh, int ow);
    public static native int nearest_resize_cpu(@Cast("const float*") FloatPointer x, FloatPointer y, int nc,
            int ih, int iw, int oh, int ow);
    public static native int cam_finish_cpu(FloatPointer cam, FloatPointer out, int n, int h, int w, int oh, int ow);

    // ---- primitives (native/primitives.h: blend.cpp, rows.cpp, random.cpp)
    public static final int REDUCE_SUM = 0, REDUCE_MAX = 1, REDUCE_MIN = 2, REDUCE_MEAN = 3;

    public static native int masked_blend_cpu(@Cast("const float*") FloatPointer x, @Cast("const float*") FloatPointer b,
            @Cast("const float*") FloatPointer m, FloatPointer y, long s, long n, long nb, long d, long dm);
    public static native int coalition_conv_prepare_cpu(@Cast("const float*") FloatPointer x, @Cast("const float*") FloatPointer b,
            @Cast("const int32_t*") org.bytedeco.javacpp.IntPointer labels, @Cast("const float*") FloatPointer w,
            @Cast("const float*") FloatPointer bias, @Cast("const int32_t*") org.bytedeco.javacpp.IntPointer segs, FloatPointer part,
            FloatPointer bout, int c, int h, int wd, int k, int r, int s, int sh, int sw, int pt, int pl, int oh, int ow, int slots);
    public static native int coalition_conv_cpu(@Cast("const int32_t*") org.bytedeco.javacpp.IntPointer segs,
            @Cast("const float*") FloatPointer part, @Cast("const float*") FloatPointer bout, @Cast("const float*") FloatPointer design,
            FloatPointer y, int k, int oh, int ow, int slots, int m, int count, long rowStride, int act, float lo, float hi,
            int poolKh, int poolKw, int poolSh, int poolSw, int poolPt, int poolPl, int poolOh, int poolOw);
    public static native int weighted_sum_cpu(@Cast("const float*") FloatPointer g, @Cast("const float*") FloatPointer w,
            FloatPointer acc, long s, long r);
    public static native int reduce_rows_cpu(int op, @Cast("const float*") FloatPointer x, FloatPointer y, long r, long l);
    public static native int argsort_rows_cpu(@Cast("const float*") FloatPointer x, FloatPointer order, FloatPointer rank,
            long r, long l);
    public static native int random_normal_cpu(@Cast("uint64_t") long seed, @Cast("uint64_t") long offset, FloatPointer y,
            long n);

    // ---- relevance (native/primitives.h: secant.cpp)
    public static native int secant_backward_cpu(@Cast("const float*") FloatPointer x, @Cast("const float*") FloatPointer y,
            @Cast("const float*") FloatPointer dy, FloatPointer dx, long h, float eps, int own);
    public static native int secant_relu_half_cpu(@Cast("const float*") FloatPointer x, @Cast("const float*") FloatPointer y,
            @Cast("const float*") FloatPointer dy, FloatPointer dx, long h, float eps, long repeat, long row,
            @Cast("int64_t*") long[] straddles);
    public static native int stab_divide_cpu(@Cast("const float*") FloatPointer r, @Cast("const float*") FloatPointer z,
            FloatPointer y, long n, float eps);
    public static native int norm_shares_cpu(@Cast("const float*") FloatPointer a, @Cast("const float*") FloatPointer b,
            @Cast("const float*") FloatPointer r, FloatPointer da, FloatPointer db, long n, float eps);

    // ---- feature visualisation (native/primitives.h: resample.cpp, adam.cpp)
    public static native int crop_pad_cpu(@Cast("const float*") FloatPointer x, @Cast("const float*") FloatPointer offsets,
            float fill, FloatPointer y, long n, long c, long ih, long iw, long oh, long ow);
    public static native int affine_resample_forward_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer theta, FloatPointer y, long n, long c, long ih, long iw, long oh, long ow);
    public static native int affine_resample_backward_cpu(@Cast("const float*") FloatPointer dy,
            @Cast("const float*") FloatPointer theta, FloatPointer dx, long n, long c, long ih, long iw, long oh, long ow);
    public static native int dft_rows_cpu(@Cast("const float*") FloatPointer x, FloatPointer y, long planes, long h, long k,
            int sign);
    public static native int adam_step_cpu(FloatPointer p, @Cast("const float*") FloatPointer g, FloatPointer m,
            FloatPointer v, long n, float beta1, float beta2, float eps, float stepSize, float bc2Sqrt);
    public static native int redirected_relu_backward_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer dy, FloatPointer dx, long rows, long per);

    // ---- host linear algebra of the eigen and clustering CAMs (native/cpu/principal.cpp)
    public static native int principal_directions_cpu(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer sums, FloatPointer out, int n, int k, int p);
    public static native int pairwise_distances_cpu(@Cast("const float*") FloatPointer x,
            org.bytedeco.javacpp.DoublePointer dist, int n, int d);

    // ---- superpixels and the coalition regressions (native/cpu/slic.cpp, regression.cpp)
    public static native int slic_cpu(@Cast("const float*") FloatPointer image, int c, int h, int w, int nSegments,
            double compactness, org.bytedeco.javacpp.IntPointer labels, org.bytedeco.javacpp.IntPointer count);
    public static native int weighted_lstsq_cpu(@Cast("const double*") org.bytedeco.javacpp.DoublePointer x,
            @Cast("const double*") org.bytedeco.javacpp.DoublePointer y, @Cast("const double*") org.bytedeco.javacpp.DoublePointer w,
            int n, int m, org.bytedeco.javacpp.DoublePointer coef, org.bytedeco.javacpp.DoublePointer intercept);
    public static native int weighted_lasso_cpu(@Cast("const double*") org.bytedeco.javacpp.DoublePointer x,
            @Cast("const double*") org.bytedeco.javacpp.DoublePointer y, @Cast("const double*") org.bytedeco.javacpp.DoublePointer w,
            int n, int m, double alpha, int maxSweeps, double tol, org.bytedeco.javacpp.DoublePointer coef,
            org.bytedeco.javacpp.DoublePointer intercept, org.bytedeco.javacpp.IntPointer sweeps);

    // ---- ROAD's noisy linear imputation (native/cpu/imputation.cpp)
    public static native long road_band_bytes_cpu(@Cast("const uint8_t*") org.bytedeco.javacpp.BytePointer keep, int h, int w);
    public static native int road_impute_cpu(@Cast("const float*") FloatPointer x, int c, int h, int w,
            @Cast("const uint8_t*") org.bytedeco.javacpp.BytePointer keep, int count, FloatPointer out, long maxBandBytes);
}
