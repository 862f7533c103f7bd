package dev.salient.bench;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.CpuNative;
import dev.salient.engine.Tensor;
import dev.salient.explain.cam.GradCam;
import dev.salient.explain.gradient.IntegratedGradients;
import dev.salient.explain.Target;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * Whole-model workloads: forward, Grad-CAM (backward only down to the layer)
 * and IG (Gauss-Legendre steps) on an ONNX model, at a batch size; the
 * {@code images} counter gives images/s. The model is a path parameter, e.g. a
 * torchvision ResNet-50 exported by scripts/bench-vs-pytorch:
 *
 * <pre>java -jar target/salient-benchmarks.jar ExplainBench -p model=/tmp/resnet50.onnx -p workload=gradcam -p batch=32</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx8g")
public class ExplainBench {
    @Param({"src/main/resources/dev/salient/demo/fashion_cnn.onnx"})
    public String model;

    @Param({"forward", "gradcam", "ig"})
    public String workload;

    @Param({"32"})
    public int batch;

    @Param({"50"})
    public int steps;

    @Param({"2"})
    public int threads;

    @Param({"cpu"})
    public String device;

    Backend backend;
    Model m;
    Tensor x;
    GradCam cam;
    IntegratedGradients ig;

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
        long[] shape = m.inputs().get(0).shape().clone();
        shape[0] = batch;
        for (int i = 1; i < shape.length; i++) if (shape[i] < 0) shape[i] = i == 1 ? 3 : 224;
        long n = 1;
        for (long d : shape) n *= d;
        float[] v = new float[Math.toIntExact(n)];
        Random r = new Random(0);
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        x = backend.upload(v, shape);
        cam = new GradCam(m, "auto");
        ig = new IntegratedGradients(m);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        x.close();
        m.close();
    }

    @Benchmark
    public Object run(Rates rates) {
        rates.images += batch;
        return switch (workload) {
            case "forward" -> {
                try (Tensor y = m.forward(backend, x)) {
                    backend.synchronize();
                    yield y.numel();
                }
            }
            case "gradcam" -> cam.explain(backend, x, Target.top1());
            case "ig" -> ig.explain(backend, x, Target.top1(), IntegratedGradients.Options.steps(steps));
            default -> throw new IllegalArgumentException(workload);
        };
    }

}
