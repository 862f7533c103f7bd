package dev.salient.bench;

import dev.salient.engine.Backend;
import dev.salient.engine.CpuNative;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.Baseline;
import dev.salient.explain.Baselines;
import dev.salient.explain.Explainer;
import dev.salient.explain.Target;
import dev.salient.explain.relevance.Composite;
import dev.salient.explain.relevance.DeepLift;
import dev.salient.explain.relevance.DeepLiftShap;
import dev.salient.explain.relevance.Lrp;
import dev.salient.model.Model;
import dev.salient.model.OpProfile;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * The relevance family on an ONNX model at a batch size: LRP with the epsilon-plus composite
 * (modified weights cached after the first call), DeepLIFT against a zero baseline and
 * DeepLiftShap against two uniform baselines; the
 * {@code images} counter gives images/s. The model is a path parameter, e.g. the torchvision
 * ResNet-50 that scripts/bench-relevance-vs-pytorch exports:
 *
 * <pre>java -jar target/salient-benchmarks.jar RelevanceBench -p model=/tmp/resnet50.onnx -p batch=8</pre>
 *
 * {@link #main} times the same workloads outside JMH (warm-up, then repeats; median seconds), for
 * the side-by-side script; with {@code SALIENT_PROFILE=1} it also prints the time per op kind
 * ({@link OpProfile}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx8g")
public class RelevanceBench {
    @Param({"src/main/resources/dev/salient/demo/fashion_cnn.onnx"})
    public String model;

    @Param({"lrp", "deeplift", "deepliftshap"})
    public String workload;

    @Param({"8"})
    public int batch;

    @Param({"2"})
    public int threads;

    @Param({"cpu"})
    public String device;

    Backend backend;
    Model m;
    Tensor x;
    Explainer method;

    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Rates {
        public double images;
    }

    @Setup(Level.Trial)
    public void setup() {
        CpuNative.salient_set_num_threads(threads);
        backend = Engine.forName(device);
        m = Model.load(Path.of(model));
        x = input(backend, m, batch);
        method = method(m, workload);
    }

    static Tensor input(Backend backend, Model m, int batch) {
        long[] shape = m.inputs().get(0).shape().clone();
        shape[0] = batch;
        for (int i = 1; i < shape.length; i++) if (shape[i] < 0) shape[i] = i == 1 ? 3 : 224;
        long n = 1;
        for (long d : shape) n *= d;
        float[] v = new float[Math.toIntExact(n)];
        Random r = new Random(0);
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return backend.upload(v, shape);
    }

    static Explainer method(Model m, String workload) {
        return switch (workload) {
            case "lrp" -> new Lrp(m, Composite.EPSILON_PLUS);
            case "deeplift" -> new DeepLift(m, Baseline.zeros());
            // two uniform baselines (Captum repeats every input against each: 2N pairs)
            case "deepliftshap" -> new DeepLiftShap(m, Baselines.parse("uniform:2:0", 0));
            default -> throw new IllegalArgumentException(workload);
        };
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        x.close();
        m.close();
    }

    @Benchmark
    public Object run(Rates rates) {
        rates.images += batch;
        return method.explain(backend, x, Target.top1());
    }

    /**
     * {@code MODEL WORKLOAD BATCH THREADS REPEATS [BUDGET_MIB]}: one warm-up, then REPEATS timed runs;
     * prints each and the median. BUDGET_MIB sets the method's memory budget (default: the
     * Explainer's, 1 GiB), which bounds how many images a chunk runs at once.
     */
    public static void main(String[] args) {
        String model = args[0], workload = args[1];
        int batch = Integer.parseInt(args[2]), threads = Integer.parseInt(args[3]), repeats = Integer.parseInt(args[4]);
        CpuNative.salient_set_num_threads(threads);
        Backend b = Engine.cpu();
        try (Model m = Model.load(Path.of(model)); Tensor x = input(b, m, batch)) {
            Explainer e = method(m, workload);
            if (args.length > 5) e.memoryBudget(Long.parseLong(args[5]) << 20);
            e.explain(b, x, Target.top1());
            OpProfile.reset();
            double[] t = new double[repeats];
            for (int i = 0; i < repeats; i++) {
                long t0 = System.nanoTime();
                e.explain(b, x, Target.top1());
                t[i] = (System.nanoTime() - t0) / 1e9;
                System.out.printf("salient %s run %d: %.3f s%n", workload, i, t[i]);
            }
            Arrays.sort(t);
            System.out.printf("salient %s median %.3f s, %.3f img/s%n", workload, t[repeats / 2], batch / t[repeats / 2]);
            if (OpProfile.on()) System.out.printf("salient %s profile over the %d timed runs:%n%s", workload, repeats, OpProfile.report());
        }
    }
}
