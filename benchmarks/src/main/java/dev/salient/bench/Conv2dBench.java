package dev.salient.bench;

import dev.salient.engine.Backend;
import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.Engine;
import dev.salient.engine.CpuNative;
import dev.salient.engine.Tensor;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * CPU conv2d forward and data gradient on the ResNet-50 conv shapes. Besides
 * the time per call, the {@code gflop} and {@code images} counters give GFLOP/s
 * and images/s; compare with {@link SgemmBench} (the machine's OpenBLAS SGEMM
 * peak) and with scripts/bench_conv_pytorch.py (PyTorch CPU on the same threads).
 *
 * <pre>java -jar target/salient-benchmarks.jar Conv2dBench -p batch=32 -p threads=2</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx8g")
public class Conv2dBench {
    @Param({"stem_7x7s2", "l1_reduce_64", "l1_reduce_256", "l1_3x3", "l1_expand", "l2_reduce_first", "l2_3x3s2",
            "l2_down_s2", "l2_reduce", "l2_3x3", "l2_expand", "l3_reduce_first", "l3_3x3s2", "l3_down_s2", "l3_reduce",
            "l3_3x3", "l3_expand", "l4_reduce_first", "l4_3x3s2", "l4_down_s2", "l4_reduce", "l4_3x3", "l4_expand"})
    public String layer;

    @Param({"32"})
    public int batch;

    @Param({"2"})
    public int threads;

    Backend backend;
    Conv2dGeometry g;
    Tensor x, w, bias, y, dy, dx;

    /** Per-invocation work, reported by JMH as rates (GFLOP/s, images/s). */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Rates {
        public double gflop;
        public double images;
    }

    @Setup(Level.Trial)
    public void setup() {
        CpuNative.salient_set_num_threads(threads);
        backend = Engine.cpu();
        g = ResNet50Convs.geometry(layer, batch);
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
        backend.conv2dForward(x, w, bias, y, g);
        r.gflop += g.flops() * 1e-9;
        r.images += batch;
        return y;
    }

    @Benchmark
    public Tensor backwardData(Rates r) {
        backend.conv2dBackwardData(dy, w, dx, g);
        r.gflop += g.flops() * 1e-9;
        r.images += batch;
        return dx;
    }
}
