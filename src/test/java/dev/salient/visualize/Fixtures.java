package dev.salient.visualize;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import java.nio.file.Path;

/** The feature-visualisation fixtures (scripts/make_featviz_fixtures.py) and the shared tolerance rule. */
final class Fixtures {
    static final Path DIR = Path.of("src/test/resources/fixtures/featviz");

    private Fixtures() {}

    static NdArray npy(String name) {
        return Npy.read(DIR.resolve(name + ".npy"));
    }

    /** |got − ref| ≤ atol + rtol·|ref| elementwise; prints the first mismatches. */
    static void assertClose(String what, float[] ref, float[] got, double atol, double rtol) {
        assertEquals(ref.length, got.length, what + ": length");
        StringBuilder sb = new StringBuilder();
        int bad = 0;
        for (int i = 0; i < ref.length; i++) {
            double r = ref[i], g = got[i];
            if (!(Math.abs(g - r) <= atol + rtol * Math.abs(r)) && bad++ < 5)
                sb.append(String.format("%n  [%d] ref=%.8g got=%.8g", i, r, g));
        }
        assertEquals(0, bad, what + ": " + bad + " of " + ref.length + " mismatches" + sb);
    }

    static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return s;
    }
}
