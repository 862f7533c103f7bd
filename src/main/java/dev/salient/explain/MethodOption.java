package dev.salient.explain;

import dev.salient.engine.SalientException;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Function;

/**
 * One typed option of a method: its CLI name ({@code --steps}), its report key
 * ({@code steps}), a parameter label, a default, and a parser that turns the CLI
 * text into the value or throws one clear line. Methods declare theirs as
 * constants next to the code that reads them, and list them in their
 * {@link MethodSpec}; two methods that share an option share the constant.
 *
 * @param <T> the value's type
 */
public final class MethodOption<T> {
    /** The CAM layer: an ONNX tensor or node name, or auto (the last 4-D activation before pooling). */
    public static final MethodOption<String> LAYER = of("--layer", "NAME|auto", "auto", s -> {
        if (s.isBlank()) throw new SalientException("--layer needs a tensor or node name, or auto");
        return s;
    }, "The layer: an ONNX tensor or node name; auto = the last 4-D activation before pooling (default: auto).");

    /** A seed for the method's random numbers. */
    public static final MethodOption<Long> SEED = of("--seed", "N", 0L, s -> parseLong("--seed", s),
            "Seed for the method's random numbers (default: 0).");

    /**
     * How many samples a sampling method draws: noise samples (smoothgrad, vargrad; default 25),
     * permutations of Shapley sampling (25) or coalitions (lime, kernelshap; 200). The default is
     * each method's own ({@link #samplesOr}); unset, report.json says so.
     */
    public static final MethodOption<Integer> SAMPLES = MethodOption.<Integer>of("--samples", "N", null, s -> {
        int v = parseInt("--samples", s);
        if (v < 1) throw new SalientException("--samples must be at least 1, got " + v);
        return v;
    }, "Samples: noise samples (default 25), Shapley-sampling permutations (25), LIME/KernelSHAP coalitions (200).")
            .reportedAs(v -> v == null ? "method default" : (Object) v);

    /** The {@link #SAMPLES} of these options, or the method's own default. */
    public static int samplesOr(MethodOptions o, int methodDefault) {
        Integer v = o.get(SAMPLES);
        return v == null ? methodDefault : v;
    }

    private final String cli;
    private final String label;
    private final T defaultValue;
    private final Function<String, T> parser;
    private final Function<T, Object> reported;
    private final String description;

    private MethodOption(String cli, String label, T defaultValue, Function<String, T> parser, Function<T, Object> reported,
            String description) {
        if (!cli.startsWith("--") || cli.length() < 3) throw new IllegalArgumentException("option name must be --name: " + cli);
        this.cli = cli;
        this.label = Objects.requireNonNull(label);
        this.defaultValue = defaultValue;
        this.parser = Objects.requireNonNull(parser);
        this.reported = Objects.requireNonNull(reported);
        this.description = Objects.requireNonNull(description);
    }

    /** An option whose report value is the value itself ({@code defaultValue} may be null: "not set"). */
    public static <T> MethodOption<T> of(String cli, String label, T defaultValue, Function<String, T> parser,
            String description) {
        return new MethodOption<>(cli, label, defaultValue, parser, v -> v, description);
    }

    /** A copy that reports {@code reported(value)} in report.json instead of the value. */
    public MethodOption<T> reportedAs(Function<T, Object> reported) {
        return new MethodOption<>(cli, label, defaultValue, parser, reported, description);
    }

    /** An integer option of at least {@code min}. */
    public static MethodOption<Integer> intAtLeast(String cli, String label, int defaultValue, int min, String description) {
        return of(cli, label, defaultValue, s -> {
            int v = parseInt(cli, s);
            if (v < min) throw new SalientException(cli + " must be at least " + min + ", got " + v);
            return v;
        }, description);
    }

    /** A float option in [lo, hi] ({@code defaultValue} may be null). */
    public static MethodOption<Float> floatIn(String cli, String label, Float defaultValue, float lo, float hi,
            String description) {
        return of(cli, label, defaultValue, s -> {
            float v = parseFloat(cli, s);
            if (!(v >= lo && v <= hi))
                throw new SalientException(cli + " must be in [" + fmt(lo) + ", " + fmt(hi) + "], got " + s.trim());
            return v;
        }, description);
    }

    /** The CLI name, e.g. {@code --steps}. */
    public String cli() {
        return cli;
    }

    /** The report.json key: the CLI name without dashes, '-' as '_' ({@code --noise-std} -> {@code noise_std}). */
    public String key() {
        return cli.substring(2).replace('-', '_');
    }

    public String label() {
        return label;
    }

    public T defaultValue() {
        return defaultValue;
    }

    public String description() {
        return description;
    }

    /** Parses the CLI text; a bad value is one clear line naming the option. */
    public T parse(String text) {
        if (text == null) throw new SalientException(cli + " needs a value");
        return parser.apply(text.trim());
    }

    /** The value as report.json shows it. */
    public Object report(T value) {
        return reported.apply(value);
    }

    @Override
    public String toString() {
        return cli;
    }

    static int parseInt(String cli, String s) {
        try {
            return Integer.parseInt(s.trim());
        } catch (NumberFormatException e) {
            throw new SalientException(cli + " needs an integer, got '" + s + "'");
        }
    }

    static long parseLong(String cli, String s) {
        try {
            return Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            throw new SalientException(cli + " needs an integer, got '" + s + "'");
        }
    }

    static float parseFloat(String cli, String s) {
        try {
            return Float.parseFloat(s.trim());
        } catch (NumberFormatException e) {
            throw new SalientException(cli + " needs a number, got '" + s + "'");
        }
    }

    private static String fmt(float v) {
        return v == Float.MAX_VALUE ? "inf" : String.format(Locale.ROOT, "%s", v);
    }
}
