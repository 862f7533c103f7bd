import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;

/**
 * ONNX Runtime's forward pass (Java API, CPU, all graph optimisations, THREADS intra-op threads,
 * 1 inter-op, spinning off unless SPIN is "spin") on MODEL at BATCH, input as SalientProfile's, with
 * ORT's own per-node profiler writing PREFIX_<date>.json: warm-up runs for 3 s and at least 3 (as
 * SalientProfile's, past the JIT's first seconds), then RUNS profiled ones;
 * prints the median ms per run and the JSON's path. Used by scripts/profile-vs-ort.
 *   java -cp target/salient-benchmarks.jar scripts/profile/OrtProfile.java MODEL BATCH THREADS RUNS PREFIX [SPIN]
 */
public class OrtProfile {
    public static void main(String[] a) throws Exception {
        int batch = Integer.parseInt(a[1]), threads = Integer.parseInt(a[2]), runs = Integer.parseInt(a[3]);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(threads);
            o.setInterOpNumThreads(1);
            o.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            o.addConfigEntry("session.intra_op.allow_spinning", a.length > 5 && a[5].equals("spin") ? "1" : "0");
            o.enableProfiling(a[4]);
            try (OrtSession s = env.createSession(a[0], o)) {
                String in = s.getInputNames().iterator().next();
                long[] shape = ((ai.onnxruntime.TensorInfo) s.getInputInfo().get(in).getInfo()).getShape();
                shape[0] = batch;
                for (int i = 1; i < shape.length; i++) if (shape[i] < 0) shape[i] = 224;
                long n = 1;
                for (long d : shape) n *= d;
                float[] v = new float[(int) n];
                Random r = new Random(0);
                for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
                FloatBuffer fb = ByteBuffer.allocateDirect(v.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
                fb.put(v).rewind();
                try (OnnxTensor x = OnnxTensor.createTensor(env, fb, shape)) {
                    long w0 = System.nanoTime();
                    for (int i = 0; i < 3 || System.nanoTime() - w0 < 3_000_000_000L; i++)
                        try (OrtSession.Result out = s.run(Map.of(in, x))) { }
                    double[] t = new double[runs];
                    for (int i = 0; i < runs; i++) {
                        long t0 = System.nanoTime();
                        try (OrtSession.Result out = s.run(Map.of(in, x))) { }
                        t[i] = (System.nanoTime() - t0) / 1e6;
                    }
                    Arrays.sort(t);
                    System.out.printf("%.3f ms per run (median of %d, profiling on)%n", t[runs / 2], runs);
                }
                System.out.println(s.endProfiling());
            }
        }
    }
}
