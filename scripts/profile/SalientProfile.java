import dev.salient.engine.Backend;
import dev.salient.engine.CpuNative;
import dev.salient.engine.Engine;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import dev.salient.model.OpProfile;
import java.nio.file.Path;
import java.util.Random;

/**
 * salient's forward pass on MODEL at BATCH (the model's declared input shape, dynamic
 * dimensions but the batch set to 224), THREADS OpenMP threads, seeded Gaussian input: 20 warm-up
 * passes, then RUNS timed ones; prints ms per pass and the OpProfile report (run with
 * SALIENT_PROFILE=shapes for one line per op and input shapes). Used by scripts/profile-vs-ort.
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
            try (Tensor x = b.upload(v, shape)) {
                boolean on = OpProfile.on();
                OpProfile.enable(false);
                for (int i = 0; i < 20; i++) try (Tensor y = m.forward(b, x)) { b.synchronize(); }
                OpProfile.enable(on);
                OpProfile.reset();
                long t0 = System.nanoTime();
                for (int i = 0; i < runs; i++) try (Tensor y = m.forward(b, x)) { b.synchronize(); }
                System.out.printf("%.3f ms per forward%n", (System.nanoTime() - t0) / 1e6 / runs);
                System.out.print(OpProfile.report());
            }
        }
    }
}
