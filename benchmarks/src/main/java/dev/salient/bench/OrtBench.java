package dev.salient.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.CpuNative;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * Forward pass of salient and of ONNX Runtime (its Java API, CPU execution provider, all graph
 * optimisations) on the same ONNX model, input, batch and thread count. The {@code images}
 * counter gives images/s. ORT runs with {@code threads} intra-op threads and one inter-op thread,
 * sequential execution, as a Java service would configure it; salient with {@code threads}
 * OpenMP threads. {@code engine=ort} keeps ORT's default of spinning idle workers;
 * {@code engine=ort-nospin} turns spinning off ({@code session.intra_op.allow_spinning=0}), which is
 * the faster of the two on a machine shared with other work. {@code scripts/bench-vs-ort} runs salient
 * under OpenMP passive (what its launchers set) and again under libgomp's default wait policy (idle
 * workers spin a while, then sleep), and takes the faster, as it does for ORT.
 *
 * <p>The models are seeded full-size torchvision networks written by
 * {@code scripts/make_arch_fixtures.py --export-full DIR}; {@code scripts/bench-vs-ort} builds
 * them, runs this benchmark with {@link SgemmBench} in one JMH run and prints the ratio table.
 *
 * <pre>java -jar target/salient-benchmarks.jar OrtBench -p dir=bench-models -p model=resnet50 -p batch=1,32</pre>
 *
 * <p>At the end of each trial the fork prints its peak resident set ({@code VmHWM}) on a line
 * starting with {@code # peak-rss}: each trial runs in its own JVM with one engine loaded, so the
 * figure compares the engines' memory at the same JVM baseline.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
// 6 s of warm-up: salient's Java side (the plan's steps, shape checks) was still being compiled by
// C2 after 3 s, and a compile thread that takes one of the two cores stalls both workers at the next
// barrier (2026-12-03: MobileNetV2's first measured iteration 107-113 img/s, the next four 126-146;
// ORT's steady from the first)
@Warmup(iterations = 6, time = 1)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "-Xmx4g")
public class OrtBench {
    @Param({"bench-models"})
    public String dir;

    @Param({"resnet18", "resnet50", "mobilenet_v2", "densenet121"})
    public String model;

    @Param({"1", "32"})
    public int batch;

    @Param({"salient", "ort", "ort-nospin"})
    public String engine;

    @Param({"2"})
    public int threads;

    @Param({"224"})
    public int size;

    // salient
    Backend backend;
    Model m;
    Tensor x;
    // ONNX Runtime
    OrtEnvironment env;
    OrtSession session;
    OnnxTensor ox;
    String inputName;

    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Rates {
        public double images;
    }

    @Setup(Level.Trial)
    public void setup() throws OrtException {
        Path file = Path.of(dir, model + ".onnx");
        if (!Files.isRegularFile(file))
            throw new IllegalArgumentException(file + " not found (scripts/make_arch_fixtures.py --export-full " + dir + ")");
        long[] shape = {batch, 3, size, size};
        float[] v = new float[batch * 3 * size * size];
        Random r = new Random(0);
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        switch (engine) {
            case "salient" -> {
                CpuNative.salient_set_num_threads(threads);
                backend = Engine.cpu();
                m = Model.load(file);
                x = backend.upload(v, shape);
            }
            case "ort", "ort-nospin" -> {
                env = OrtEnvironment.getEnvironment();
                try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
                    o.setIntraOpNumThreads(threads);
                    o.setInterOpNumThreads(1);
                    o.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
                    o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                    if (engine.equals("ort-nospin")) o.addConfigEntry("session.intra_op.allow_spinning", "0");
                    session = env.createSession(file.toString(), o);
                }
                inputName = session.getInputNames().iterator().next();
                FloatBuffer fb = ByteBuffer.allocateDirect(v.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
                fb.put(v).rewind();
                ox = OnnxTensor.createTensor(env, fb, shape);
            }
            default -> throw new IllegalArgumentException("engine " + engine + " (salient, ort or ort-nospin)");
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws OrtException, IOException {
        String hwm = Files.readAllLines(Path.of("/proc/self/status")).stream()
                .filter(l -> l.startsWith("VmHWM:")).findFirst().orElse("VmHWM: ? kB");
        long kb = Long.parseLong(hwm.replaceAll("[^0-9]", "").isEmpty() ? "0" : hwm.replaceAll("[^0-9]", ""));
        System.out.printf("# peak-rss engine=%s model=%s batch=%d threads=%d MiB=%.1f%n",
                engine, model, batch, threads, kb / 1024.0);
        if (m != null) {
            x.close();
            m.close();
        }
        if (session != null) {
            ox.close();
            session.close();
        }
    }

    @Benchmark
    public Object forward(Rates rates) throws OrtException {
        rates.images += batch;
        if (session != null) {
            try (OrtSession.Result out = session.run(Map.of(inputName, ox))) {
                return ((OnnxTensor) out.get(0)).getFloatBuffer().get(0);
            }
        }
        try (Tensor y = m.forward(backend, x)) {
            backend.synchronize();
            return y.numel();
        }
    }
}
