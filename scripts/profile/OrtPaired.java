import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.salient.engine.Backend;
import dev.salient.engine.CpuNative;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import dev.salient.model.OpProfile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * salient's forward pass and ONNX Runtime's in one process, one pass of each in turn, so that both
 * see the same state of a shared machine: on this project's 2-core machines that state moves a
 * single engine's speed by 10-30 % within seconds (other tenants' use of the cores, the memory and the
 * shared L3), more than the differences between the engines, and it moves them at different times in
 * scripts/bench-vs-ort, which measures each engine in forks of its own. Here each pair's ratio is
 * taken within one or two passes, and the median of the pairs' ratios is the comparison.
 *
 * MODEL at BATCH x 3 x 224 x 224, seeded Gaussian input, THREADS threads on both sides (default 2);
 * ORT with spinning off (session.intra_op.allow_spinning=0; its spinning workers would take the cores
 * from salient's in the other half of each pair) and all graph optimisations, salient under the
 * OpenMP policy of its environment (run it with GOMP_SPINCOUNT=3000, the launchers' policy). Warms
 * both up for 5 s (the JIT's first seconds slow both), then alternates for SECONDS. Prints the medians
 * of each engine's passes and of the ratio ORT ms / salient ms (> 1: salient is faster), with its
 * quartiles. Not the JMH table (scripts/bench-vs-ort); a check of what a cell means when its
 * runs disagree.
 *
 * With PREFIX, both engines also profile each measured pass (salient's OpProfile, run with
 * SALIENT_PROFILE=shapes; ORT's per-node profiler writing PREFIX_<date>.json), and after the summary
 * line the output is SalientProfile's (a line of the pass median, then per key the median ms in a
 * pass and its calls a pass) followed by the JSON's path, for scripts/profile/join.py: a per-op
 * comparison in which each op's two figures come from the same minutes (scripts/profile-vs-ort
 * --paired).
 *   java -cp target/salient-benchmarks.jar scripts/profile/OrtPaired.java MODEL BATCH SECONDS [THREADS [PREFIX]]
 */
public class OrtPaired {
    public static void main(String[] a) throws Exception {
        if (a.length < 3) {
            System.err.println("usage: OrtPaired MODEL.onnx BATCH SECONDS [THREADS]");
            System.exit(2);
        }
        Path file = Path.of(a[0]);
        int batch = Integer.parseInt(a[1]);
        double seconds = Double.parseDouble(a[2]);
        int threads = a.length > 3 ? Integer.parseInt(a[3]) : 2;
        String prefix = a.length > 4 ? a[4] : null;
        long[] shape = {batch, 3, 224, 224};
        float[] v = new float[batch * 3 * 224 * 224];
        Random r = new Random(0);
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        CpuNative.salient_set_num_threads(threads);
        Backend b = Engine.cpu();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(threads);
            o.setInterOpNumThreads(1);
            o.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            o.addConfigEntry("session.intra_op.allow_spinning", "0");
            if (prefix != null) o.enableProfiling(prefix);
            FloatBuffer fb = ByteBuffer.allocateDirect(v.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
            fb.put(v).rewind();
            try (Model m = Model.load(file); OrtSession s = env.createSession(file.toString(), o);
                 Tensor x = b.upload(v, shape); OnnxTensor ox = OnnxTensor.createTensor(env, fb, shape)) {
                String in = s.getInputNames().iterator().next();
                List<Double> ts = new ArrayList<>(), to = new ArrayList<>(), ratio = new ArrayList<>();
                Map<String, List<Double>> ops = new TreeMap<>();
                Map<String, Long> calls = new TreeMap<>();
                boolean profiling = prefix != null && OpProfile.on();
                for (int phase = 0; phase < 2; phase++) {
                    OpProfile.enable(profiling && phase == 1);
                    long start = System.nanoTime();
                    double limit = phase == 0 ? 5 : seconds;
                    for (int i = 0; (System.nanoTime() - start) / 1e9 < limit || (phase == 1 && i < 5); i++) {
                        OpProfile.reset();
                        long t0 = System.nanoTime();
                        try (Tensor y = m.forward(b, x)) {
                            b.synchronize();
                        }
                        long t1 = System.nanoTime();
                        try (OrtSession.Result out = s.run(Map.of(in, ox))) {
                            out.get(0);
                        }
                        long t2 = System.nanoTime();
                        if (phase == 1) {
                            ts.add((t1 - t0) / 1e6);
                            to.add((t2 - t1) / 1e6);
                            ratio.add((double) (t2 - t1) / (t1 - t0));
                            if (profiling) {
                                int pass = ts.size() - 1;
                                for (var e : OpProfile.snapshot().entrySet()) {
                                    List<Double> l = ops.computeIfAbsent(e.getKey(), k -> new ArrayList<>());
                                    while (l.size() < pass) l.add(0.0);
                                    l.add(e.getValue()[0] / 1e6);
                                    calls.merge(e.getKey(), e.getValue()[1], Long::sum);
                                }
                            }
                        }
                    }
                }
                Collections.sort(ts);
                Collections.sort(to);
                Collections.sort(ratio);
                int n = ratio.size();
                System.out.printf("%s batch %d, %d threads, %d pairs: salient %.2f ms, ORT %.2f ms (medians); "
                        + "ORT / salient %.3f (quartiles %.3f-%.3f)%n", file.getFileName(), batch, threads, n,
                        ts.get(n / 2), to.get(n / 2), ratio.get(n / 2), ratio.get(n / 4), ratio.get(3 * n / 4));
                if (prefix != null) {
                    if (!profiling) throw new IllegalStateException("PREFIX needs SALIENT_PROFILE=shapes in the environment");
                    System.out.printf("%.3f ms per forward (median of %d)%n", ts.get(n / 2), n);
                    for (var e : ops.entrySet()) {
                        List<Double> l = new ArrayList<>(e.getValue());
                        while (l.size() < n) l.add(0.0);
                        Collections.sort(l);
                        System.out.printf("%s\t%.4f\t%.2f%n", e.getKey(), l.get(n / 2), (double) calls.get(e.getKey()) / n);
                    }
                    System.out.println(s.endProfiling());
                }
            }
        }
    }
}
