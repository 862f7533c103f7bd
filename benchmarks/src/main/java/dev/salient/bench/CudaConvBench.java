package dev.salient.bench;

import static org.bytedeco.cuda.global.cudnn.*;

import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.engine.cuda.CudaBackend;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.bytedeco.cuda.cudnn.cudnnConvolutionBwdDataAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionFwdAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionStruct;
import org.bytedeco.cuda.cudnn.cudnnFilterStruct;
import org.bytedeco.cuda.cudnn.cudnnTensorStruct;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.SizeTPointer;
import org.openjdk.jmh.annotations.*;

/**
 * GPU conv2d forward and data gradient on the ResNet-50 conv shapes: our kernels
 * ({@link CudaBackend}, exact FP32) against cuDNN on the same kind of device buffers.
 * {@code impl}:
 * <ul>
 *   <li>{@code salient}: {@code CudaBackend.conv2dForward} / {@code conv2dBackwardData};
 *   <li>{@code cudnn_fma}: cuDNN with {@code CUDNN_FMA_MATH}, no tensor cores: the matched
 *       exact-FP32 yardstick;
 *   <li>{@code cudnn_tensor_op}: cuDNN with {@code CUDNN_TENSOR_OP_MATH} (TF32 tensor cores
 *       on sm_80 and newer): the tensor-core yardstick.
 * </ul>
 * cuDNN's algorithm is the fastest that {@code cudnnFind*Algorithm} measures at that math,
 * chosen once per trial with its workspace allocated then (the choice is printed). Each call
 * synchronises the device; the {@code gflop} counter gives GFLOP/s
 * ({@link Conv2dGeometry#flops()}), {@code images} images/s. scripts/bench-gpu runs every
 * shape and prints the ours/cuDNN ratio table.
 *
 * <pre>java -jar target/salient-benchmarks.jar CudaConvBench -p layer=l3_3x3 -p impl=salient,cudnn_fma -p pass=forward</pre>
 *
 * Without a CUDA device (or, for the cuDNN rows, without a loadable cuDNN 9: put e.g.
 * PyTorch's site-packages/nvidia/cudnn/lib on LD_LIBRARY_PATH) the setup fails with one
 * line saying why.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx4g")
public class CudaConvBench {
    @Param({"stem_7x7s2", "l1_reduce_64", "l1_reduce_256", "l1_3x3", "l1_expand", "l2_reduce_first", "l2_3x3s2",
            "l2_down_s2", "l2_reduce", "l2_3x3", "l2_expand", "l3_reduce_first", "l3_3x3s2", "l3_down_s2", "l3_reduce",
            "l3_3x3", "l3_expand", "l4_reduce_first", "l4_3x3s2", "l4_down_s2", "l4_reduce", "l4_3x3", "l4_expand"})
    public String layer;

    @Param({"64"})
    public int batch;

    @Param({"salient", "cudnn_fma", "cudnn_tensor_op"})
    public String impl;

    @Param({"forward", "backward_data"})
    public String pass;

    CudaBackend gpu;
    Conv2dGeometry g;
    Tensor x, w, y, dy, dx, work;
    double gflop;
    Runnable op;

    // cuDNN state of one trial (null for impl=salient)
    cudnnTensorStruct xd, yd;
    cudnnFilterStruct wd;
    cudnnConvolutionStruct cd;
    FloatPointer one, zero;

    /** Per-invocation work, reported by JMH as rates (GFLOP/s, images/s). */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Rates {
        public double gflop;
        public double images;
    }

    @Setup(Level.Trial)
    public void setup() {
        if (!CudaBackend.isAvailable()) throw oneLine("no CUDA device: " + CudaBackend.unavailableReason());
        boolean forward = switch (pass) {
            case "forward" -> true;
            case "backward_data" -> false;
            default -> throw oneLine("pass must be forward or backward_data, got '" + pass + "'");
        };
        try {
            prepare(forward);
        } catch (RuntimeException e) {
            tearDown();
            throw e;
        }
    }

    private void prepare(boolean forward) {
        g = ResNet50Convs.geometry(layer, batch);
        gflop = g.flops() * 1e-9;
        gpu = CudaBackend.create();
        long seed = layer.hashCode();
        double he = Math.sqrt(2.0 / ((double) g.c() / g.groups() * g.r() * g.s()));
        x = random(seed, 1, g.inputShape());
        w = random(seed + 1, he, g.weightShape());
        dy = random(seed + 2, 1, g.outputShape());
        y = gpu.allocate(g.outputShape());
        dx = gpu.allocate(g.inputShape());
        op = switch (impl) {
            case "salient" -> forward ? () -> gpu.conv2dForward(x, w, null, y, g) : () -> gpu.conv2dBackwardData(dy, w, dx, g);
            case "cudnn_fma" -> cudnn(forward, CUDNN_FMA_MATH);
            case "cudnn_tensor_op" -> cudnn(forward, CUDNN_TENSOR_OP_MATH);
            default -> throw oneLine("impl must be salient, cudnn_fma or cudnn_tensor_op, got '" + impl + "'");
        };
        op.run(); // first call outside the timing: lazy module loading, and any error shows here
        gpu.synchronize();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (cd != null) cudnnDestroyConvolutionDescriptor(cd);
        if (wd != null) cudnnDestroyFilterDescriptor(wd);
        if (yd != null) cudnnDestroyTensorDescriptor(yd);
        if (xd != null) cudnnDestroyTensorDescriptor(xd);
        if (one != null) one.close();
        if (zero != null) zero.close();
        if (gpu != null) gpu.close(); // frees every tensor of this trial
        cd = null;
        wd = null;
        yd = null;
        xd = null;
        one = zero = null;
        gpu = null;
    }

    @Benchmark
    public void conv(Rates r) {
        op.run();
        gpu.synchronize();
        r.gflop += gflop;
        r.images += batch;
    }

    // ---- cuDNN

    private static cudnnContext handle;
    private static String cudnnProblem;

    /** One cuDNN handle per JVM on device 0 (creating it loads cuDNN's engines: slow, done once). */
    private static synchronized cudnnContext handle() {
        if (handle == null && cudnnProblem == null) {
            try {
                Loader.load(org.bytedeco.cuda.global.cudnn.class);
                cudnnContext h = new cudnnContext();
                int st = cudnnCreate(h);
                if (st == CUDNN_STATUS_SUCCESS) handle = h;
                else cudnnProblem = "cudnnCreate failed: " + cudnnGetErrorString(st).getString();
            } catch (Throwable t) {
                String m = String.valueOf(t.getMessage());
                cudnnProblem = "cuDNN 9 cannot be loaded (" + t.getClass().getSimpleName() + ": "
                        + m.lines().findFirst().orElse("") + "); put its lib directory on LD_LIBRARY_PATH";
            }
        }
        if (handle == null) throw oneLine(cudnnProblem);
        return handle;
    }

    /** Describes the trial's geometry to cuDNN, finds the fastest algorithm at {@code math}, returns the call. */
    private Runnable cudnn(boolean forward, int math) {
        cudnnContext h = handle();
        xd = new cudnnTensorStruct();
        yd = new cudnnTensorStruct();
        wd = new cudnnFilterStruct();
        cd = new cudnnConvolutionStruct();
        ok(cudnnCreateTensorDescriptor(xd), "x descriptor");
        ok(cudnnCreateTensorDescriptor(yd), "y descriptor");
        ok(cudnnCreateFilterDescriptor(wd), "w descriptor");
        ok(cudnnCreateConvolutionDescriptor(cd), "conv descriptor");
        ok(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n(), g.c(), g.h(), g.w()), "x descriptor");
        ok(cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n(), g.k(), g.outH(), g.outW()), "y descriptor");
        ok(cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, g.k(), g.c() / g.groups(), g.r(), g.s()),
                "w descriptor");
        ok(cudnnSetConvolution2dDescriptor(cd, g.padTop(), g.padLeft(), g.strideH(), g.strideW(), g.dilationH(),
                g.dilationW(), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT), "conv descriptor");
        ok(cudnnSetConvolutionGroupCount(cd, g.groups()), "group count");
        ok(cudnnSetConvolutionMathType(cd, math), "math type");
        one = new FloatPointer(1f);
        zero = new FloatPointer(0f);
        int[] max = {0}, found = {0};
        int algo = -1, algoMath = -1;
        float ms = 0;
        if (forward) {
            ok(cudnnGetConvolutionForwardAlgorithmMaxCount(h, max), "forward algorithm count");
            try (cudnnConvolutionFwdAlgoPerf_t perf = new cudnnConvolutionFwdAlgoPerf_t(max[0])) {
                ok(cudnnFindConvolutionForwardAlgorithm(h, xd, wd, cd, yd, max[0], found, perf), "find forward algorithm");
                for (int i = 0; i < found[0] && algo < 0; i++) {
                    cudnnConvolutionFwdAlgoPerf_t p = perf.getPointer(i);
                    if (p.status() == CUDNN_STATUS_SUCCESS && fits(math, p.mathType())) {
                        algo = p.algo();
                        algoMath = p.mathType();
                        ms = p.time();
                    }
                }
            }
        } else {
            ok(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, max), "backward-data algorithm count");
            try (cudnnConvolutionBwdDataAlgoPerf_t perf = new cudnnConvolutionBwdDataAlgoPerf_t(max[0])) {
                ok(cudnnFindConvolutionBackwardDataAlgorithm(h, wd, yd, cd, xd, max[0], found, perf),
                        "find backward-data algorithm");
                for (int i = 0; i < found[0] && algo < 0; i++) {
                    cudnnConvolutionBwdDataAlgoPerf_t p = perf.getPointer(i);
                    if (p.status() == CUDNN_STATUS_SUCCESS && fits(math, p.mathType())) {
                        algo = p.algo();
                        algoMath = p.mathType();
                        ms = p.time();
                    }
                }
            }
        }
        if (algo < 0) throw oneLine("cuDNN has no " + MATH.get(math) + " algorithm for " + pass + " " + g);
        // cuDNN runs an algorithm with the descriptor's math type. FMA rows keep FMA (no tensor
        // cores whatever Find reported); tensor-op rows run with the math the winner was measured at.
        if (math != CUDNN_FMA_MATH) ok(cudnnSetConvolutionMathType(cd, algoMath), "math type");
        long bytes;
        try (SizeTPointer ws = new SizeTPointer(1)) {
            if (forward) ok(cudnnGetConvolutionForwardWorkspaceSize(h, xd, wd, cd, yd, algo, ws), "forward workspace");
            else ok(cudnnGetConvolutionBackwardDataWorkspaceSize(h, wd, yd, cd, xd, algo, ws), "backward-data workspace");
            bytes = ws.get();
        }
        work = gpu.allocate(bytes / 4 + 1);
        System.out.printf("cudnn %s %s: algo %s, math %s, workspace %.1f MB, %.3f ms when found%n", pass, layer,
                (forward ? FWD_ALGO : BWD_DATA_ALGO).getOrDefault(algo, String.valueOf(algo)),
                MATH.getOrDefault(algoMath, String.valueOf(algoMath)), bytes / 1048576.0, ms);
        int a = algo;
        long size = bytes;
        FloatPointer ws = work.data();
        return forward
                ? () -> ok(cudnnConvolutionForward(h, one, xd, x.data(), wd, w.data(), cd, a, ws, size, zero, yd, y.data()),
                        "cudnnConvolutionForward")
                : () -> ok(cudnnConvolutionBackwardData(h, one, wd, w.data(), yd, dy.data(), cd, a, ws, size, zero, xd,
                        dx.data()), "cudnnConvolutionBackwardData");
    }

    /** FMA rows skip results measured with tensor-op math; tensor-op rows take the fastest of any. */
    private static boolean fits(int requested, int measured) {
        return requested != CUDNN_FMA_MATH
                || (measured != CUDNN_TENSOR_OP_MATH && measured != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
    }

    private static final Map<Integer, String> MATH = Map.of(CUDNN_DEFAULT_MATH, "DEFAULT", CUDNN_TENSOR_OP_MATH,
            "TENSOR_OP", CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, "TENSOR_OP_ALLOW_CONVERSION", CUDNN_FMA_MATH, "FMA");
    private static final Map<Integer, String> FWD_ALGO = Map.of(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, "IMPLICIT_GEMM",
            CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, "IMPLICIT_PRECOMP_GEMM", CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
            "GEMM", CUDNN_CONVOLUTION_FWD_ALGO_DIRECT, "DIRECT", CUDNN_CONVOLUTION_FWD_ALGO_FFT, "FFT",
            CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING, "FFT_TILING", CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD, "WINOGRAD",
            CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED, "WINOGRAD_NONFUSED");
    private static final Map<Integer, String> BWD_DATA_ALGO = Map.of(CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, "ALGO_0",
            CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, "ALGO_1", CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT, "FFT",
            CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING, "FFT_TILING", CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD, "WINOGRAD",
            CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED, "WINOGRAD_NONFUSED");

    private static void ok(int status, String what) {
        if (status != CUDNN_STATUS_SUCCESS) throw new SalientException(what + ": " + cudnnGetErrorString(status).getString());
    }

    // ---- helpers

    /** Uniform in [-scale, scale) from a xorshift stream: fast enough for the 50M-value inputs. */
    private Tensor random(long seed, double scale, long... shape) {
        float[] a = new float[Math.toIntExact(dev.salient.engine.Shapes.numel(shape))];
        long s = seed * 0x9E3779B97F4A7C15L | 1;
        for (int i = 0; i < a.length; i++) {
            s ^= s << 13;
            s ^= s >>> 7;
            s ^= s << 17;
            a[i] = (float) (scale * ((s >>> 40) * 0x1.0p-23 - 1.0));
        }
        return gpu.upload(a, shape);
    }

    /** A setup failure JMH reports as one line (the reason, without a stack trace of ours). */
    private static SalientException oneLine(String message) {
        SalientException e = new SalientException("CudaConvBench: " + message);
        e.setStackTrace(new StackTraceElement[0]);
        return e;
    }
}
