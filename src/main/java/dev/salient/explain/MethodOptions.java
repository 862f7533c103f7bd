package dev.salient.explain;

import dev.salient.engine.SalientException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The option values a method is created with; an option not set reads as its
 * default. Immutable: {@link #with} returns a copy.
 * <pre>{@code
 * MethodOptions o = MethodOptions.defaults().with(MethodOption.LAYER, "layer4");
 * Explainer e = Methods.get(name).create(model, o);
 * }</pre>
 */
public final class MethodOptions {
    private static final MethodOptions DEFAULTS = new MethodOptions(Map.of());

    private final Map<String, Object> values;

    private MethodOptions(Map<String, Object> values) {
        this.values = values;
    }

    /** Every option at its default. */
    public static MethodOptions defaults() {
        return DEFAULTS;
    }

    /** A copy with {@code option} set to {@code value}. */
    public <T> MethodOptions with(MethodOption<T> option, T value) {
        Map<String, Object> m = new HashMap<>(values);
        m.put(option.cli(), value);
        return new MethodOptions(Map.copyOf(m));
    }

    /** The option's value, or its default when unset. */
    @SuppressWarnings("unchecked")
    public <T> T get(MethodOption<T> option) {
        return values.containsKey(option.cli()) ? (T) values.get(option.cli()) : option.defaultValue();
    }

    /** Whether the option was set explicitly. */
    public boolean isSet(MethodOption<?> option) {
        return values.containsKey(option.cli());
    }

    /**
     * Parses CLI text by option name ({@code --steps} -> {@code 32}) for {@code spec}. An
     * option the method does not take is an error that names the method's options.
     */
    public static MethodOptions parse(MethodSpec spec, Map<String, String> given) {
        MethodOptions o = DEFAULTS;
        for (Map.Entry<String, String> e : given.entrySet()) {
            MethodOption<?> opt = spec.option(e.getKey());
            if (opt == null)
                throw new SalientException(spec.name() + " does not take " + e.getKey() + " ("
                        + (spec.options().isEmpty() ? "it has no options of its own"
                                : "its options: " + spec.options().stream().map(MethodOption::cli).collect(Collectors.joining(", ")))
                        + ")");
            o = o.withParsed(opt, e.getValue());
        }
        return o;
    }

    private <T> MethodOptions withParsed(MethodOption<T> opt, String text) {
        return with(opt, opt.parse(text));
    }

    /** The spec's options with their values as report.json shows them, by key. */
    public Map<String, Object> report(MethodSpec spec) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (MethodOption<?> opt : spec.options()) out.put(opt.key(), reported(opt));
        return out;
    }

    private <T> Object reported(MethodOption<T> opt) {
        return opt.report(get(opt));
    }

    @Override
    public String toString() {
        return values.toString();
    }
}
