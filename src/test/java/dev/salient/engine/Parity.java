package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;

/**
 * The one parity rule of salient's tests: |got - ref| <= atol + rtol * |ref|,
 * elementwise. On failure the message names the check, the count of
 * mismatches and the first few with their flat indices (and multi-indices
 * when a shape is given). Also small helpers to make reproducible inputs.
 *
 * <p>With {@code SALIENT_PARITY_MARGINS=FILE} in the environment, every check also appends
 * how much of its tolerance it used, {@code max |got - ref| / (atol + rtol |ref|)}, with its
 * call site: {@code scripts/test-margins} runs the suite under several OpenBLAS kernel
 * families and thread counts and compares them, to find the checks a machine of another CPU
 * could fail.
 */
public final class Parity {
    private Parity() {}

    private static final int SHOWN = 8;

    public static void assertClose(String what, float[] got, float[] ref, double atol, double rtol) {
        double[] r = new double[ref.length];
        for (int i = 0; i < ref.length; i++) r[i] = ref[i];
        assertClose(what, got, r, atol, rtol, null);
    }

    public static void assertClose(String what, float[] got, double[] ref, double atol, double rtol) {
        assertClose(what, got, ref, atol, rtol, null);
    }

    /** As above; {@code shape} (may be null) turns flat indices into multi-indices in the message. */
    public static void assertClose(String what, float[] got, double[] ref, double atol, double rtol, long[] shape) {
        if (got.length != ref.length)
            fail(what + ": length " + got.length + " != reference length " + ref.length);
        if (MARGINS != null) {
            double used = 0;
            for (int i = 0; i < got.length; i++)
                if (!Double.isNaN(ref[i]) && got[i] != ref[i])
                    used = Math.max(used, Math.abs(got[i] - ref[i]) / (atol + rtol * Math.abs(ref[i])));
            recordMargin(what, used);
        }
        int bad = 0;
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < got.length; i++) {
            double g = got[i], r = ref[i];
            boolean ok = (Double.isNaN(r) && Double.isNaN(g)) || (r == g)
                    || Math.abs(g - r) <= atol + rtol * Math.abs(r);
            if (!ok) {
                if (bad < SHOWN)
                    sb.append("\n  at ").append(index(i, shape)).append(": got ").append(g).append(", want ")
                            .append(r).append(" (|diff| ").append(Math.abs(g - r)).append(")");
                bad++;
            }
        }
        if (bad > 0)
            fail(what + ": " + bad + " of " + got.length + " values outside atol=" + atol + " rtol=" + rtol + sb);
    }

    /** Scalar form of the rule. */
    public static void assertClose(String what, double got, double ref, double atol, double rtol) {
        if (MARGINS != null && got != ref) recordMargin(what, Math.abs(got - ref) / (atol + rtol * Math.abs(ref)));
        if (!(Math.abs(got - ref) <= atol + rtol * Math.abs(ref)))
            fail(what + ": got " + got + ", want " + ref + " (|diff| " + Math.abs(got - ref) + ", atol=" + atol
                    + " rtol=" + rtol + ")");
    }

    private static final String MARGINS = System.getenv("SALIENT_PARITY_MARGINS");

    private static synchronized void recordMargin(String what, double used) {
        StackTraceElement site = null;
        for (StackTraceElement e : new Throwable().getStackTrace())
            if (!e.getClassName().equals(Parity.class.getName())) {
                site = e;
                break;
            }
        String line = site + "\t" + used + "\t" + what.replace('\n', ' ') + "\n";
        try {
            java.nio.file.Files.writeString(java.nio.file.Path.of(MARGINS), line,
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static String index(int flat, long[] shape) {
        if (shape == null) return "[" + flat + "]";
        long[] idx = new long[shape.length];
        long rem = flat;
        for (int d = shape.length - 1; d >= 0; d--) {
            idx[d] = shape[d] == 0 ? 0 : rem % shape[d];
            rem = shape[d] == 0 ? 0 : rem / shape[d];
        }
        return "[" + flat + "] " + java.util.Arrays.toString(idx);
    }

    /** n uniform values in [-1, 1) from a fixed seed. */
    public static float[] random(long seed, int n) {
        return random(new Random(seed), n, -1f, 1f);
    }

    public static float[] random(Random rnd, int n, float lo, float hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * rnd.nextFloat();
        return a;
    }

    /** sum a[i]*b[i] in double. */
    public static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return s;
    }

    /** sum |a[i]*b[i]| in double: the natural scale for a dot product's rounding error. */
    public static double absDot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += Math.abs((double) a[i] * b[i]);
        return s;
    }
}
