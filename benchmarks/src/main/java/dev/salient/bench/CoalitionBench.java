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
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * The coalition methods end to end on one image: KernelSHAP (default), LIME or Shapley
 * sampling with {@code samples} coalitions over {@code segments} (SLIC with 50 segments by
 * default, computed in the timed call as a user's run does), forward passes batched by the
 * driver. One call is one image, so the score is images/s; scripts/bench-kernelshap runs it
 * beside a Captum-style PyTorch KernelShap. The model and input are paths, e.g. the ResNet-18
 * and the 224² photograph that script writes:
 *
 * <pre>java -jar target/salient-benchmarks.jar CoalitionBench -p model=/tmp/kshap/resnet18.onnx -p input=/tmp/kshap/x.npy</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx8g")
public class CoalitionBench {
    @Param({"src/main/resources/dev/salient/demo/fashion_cnn.onnx"})
    public String model;

    /** An NPY (1,C,H,W), or "" for a smooth synthetic image of the model's input shape (224² when dynamic). */
    @Param({""})
    public String input;

    @Param({"kernelshap"})
    public String method;

    @Param({"200"})
    public int samples;

    @Param({"slic:50"})
    public String segments;

    @Param({"2"})
    public int threads;

    @Param({"cpu"})
    public String device;

    Backend backend;
    Model m;
    Tensor x;
    Explainer explainer;

    @Setup(Level.Trial)
    public void setup() {
        CpuNative.salient_set_num_threads(threads);
        backend = Engine.forName(device);
        m = Model.load(Path.of(model));
        NdArray a;
        if (!input.isEmpty()) a = Npy.read(Path.of(input));
        else {
            long[] shape = m.inputs().get(0).shape().clone();
            shape[0] = 1;
            for (int i = 1; i < shape.length; i++) if (shape[i] < 0) shape[i] = i == 1 ? 3 : 224;
            int c = (int) shape[1], h = (int) shape[2], w = (int) shape[3];
            float[] v = new float[c * h * w];
            for (int k = 0; k < c; k++)
                for (int y = 0; y < h; y++)
                    for (int xx = 0; xx < w; xx++)
                        v[(k * h + y) * w + xx] = (float) Math.sin(0.05 * (k + 1) * y) * (float) Math.cos(0.07 * xx);
            a = new NdArray(shape, v);
        }
        x = a.upload(backend);
        MethodSpec spec = Methods.get(method);
        explainer = spec.create(m, MethodOptions.parse(spec, Map.of("--segments", segments, "--samples", "" + samples)));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        x.close();
        m.close();
    }

    @Benchmark
    public Object explain() {
        return explainer.explain(backend, x, Target.top1());
    }
}
