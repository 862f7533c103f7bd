package dev.salient.model;

import static org.junit.jupiter.api.Assertions.fail;

/** The project's parity rule |got - ref| <= atol + rtol*|ref|, printing the first mismatches with indices. */
public final class Parity {
    private Parity() {}

    public static void assertClose(String what, float[] ref, float[] got, double rtol, double atol) {
        if (ref.length != got.length) fail(what + ": " + got.length + " values, expected " + ref.length);
        StringBuilder b = new StringBuilder();
        int bad = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = Math.abs((double) got[i] - ref[i]);
            if (!(d <= atol + rtol * Math.abs(ref[i])) && bad++ < 5)
                b.append(" [").append(i).append("] got ").append(got[i]).append(" want ").append(ref[i]);
        }
        if (bad > 0) fail(what + ": " + bad + " of " + ref.length + " mismatches:" + b);
    }
}
