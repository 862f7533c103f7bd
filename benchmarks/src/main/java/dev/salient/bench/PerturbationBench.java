package dev.salient.bench;

import dev.salient.engine.Backend;
import dev.salient.engine.CpuNative;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.Explainer;
import dev.salient.explain.MethodOptions;
import dev.salient.explain.MethodSpec;
import dev.salient.explain.Methods;
import dev.salient.explain.Target;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * The gradient-free methods whose cost is thousands of forward passes, as
 * scripts/bench-perturbation-vs-pytorch times them against the peers: Score-CAM at the last
 * layer (batch 1, one masked image per channel) and occlusion (window 16, stride 8), on a model
 * given by path (the torchvision ResNet-50 and MobileNetV2 that the script exports). The
 * {@code images} counter gives images/s; {@code forwards} the forward passes per second.
 *
 * <pre>java -jar target/salient-benchmarks.jar PerturbationBench -p model=/tmp/resnet50.onnx -p method=scorecam -p batch=1
 * java -jar target/salient-benchmarks.jar PerturbationBench -p model=/tmp/mobilenet_v2.onnx -p method=occlusion -p batch=4</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 3)
@Fork(value = 1, jvmArgsAppend = "-Xmx8g")
public class PerturbationBench {
    @Param({"src/main/resources/dev/salient/demo/fashion_cnn.onnx"})
    public String model;

    @Param({"scorecam", "occlusion"})
    public String method;

    @Param({"1"})
    public int batch;

    @Param({"224"})
    public int size;

    @Param({"2"})
    public int threads;

    @Param({"cpu"})
    public String device;

    Backend backend;
    Model m;
    Tensor x;
    Explainer explainer;

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
        for (int i = 1; i < shape.length; i++) if (shape[i] < 0) shape[i] = i == 1 ? 3 : size;
        long n = 1;
        for (long d : shape) n *= d;
        float[] v = new float[Math.toIntExact(n)];
        Random r = new Random(0);
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        x = backend.upload(v, shape);
        MethodSpec spec = Methods.get(method);
        Map<String, String> o = new LinkedHashMap<>();
        if (method.equals("occlusion")) {
            o.put("--window", "16");
            o.put("--stride", "8");
        }
        explainer = spec.create(m, MethodOptions.parse(spec, o));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        x.close();
        m.close();
    }

    @Benchmark
    public Object run(Rates rates) {
        rates.images += batch;
        return explainer.explain(backend, x, Target.top1());
    }
}
