package dev.salient.engine.cuda;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * The JavaCPP binding of {@code kernels/salient_cuda.h} and {@code kernels/primitives_cuda.h}: one static native method per C
 * function, pointers and integers only. Tensor pointers are device pointers. Call through
 * {@link CudaBackend}, which checks return codes; this class is the raw ABI and loading it
 * fails (UnsatisfiedLinkError) on a machine without the CUDA runtime.
 *
 * <p>Every device call of the Java side goes through this ABI (memory, copies, kernels,
 * synchronisation); none goes to cudart directly. So under {@code SALIENT_CUDA=emulate}
 * ({@link CudaRuntime#EMULATE}) the same JNI glue binds to {@code libsalient_cuda_emu.so},
 * the kernels built with g++ against kernels/emu/, and the cudart presets are not loaded.
 */
@Properties(
        inherit = org.bytedeco.cuda.presets.cudart.class,
        value = @Platform(include = {"salient_cuda.h", "primitives_cuda.h"}, link = "salient_cuda"))
public final class CudaNative {
    static {
        if (CudaRuntime.EMULATE) CudaRuntime.loadEmulation();
        else Loader.load();
    }

    private CudaNative() {}

    // ---- runtime
    public static native @Cast("const char*") BytePointer salient_cuda_last_error();
    public static native int salient_cuda_device_count();
    public static native @Cast("const char*") BytePointer salient_cuda_probe_error();
    public static native int salient_cuda_device_describe(int device, @Cast("char*") byte[] buf, int len);
    public static native int salient_cuda_set_device(int device);
    public static native int salient_cuda_runtime_version();
    public static native int salient_cuda_driver_version();
    public static native FloatPointer salient_cuda_malloc(long count);
    public static native int salient_cuda_free(FloatPointer p);
    public static native int salient_cuda_mem_info(@Cast("int64_t*") long[] freeBytes, @Cast("int64_t*") long[] totalBytes);
    public static native int salient_cuda_upload(FloatPointer dst, long dstOffset, @Cast("const float*") float[] src, long count);
    public static native int salient_cuda_download(float[] dst, @Cast("const float*") FloatPointer src, long srcOffset, long count);
    public static native int salient_cuda_copy(FloatPointer dst, long dstOffset, @Cast("const float*") FloatPointer src,
            long srcOffset, long count);
    public static native int salient_cuda_synchronize();
    public static native int salient_cuda_set_memory_limit(long bytes);
    public static native int salient_cuda_is_emulated();

    // ---- elementwise
    public static native int fill_cuda(FloatPointer x, long n, float value);
    public static native int activation_forward_cuda(int kind, @Cast("const float*") FloatPointer x, FloatPointer y,
            long n, float alpha, float beta);
    public static native int activation_backward_cuda(int kind, @Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer dy, FloatPointer dx, long n, float alpha, float beta);
    public static native int axpby_cuda(float alpha, @Cast("const float*") FloatPointer x, float beta, FloatPointer y, long n);
    public static native int channel_affine_cuda(@Cast("const float*") FloatPointer x, @Cast("const float*") FloatPointer scale,
            @Cast("const float*") FloatPointer shift, FloatPointer y, long outer, long channels, long inner);

    // ---- broadcasting
    public static native int binary_forward_cuda(int op, @Cast("const float*") FloatPointer a,
            @Cast("const int64_t*") long[] aShape, int aRank, @Cast("const float*") FloatPointer b,
            @Cast("const int64_t*") long[] bShape, int bRank, FloatPointer y, @Cast("const int64_t*") long[] yShape, int yRank);
    public static native int prelu_forward_cuda(@Cast("const float*") FloatPointer x, @Cast("const int64_t*") long[] xShape,
            int xRank, @Cast("const float*") FloatPointer slope, @Cast("const int64_t*") long[] slopeShape, int slopeRank,
            FloatPointer y);
    public static native int prelu_backward_cuda(@Cast("const float*") FloatPointer x, @Cast("const int64_t*") long[] xShape,
            int xRank, @Cast("const float*") FloatPointer slope, @Cast("const int64_t*") long[] slopeShape, int slopeRank,
            @Cast("const float*") FloatPointer dy, FloatPointer dx);
    public static native int reduce_sum_to_cuda(@Cast("const float*") FloatPointer src, @Cast("const int64_t*") long[] srcShape,
            int srcRank, FloatPointer dst, @Cast("const int64_t*") long[] dstShape, int dstRank);

    // ---- softmax, concat, slice
    public static native int softmax_forward_cuda(@Cast("const float*") FloatPointer x, FloatPointer y, long outer, long dim,
            long inner);
    public static native int softmax_backward_cuda(@Cast("const float*") FloatPointer y, @Cast("const float*") FloatPointer dy,
            FloatPointer dx, long outer, long dim, long inner);
    public static native int concat_forward_cuda(@Cast("const float*") FloatPointer x, FloatPointer y, long outer, long xAxis,
            long yAxis, long inner, long offset);
    public static native int slice_axis_cuda(@Cast("const float*") FloatPointer src, FloatPointer dst, long outer, long srcAxis,
            long dstAxis, long inner, long offset);

    // ---- convolution
    public static native int conv2d_forward_cuda(@Cast("const float*") FloatPointer x, @Cast("const float*") FloatPointer w,
            @Cast("const float*") FloatPointer bias, FloatPointer y, int n, int c, int h, int wd, int k, int r, int s,
            int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight, int dilH, int dilW, int groups);
    public static native int conv2d_forward_channels_cuda(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer w, @Cast("const float*") FloatPointer bias,
            @Cast("const float*") FloatPointer z, @Cast("const float*") FloatPointer channels, FloatPointer y,
            int n, int c, int h, int wd, int k, int r, int s, int strideH, int strideW, int padTop, int padLeft,
            int padBottom, int padRight, int dilH, int dilW, int groups, int act, float alpha, float beta);
    public static native int conv2d_backward_data_cuda(@Cast("const float*") FloatPointer dy,
            @Cast("const float*") FloatPointer w, FloatPointer dx, int n, int c, int h, int wd, int k, int r, int s,
            int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight, int dilH, int dilW, int groups);

    // ---- pooling
    public static native int maxpool2d_forward_cuda(@Cast("const float*") FloatPointer x, FloatPointer y, int n, int c, int h,
            int wd, int kh, int kw, int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight,
            int dilH, int dilW, int oh, int ow);
    public static native int maxpool2d_backward_cuda(@Cast("const float*") FloatPointer x, @Cast("const float*") FloatPointer dy,
            FloatPointer dx, int n, int c, int h, int wd, int kh, int kw, int strideH, int strideW, int padTop,
            int padLeft, int padBottom, int padRight, int dilH, int dilW, int oh, int ow);
    public static native int avgpool2d_forward_cuda(@Cast("const float*") FloatPointer x, FloatPointer y, int n, int c, int h,
            int wd, int kh, int kw, int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight,
            int dilH, int dilW, int oh, int ow, int countIncludePad);
    public static native int avgpool2d_backward_cuda(@Cast("const float*") FloatPointer dy, FloatPointer dx, int n, int c,
            int h, int wd, int kh, int kw, int strideH, int strideW, int padTop, int padLeft, int padBottom,
            int padRight, int dilH, int dilW, int oh, int ow, int countIncludePad);

    // ---- 3-D convolution and pooling: geom is SALIENT_CONV3D_GEOM / SALIENT_POOL3D_GEOM host ints (salient.h)
    public static native int conv3d_forward_cuda(@Cast("const float*") FloatPointer x, @Cast("const float*") FloatPointer w,
            @Cast("const float*") FloatPointer bias, FloatPointer y, @Cast("const int32_t*") int[] geom, int act,
            float alpha, float beta);
    public static native int conv3d_backward_data_cuda(@Cast("const float*") FloatPointer dy,
            @Cast("const float*") FloatPointer w, FloatPointer dx, @Cast("const int32_t*") int[] geom);
    public static native int maxpool3d_forward_cuda(@Cast("const float*") FloatPointer x, FloatPointer y,
            @Cast("const int32_t*") int[] geom);
    public static native int maxpool3d_backward_cuda(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer dy, FloatPointer dx, @Cast("const int32_t*") int[] geom);
    public static native int avgpool3d_forward_cuda(@Cast("const float*") FloatPointer x, FloatPointer y,
            @Cast("const int32_t*") int[] geom, int countIncludePad);
    public static native int avgpool3d_backward_cuda(@Cast("const float*") FloatPointer dy, FloatPointer dx,
            @Cast("const int32_t*") int[] geom, int countIncludePad);

    // ---- dense
    public static native int gemm_cuda(@Cast("const float*") FloatPointer a, @Cast("const float*") FloatPointer b,
            @Cast("const float*") FloatPointer c, long cRows, long cCols, FloatPointer y, long m, long n, long k,
            int transA, int transB, float alpha, float beta);
    public static native int matmul_cuda(@Cast("const float*") FloatPointer a, @Cast("const int64_t*") long[] aBatch,
            @Cast("const float*") FloatPointer b, @Cast("const int64_t*") long[] bBatch, int batchRank, FloatPointer y,
            long m, long n, long k);

    // ---- attribution: CAM family
    public static native int gradcam_weights_cuda(int kind, @Cast("const float*") FloatPointer a,
            @Cast("const float*") FloatPointer g, FloatPointer w, int n, int k, long p);
    public static native int cam_combine_cuda(int mode, @Cast("const float*") FloatPointer a,
            @Cast("const float*") FloatPointer wg, FloatPointer cam, int n, int k, long p);
    public static native int bilinear_resize_cuda(@Cast("const float*") FloatPointer x, FloatPointer y, int nc, int ih, int iw,
            int oh, int ow);
    public static native int nearest_resize_cuda(@Cast("const float*") FloatPointer x, FloatPointer y, int nc, int ih, int iw,
            int oh, int ow);
    public static native int cam_finish_cuda(FloatPointer cam, FloatPointer out, int n, int h, int w, int oh, int ow);

    // ---- primitives (kernels/primitives_cuda.h: blend.cu, rows.cu, random.cu); m and w are device pointers
    public static native int masked_blend_cuda(@Cast("const float*") FloatPointer x, @Cast("const float*") FloatPointer b,
            @Cast("const float*") FloatPointer m, FloatPointer y, long s, long n, long nb, long d, long dm);
    public static native int coalition_conv_prepare_cuda(@Cast("const float*") FloatPointer x, @Cast("const float*") FloatPointer b,
            @Cast("const float*") FloatPointer labels, @Cast("const float*") FloatPointer w, @Cast("const float*") FloatPointer bias,
            @Cast("const float*") FloatPointer segs, FloatPointer part, FloatPointer bout, int c, int h, int wd, int k, int r, int s,
            int sh, int sw, int pt, int pl, int oh, int ow, int slots);
    public static native int coalition_conv_cuda(@Cast("const float*") FloatPointer segs, @Cast("const float*") FloatPointer part,
            @Cast("const float*") FloatPointer bout, @Cast("const float*") FloatPointer design, FloatPointer y, int k, int oh, int ow,
            int slots, int m, int count, long first, long step, long row, int act, float lo, float hi, int poolKh, int poolKw,
            int poolSh, int poolSw, int poolPt, int poolPl, int poolOh, int poolOw);
    public static native int weighted_sum_cuda(@Cast("const float*") FloatPointer g, @Cast("const float*") FloatPointer w,
            FloatPointer acc, long s, long r);
    public static native int reduce_rows_cuda(int op, @Cast("const float*") FloatPointer x, FloatPointer y, long r, long l);
    public static native int argsort_rows_cuda(@Cast("const float*") FloatPointer x, FloatPointer order, FloatPointer rank,
            long r, long l);
    public static native int random_normal_cuda(@Cast("uint64_t") long seed, @Cast("uint64_t") long offset, FloatPointer y,
            long n);

    // ---- relevance (kernels/primitives_cuda.h: secant.cu)
    public static native int secant_backward_cuda(@Cast("const float*") FloatPointer x, @Cast("const float*") FloatPointer y,
            @Cast("const float*") FloatPointer dy, FloatPointer dx, long h, float eps, int own);
    public static native int stab_divide_cuda(@Cast("const float*") FloatPointer r, @Cast("const float*") FloatPointer z,
            FloatPointer y, long n, float eps);
    public static native int norm_shares_cuda(@Cast("const float*") FloatPointer a, @Cast("const float*") FloatPointer b,
            @Cast("const float*") FloatPointer r, FloatPointer da, FloatPointer db, long n, float eps);

    // ---- feature visualisation (kernels/primitives_cuda.h: resample.cu, adam.cu); offsets and theta are device pointers
    public static native int crop_pad_cuda(@Cast("const float*") FloatPointer x, @Cast("const float*") FloatPointer offsets,
            float fill, FloatPointer y, long n, long c, long ih, long iw, long oh, long ow);
    public static native int affine_resample_forward_cuda(@Cast("const float*") FloatPointer x,
            @Cast("const float*") FloatPointer theta, FloatPointer y, long n, long c, long ih, long iw, long oh, long ow);
    public static native int affine_resample_backward_cuda(@Cast("const float*") FloatPointer dy,
            @Cast("const float*") FloatPointer theta, FloatPointer dx, long n, long c, long ih, long iw, long oh, long ow);
    public static native int dft_rows_cuda(@Cast("const float*") FloatPointer x, FloatPointer y, long planes, long h, long k,
            int sign);
    public static native int adam_step_cuda(FloatPointer p, @Cast("const float*") FloatPointer g, FloatPointer m,
            FloatPointer v, long n, float beta1, float beta2, float eps, float stepSize, float bc2Sqrt);
}
