package dev.salient.bench;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.CpuNative;
import dev.salient.engine.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * The machine's SGEMM roofline through the engine's canonical SGEMM (Backend.gemm:
 * native/cpu/gemm_canonical.cpp, split over the threads, on the widest instruction set the
 * processor has): C(n,n) = A(n,n) B(n,n), 2n^3 FLOPs, reported as GFLOP/s by the {@code gflop}
 * counter. Conv2dBench's GFLOP/s are quoted against this.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1)
public class SgemmBench {
    @Param({"1024"})
    public int n;

    @Param({"2"})
    public int threads;

    Backend backend;
    Tensor a, b, c;

    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Rates {
        public double gflop;
    }

    @Setup(Level.Trial)
    public void setup() {
        CpuNative.salient_set_num_threads(threads);
        backend = Engine.cpu();
        a = backend.allocate(n, n);
        b = backend.allocate(n, n);
        c = backend.allocate(n, n);
        backend.fill(a, 0.5f);
        backend.fill(b, 0.25f);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        a.close();
        b.close();
        c.close();
    }

    @Benchmark
    public Tensor sgemm(Rates r) {
        backend.gemm(a, b, null, c, false, false, 1f, 0f);
        r.gflop += 2.0 * n * n * (double) n * 1e-9;
        return c;
    }
}
