package dev.salient.bench;

import dev.salient.engine.Backend;
import dev.salient.engine.Conv3dGeometry;
import dev.salient.engine.CpuNative;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * CPU conv3d forward and data gradient on the conv layers of the narrow R3D that
 * scripts/bench_volume_gradcam.py explains (widths 16-32-64-128, one BasicBlock per stage,
 * input (batch,1,64,112,112)). The {@code gflop} counter gives GFLOP/s (2 * n * k * od*oh*ow *
 * c/groups * kd*kh*kw per call); the stride-1 3x3x3 layers run Winograd (native/cpu/conv3d_winograd.cpp),
 * the stem and the strided ones the implicit GEMM forward (conv3d_implicit.cpp). Whole Grad-CAM on
 * that model: {@link ExplainBench} with {@code -p model=r3d.onnx -p workload=gradcam -p batch=2}.
 *
 * <pre>java -jar target/salient-benchmarks.jar Conv3dBench -p batch=2 -p threads=2</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx8g")
public class Conv3dBench {
    @Param({"stem_3x7x7s122", "l1_3x3x3", "l2_3x3x3s2", "l2_down_s2", "l2_3x3x3", "l3_3x3x3s2", "l3_3x3x3",
            "l4_3x3x3s2", "l4_3x3x3"})
    public String layer;

    @Param({"2"})
    public int batch;

    @Param({"2"})
    public int threads;

    Backend backend;
    Conv3dGeometry g;
    Tensor x, w, bias, y, dy, dx;

    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Rates {
        public double gflop;
    }

    static int[] v(int d, int h, int w) {
        return new int[] {d, h, w};
    }

    /** The R3D conv layers at (n,1,64,112,112): n, c, k, groups, in, kernel, stride, pads, pads, dilation. */
    static Conv3dGeometry geometry(String layer, int n) {
        int[] one = v(1, 1, 1), zero = v(0, 0, 0), k3 = v(3, 3, 3), s2 = v(2, 2, 2);
        return switch (layer) {
            case "stem_3x7x7s122" -> new Conv3dGeometry(n, 1, 16, 1, v(64, 112, 112), v(3, 7, 7), v(1, 2, 2), v(1, 3, 3), v(1, 3, 3), one);
            case "l1_3x3x3" -> new Conv3dGeometry(n, 16, 16, 1, v(64, 56, 56), k3, one, one, one, one);
            case "l2_3x3x3s2" -> new Conv3dGeometry(n, 16, 32, 1, v(64, 56, 56), k3, s2, one, one, one);
            case "l2_down_s2" -> new Conv3dGeometry(n, 16, 32, 1, v(64, 56, 56), one, s2, zero, zero, one);
            case "l2_3x3x3" -> new Conv3dGeometry(n, 32, 32, 1, v(32, 28, 28), k3, one, one, one, one);
            case "l3_3x3x3s2" -> new Conv3dGeometry(n, 32, 64, 1, v(32, 28, 28), k3, s2, one, one, one);
            case "l3_3x3x3" -> new Conv3dGeometry(n, 64, 64, 1, v(16, 14, 14), k3, one, one, one, one);
            case "l4_3x3x3s2" -> new Conv3dGeometry(n, 64, 128, 1, v(16, 14, 14), k3, s2, one, one, one);
            case "l4_3x3x3" -> new Conv3dGeometry(n, 128, 128, 1, v(8, 7, 7), k3, one, one, one, one);
            default -> throw new IllegalArgumentException("unknown layer " + layer);
        };
    }

    @Setup(Level.Trial)
    public void setup() {
        CpuNative.salient_set_num_threads(threads);
        backend = Engine.cpu();
        g = geometry(layer, batch);
        Random rnd = new Random(1);
        x = upload(rnd, g.inputShape());
        w = upload(rnd, g.weightShape());
        bias = upload(rnd, g.k());
        y = backend.allocate(g.outputShape());
        dy = upload(rnd, g.outputShape());
        dx = backend.allocate(g.inputShape());
    }

    private Tensor upload(Random rnd, long... shape) {
        float[] a = new float[Math.toIntExact(dev.salient.engine.Shapes.numel(shape))];
        for (int i = 0; i < a.length; i++) a[i] = rnd.nextFloat() - 0.5f;
        return backend.upload(a, shape);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (Tensor t : new Tensor[] {x, w, bias, y, dy, dx}) t.close();
    }

    @Benchmark
    public Tensor forward(Rates r) {
        backend.conv3dForward(x, w, bias, y, g);
        r.gflop += g.flops() * 1e-9;
        return y;
    }

    @Benchmark
    public Tensor backwardData(Rates r) {
        backend.conv3dBackwardData(dy, w, dx, g);
        r.gflop += g.flops() * 1e-9;
        return dx;
    }
}
