import dev.salient.engine.Backend;
import dev.salient.engine.CpuNative;
import dev.salient.engine.Engine;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import dev.salient.model.OpProfile;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * salient's forward pass on MODEL at BATCH (the model's declared input shape, dynamic
 * dimensions but the batch set to 224), THREADS OpenMP threads, seeded Gaussian input: warm-up
 * passes for 3 s and at least 20 (fewer left a batch-1 profile inside the JIT's first seconds: MobileNetV2
 * read 10.5 ms a pass over 40 passes, 4.3 over 2500), then RUNS profiled ones, each timed and profiled on its own (run with
 * SALIENT_PROFILE=shapes for one key per op and input shapes). Prints the median ms per pass, then
 * one tab-separated line per OpProfile key: the median over the passes of its ms in a pass, and its
 * calls per pass. Medians, because on a shared machine a few passes that lose their time slices
 * move a mean by more than the differences looked for (MobileNetV2 at batch 1: 7.9 ms a pass as the
 * mean, 4.9 as the median). Used by scripts/profile-vs-ort.
 *   java -cp target/salient-benchmarks.jar scripts/profile/SalientProfile.java MODEL BATCH THREADS RUNS
 */
public class SalientProfile {
    public static void main(String[] a) throws Exception {
        int batch = Integer.parseInt(a[1]), threads = Integer.parseInt(a[2]), runs = Integer.parseInt(a[3]);
        CpuNative.salient_set_num_threads(threads);
        Backend b = Engine.cpu();
        try (Model m = Model.load(Path.of(a[0]))) {
            long[] shape = m.inputs().get(0).shape();
            shape[0] = batch;
            for (int i = 1; i < shape.length; i++) if (shape[i] < 0) shape[i] = 224;
            float[] v = new float[(int) Shapes.numel(shape)];
            Random r = new Random(0);
            for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
            double[] pass = new double[runs];
            Map<String, double[]> ms = new TreeMap<>();
            Map<String, Long> calls = new TreeMap<>();
            try (Tensor x = b.upload(v, shape)) {
                boolean on = OpProfile.on();
                OpProfile.enable(false);
                long w0 = System.nanoTime();
                for (int i = 0; i < 20 || System.nanoTime() - w0 < 3_000_000_000L; i++)
                    try (Tensor y = m.forward(b, x)) { b.synchronize(); }
                OpProfile.enable(on);
                for (int i = 0; i < runs; i++) {
                    OpProfile.reset();
                    long t0 = System.nanoTime();
                    try (Tensor y = m.forward(b, x)) { b.synchronize(); }
                    pass[i] = (System.nanoTime() - t0) / 1e6;
                    for (var e : OpProfile.snapshot().entrySet()) {
                        ms.computeIfAbsent(e.getKey(), k -> new double[runs])[i] = e.getValue()[0] / 1e6;
                        calls.merge(e.getKey(), e.getValue()[1], Long::sum);
                    }
                }
            }
            System.out.printf("%.3f ms per forward (median of %d)%n", median(pass), runs);
            for (var e : ms.entrySet())
                System.out.printf("%s\t%.4f\t%.2f%n", e.getKey(), median(e.getValue()), (double) calls.get(e.getKey()) / runs);
        }
    }

    static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c[c.length / 2];
    }
}
