import dev.salient.bench.ResNet50Convs;
import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.CpuNative;
import dev.salient.engine.Engine;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * How much of a conv's time in a network is its operands' distance: ResNet-50's conv shapes timed
 * with their operands where a repeated call leaves them (in cache), and again where a network leaves
 * them (past the last-level cache).
 * <ul>
 *   <li>{@code alone}: each shape called again and again on COPIES sets of operands in turn (the
 *       sets named by WHICH: w weights, x inputs, y outputs, Z residuals); COPIES 1 keeps everything
 *       in cache, and enough copies put the named operands past the last-level cache. With z (or Z)
 *       in WHICH the conv adds a residual and applies ReLU in its epilogue, as a ResNet block's
 *       expansion does;
 *   <li>{@code sequence}: the forward's 53 convs in turn, each with its own weights, input and
 *       output, as a network holds them; the median per shape (times its count) and of the whole.
 * </ul>
 * Prints the median microseconds per call, GFLOP/s and, per shape, the median times its count in
 * one forward. The launchers' OpenMP policy applies as set in the environment.
 * <pre>
 *   java -cp target/salient-benchmarks.jar scripts/profile/ConvResidency.java alone BATCH COPIES WHICH REPEATS [SHAPES]
 *   java -cp target/salient-benchmarks.jar scripts/profile/ConvResidency.java sequence BATCH REPEATS [SHAPES]
 * </pre>
 * SHAPES: a comma-separated list of {@link ResNet50Convs} names (default: all, in network order).
 */
public class ConvResidency {
    public static void main(String[] a) {
        boolean alone = a.length > 0 && a[0].equals("alone");
        if (a.length < (alone ? 5 : 3) || !(alone || a[0].equals("sequence"))) {
            System.err.println("usage: ConvResidency alone BATCH COPIES WHICH REPEATS [SHAPES] | sequence BATCH REPEATS [SHAPES]");
            System.exit(2);
        }
        CpuNative.salient_set_num_threads(Integer.getInteger("threads", 2));
        Backend b = Engine.cpu();
        int batch = Integer.parseInt(a[1]);
        if (alone) alone(b, batch, Integer.parseInt(a[2]), a[3], Integer.parseInt(a[4]), shapes(a, 5));
        else sequence(b, batch, Integer.parseInt(a[2]), shapes(a, 3));
    }

    static String[] shapes(String[] a, int at) {
        return a.length > at ? a[at].split(",") : ResNet50Convs.SHAPES.keySet().toArray(new String[0]);
    }

    static void alone(Backend b, int batch, int copies, String which, int repeats, String[] names) {
        double total = 0;
        for (String name : names) {
            Conv2dGeometry g = ResNet50Convs.geometry(name, batch);
            Random rnd = new Random(1);
            Tensor[] x = sets(b, rnd, which.contains("x") ? copies : 1, g.inputShape(), true);
            Tensor[] w = sets(b, rnd, which.contains("w") ? copies : 1, g.weightShape(), true);
            Tensor[] y = sets(b, rnd, which.contains("y") ? copies : 1, g.outputShape(), false);
            Tensor bias = upload(b, rnd, g.k());
            Tensor[] z = which.contains("z") ? sets(b, rnd, which.contains("Z") ? copies : 1, g.outputShape(), true) : null;
            Runnable[] call = new Runnable[copies];
            for (int i = 0; i < copies; i++) {
                Tensor xi = x[i % x.length], wi = w[i % w.length], yi = y[i % y.length], zi = z == null ? null : z[i % z.length];
                call[i] = zi == null ? () -> b.conv2dForward(xi, wi, bias, yi, g)
                        : () -> b.conv2dForwardSum(xi, wi, bias, zi, yi, g, Activation.RELU, 0f, 0f);
            }
            for (int i = 0; i < 20; i++) call[i % copies].run();
            double[] t = new double[repeats];
            for (int i = 0; i < repeats; i++) {
                long t0 = System.nanoTime();
                call[i % copies].run();
                t[i] = (System.nanoTime() - t0) / 1e3;
            }
            if (z != null) for (Tensor v : z) v.close();
            total += line(name, g, median(t), ResNet50Convs.COUNT.get(name));
            for (Tensor[] s : List.of(x, w, y)) for (Tensor v : s) v.close();
            bias.close();
        }
        System.out.printf("per forward: %.2f ms (batch %d, %d copies of %s)%n", total / 1e3, batch, copies, which);
    }

    static void sequence(Backend b, int batch, int repeats, String[] names) {
        List<String> seq = new ArrayList<>();
        for (String n : names) for (int i = 0; i < ResNet50Convs.COUNT.get(n); i++) seq.add(n);
        int n = seq.size();
        Conv2dGeometry[] g = new Conv2dGeometry[n];
        Tensor[] x = new Tensor[n], w = new Tensor[n], bias = new Tensor[n], y = new Tensor[n];
        Random rnd = new Random(1);
        for (int i = 0; i < n; i++) {
            g[i] = ResNet50Convs.geometry(seq.get(i), batch);
            x[i] = upload(b, rnd, g[i].inputShape());
            w[i] = upload(b, rnd, g[i].weightShape());
            bias[i] = upload(b, rnd, g[i].k());
            y[i] = b.allocate(g[i].outputShape());
        }
        double[][] t = new double[n][repeats];
        double[] whole = new double[repeats];
        for (int r = -5; r < repeats; r++) {
            long s0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                long t0 = System.nanoTime();
                b.conv2dForward(x[i], w[i], bias[i], y[i], g[i]);
                if (r >= 0) t[i][r] = (System.nanoTime() - t0) / 1e3;
            }
            if (r >= 0) whole[r] = (System.nanoTime() - s0) / 1e3;
        }
        Map<String, Double> per = new LinkedHashMap<>();
        Map<String, Conv2dGeometry> geom = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            per.merge(seq.get(i), median(t[i]), Double::sum);
            geom.put(seq.get(i), g[i]);
        }
        double total = 0;
        for (var e : per.entrySet()) {
            int count = ResNet50Convs.COUNT.get(e.getKey());
            total += line(e.getKey(), geom.get(e.getKey()), e.getValue() / count, count);
        }
        System.out.printf("per forward: %.2f ms summed, %.2f ms whole (batch %d, each conv its own operands)%n", total / 1e3,
                median(whole) / 1e3, batch);
        for (Tensor[] s : List.of(x, w, bias, y)) for (Tensor v : s) v.close();
    }

    static double line(String name, Conv2dGeometry g, double us, int count) {
        System.out.printf("%-16s %9.1f us  %6.1f GFLOP/s  x%d = %.2f ms%n", name, us, g.flops() / us / 1e3, count,
                us * count / 1e3);
        return us * count;
    }

    static Tensor[] sets(Backend b, Random rnd, int count, long[] shape, boolean filled) {
        Tensor[] s = new Tensor[count];
        for (int i = 0; i < count; i++) s[i] = filled ? upload(b, rnd, shape) : b.allocate(shape);
        return s;
    }

    static Tensor upload(Backend b, Random rnd, long... shape) {
        float[] v = new float[Math.toIntExact(Shapes.numel(shape))];
        for (int i = 0; i < v.length; i++) v[i] = rnd.nextFloat() - 0.5f;
        return b.upload(v, shape);
    }

    static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c[c.length / 2];
    }
}
