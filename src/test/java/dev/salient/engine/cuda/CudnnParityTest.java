package dev.salient.engine.cuda;

import static org.bytedeco.cuda.global.cudnn.*;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.bytedeco.cuda.cudnn.cudnnConvolutionStruct;
import org.bytedeco.cuda.cudnn.cudnnFilterStruct;
import org.bytedeco.cuda.cudnn.cudnnTensorStruct;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.SizeTPointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Our conv kernels against cuDNN (FP32 FMA math, no tensor cores) on the same device
 * buffers: |ours - cudnn| <= 1e-5 + 1e-4 |cudnn|. Skips without a CUDA device or without a
 * loadable cuDNN 9 (on a machine where cuDNN comes with PyTorch, put its
 * site-packages/nvidia/cudnn/lib on LD_LIBRARY_PATH). cuDNN's 2-D descriptor takes
 * symmetric pads, so the asymmetric cases live in CudaParityTest only.
 */
class CudnnParityTest {
    static CudaBackend gpu;
    static cudnnContext handle;
    static String skip;

    @BeforeAll
    static void open() {
        if (!CudaBackend.isAvailable()) {
            skip = "no CUDA device: " + CudaBackend.unavailableReason();
            return;
        }
        if (CudaBackend.isEmulated()) {
            skip = "GPU only: cuDNN comparisons need a real device (the CUDA backend is the CPU emulation)";
            return;
        }
        try {
            Loader.load(org.bytedeco.cuda.global.cudnn.class);
            handle = new cudnnContext();
            int st = cudnnCreate(handle);
            if (st != CUDNN_STATUS_SUCCESS) skip = "cudnnCreate failed: " + cudnnGetErrorString(st).getString();
        } catch (Throwable t) {
            skip = "cuDNN cannot be loaded: " + t;
        }
        if (skip == null) gpu = CudaBackend.create();
    }

    @AfterAll
    static void close() {
        if (handle != null && skip == null) cudnnDestroy(handle);
        if (gpu != null) gpu.close();
    }

    static void ok(int status, String what) {
        if (status != CUDNN_STATUS_SUCCESS) fail(what + ": " + cudnnGetErrorString(status).getString());
    }

    static Stream<Arguments> geometries() {
        return Stream.of(
                // n c h w k r s sh sw pt pl pb pr dh dw groups (symmetric pads)
                Arguments.of(new Conv2dGeometry(4, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)),
                Arguments.of(new Conv2dGeometry(4, 256, 56, 56, 64, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1)),
                Arguments.of(new Conv2dGeometry(4, 128, 56, 56, 128, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1)),
                Arguments.of(new Conv2dGeometry(2, 3, 224, 224, 64, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1)),
                Arguments.of(new Conv2dGeometry(4, 512, 14, 14, 256, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1)),
                Arguments.of(new Conv2dGeometry(2, 32, 28, 28, 32, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1)),
                Arguments.of(new Conv2dGeometry(2, 64, 28, 28, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4)),
                Arguments.of(new Conv2dGeometry(2, 96, 28, 28, 96, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 96)));
    }

    @ParameterizedTest
    @MethodSource("geometries")
    void forwardAndBackwardDataMatchCudnn(Conv2dGeometry g) {
        assumeTrue(skip == null, skip);
        Random rnd = new Random(7);
        double he = Math.sqrt(2.0 / ((double) g.c() / g.groups() * g.r() * g.s()));
        try (Tensor x = upload(rnd, 1, g.inputShape()); Tensor w = upload(rnd, he, g.weightShape());
                Tensor dy = upload(rnd, 1, g.outputShape()); Tensor yOurs = gpu.allocate(g.outputShape());
                Tensor yRef = gpu.allocate(g.outputShape()); Tensor dxOurs = gpu.allocate(g.inputShape());
                Tensor dxRef = gpu.allocate(g.inputShape())) {
            cudnnTensorStruct xd = new cudnnTensorStruct(), yd = new cudnnTensorStruct();
            cudnnFilterStruct wd = new cudnnFilterStruct();
            cudnnConvolutionStruct cd = new cudnnConvolutionStruct();
            ok(cudnnCreateTensorDescriptor(xd), "x descriptor");
            ok(cudnnCreateTensorDescriptor(yd), "y descriptor");
            ok(cudnnCreateFilterDescriptor(wd), "w descriptor");
            ok(cudnnCreateConvolutionDescriptor(cd), "conv descriptor");
            try {
                ok(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n(), g.c(), g.h(), g.w()), "x");
                ok(cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n(), g.k(), g.outH(), g.outW()), "y");
                ok(cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, g.k(), g.c() / g.groups(), g.r(), g.s()), "w");
                ok(cudnnSetConvolution2dDescriptor(cd, g.padTop(), g.padLeft(), g.strideH(), g.strideW(), g.dilationH(),
                        g.dilationW(), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT), "conv");
                ok(cudnnSetConvolutionGroupCount(cd, g.groups()), "groups");
                ok(cudnnSetConvolutionMathType(cd, CUDNN_FMA_MATH), "FMA math");
                try (FloatPointer one = new FloatPointer(1f); FloatPointer zero = new FloatPointer(0f);
                        SizeTPointer ws = new SizeTPointer(1)) {
                    // deterministic FMA algorithms, the precomputed-index ones first where cuDNN supports the shape
                    int fwd = -1;
                    for (int algo : new int[] {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
                            CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM}) {
                        if (cudnnGetConvolutionForwardWorkspaceSize(handle, xd, wd, cd, yd, algo, ws) == CUDNN_STATUS_SUCCESS) {
                            fwd = algo;
                            break;
                        }
                    }
                    assertTrue(fwd >= 0, "cuDNN supports no implicit-GEMM forward for " + g);
                    try (Tensor work = gpu.allocate(Math.max(1, ws.get() / 4 + 1))) {
                        ok(cudnnConvolutionForward(handle, one, xd, x.data(), wd, w.data(), cd, fwd, work.data(), ws.get(),
                                zero, yd, yRef.data()), "cudnnConvolutionForward");
                    }
                    int bwd = -1;
                    for (int algo : new int[] {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_CONVOLUTION_BWD_DATA_ALGO_0}) {
                        if (cudnnGetConvolutionBackwardDataWorkspaceSize(handle, wd, yd, cd, xd, algo, ws) == CUDNN_STATUS_SUCCESS) {
                            bwd = algo;
                            break;
                        }
                    }
                    assertTrue(bwd >= 0, "cuDNN supports no backward-data algorithm 0/1 for " + g);
                    try (Tensor work = gpu.allocate(Math.max(1, ws.get() / 4 + 1))) {
                        ok(cudnnConvolutionBackwardData(handle, one, wd, w.data(), yd, dy.data(), cd, bwd, work.data(),
                                ws.get(), zero, xd, dxRef.data()), "cudnnConvolutionBackwardData");
                    }
                }
            } finally {
                cudnnDestroyTensorDescriptor(xd);
                cudnnDestroyTensorDescriptor(yd);
                cudnnDestroyFilterDescriptor(wd);
                cudnnDestroyConvolutionDescriptor(cd);
            }
            gpu.conv2dForward(x, w, null, yOurs, g);
            gpu.conv2dBackwardData(dy, w, dxOurs, g);
            CudaParityTest.assertClose("conv forward vs cuDNN " + g, yRef.toArray(), yOurs.toArray());
            CudaParityTest.assertClose("conv backward-data vs cuDNN " + g, dxRef.toArray(), dxOurs.toArray());
        }
    }

    /** N(0, scale^2) data; weights use He scaling (as trained CNNs have), so outputs are O(1). */
    static Tensor upload(Random rnd, double scale, long... shape) {
        float[] a = new float[(int) Shapes.numel(shape)];
        for (int i = 0; i < a.length; i++) a[i] = (float) (scale * rnd.nextGaussian());
        return gpu.upload(a, shape);
    }
}
