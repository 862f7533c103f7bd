package dev.salient.explain;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.Objects;

/**
 * What the CLI, the report, the writers and the tests know about a method: its
 * name, family, output layout, one-line definition, its options with defaults,
 * its factory and its axiom. Each method class declares its own
 * ({@code public static final MethodSpec SPEC = MethodSpec.cam("gradcam", "...", GradCam::new)})
 * and {@link Methods} lists them.
 *
 * @param name       the lower-case CLI name, as the peers spell it
 * @param family     the package it lives in
 * @param layout     what its rows look like
 * @param definition the one-line definition shown in the README's method table
 * @param options    the options it takes (CLI names unique within the spec)
 * @param factory    makes the method for a model and option values
 * @param axiom      the property the test matrix checks on every result
 * @param spatialRanks the input spatial ranks it explains: 2 for images (N,C,H,W), 3 for
 *                   volumes (N,C,D,H,W); images only unless the method says otherwise
 */
public record MethodSpec(String name, Family family, Attribution.Layout layout, String definition,
        List<MethodOption<?>> options, Factory factory, Axiom axiom, Set<Integer> spatialRanks) {

    /** Images only (N,C,H,W). */
    public static final Set<Integer> IMAGES = Set.of(2);
    /** Images and volumes (N,C,D,H,W). */
    public static final Set<Integer> IMAGES_AND_VOLUMES = Set.of(2, 3);

    public MethodSpec(String name, Family family, Attribution.Layout layout, String definition,
            List<MethodOption<?>> options, Factory factory, Axiom axiom) {
        this(name, family, layout, definition, options, factory, axiom, IMAGES);
    }

    /** The method families, one package each under {@code dev.salient.explain}. */
    public enum Family {
        GRADIENT, CAM, PERTURBATION, RELEVANCE, LAYER;

        public String id() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** Makes the method for a model and option values; bad values throw one clear line. */
    @FunctionalInterface
    public interface Factory {
        Explainer create(Model model, MethodOptions options);
    }

    /** A property every result of the method has; the test matrix checks it. */
    @FunctionalInterface
    public interface Axiom {
        /**
         * Null when {@code a}, computed by {@code method} for {@code input} on {@code b},
         * has the property; else one line saying what is wrong.
         */
        String violation(Explainer method, Backend b, Tensor input, Attribution a);
    }

    /** No property beyond shape, finiteness and determinism (checked for every method). */
    public static final Axiom NO_AXIOM = (m, b, x, a) -> null;

    /** Every value in [0,1] (the CAM pipeline's min-max). */
    public static final Axiom UNIT_INTERVAL = (m, b, x, a) -> {
        for (int i = 0; i < a.values().length; i++)
            if (!(a.values()[i] >= 0f && a.values()[i] <= 1f)) return "value " + a.values()[i] + " at " + i + " is outside [0,1]";
        return null;
    };

    /** Every value >= 0 (an absolute value or a square). */
    public static final Axiom NON_NEGATIVE = (m, b, x, a) -> {
        for (int i = 0; i < a.values().length; i++)
            if (!(a.values()[i] >= 0f)) return "value " + a.values()[i] + " at " + i + " is negative";
        return null;
    };

    public MethodSpec {
        Objects.requireNonNull(name);
        Objects.requireNonNull(family);
        Objects.requireNonNull(layout);
        Objects.requireNonNull(definition);
        Objects.requireNonNull(factory);
        Objects.requireNonNull(axiom);
        options = List.copyOf(options);
        spatialRanks = Set.copyOf(spatialRanks);
        for (int i = 0; i < options.size(); i++)
            for (int j = 0; j < i; j++)
                if (options.get(i).cli().equals(options.get(j).cli()))
                    throw new IllegalArgumentException(name + " lists " + options.get(i).cli() + " twice");
        if (!name.equals(name.toLowerCase(java.util.Locale.ROOT)) || name.isBlank())
            throw new IllegalArgumentException("method names are lower-case: " + name);
    }

    /** An input-shaped gradient method with no options of its own. */
    public static MethodSpec gradient(String name, String definition, Factory factory) {
        return new MethodSpec(name, Family.GRADIENT, Attribution.Layout.INPUT, definition, List.of(), factory, NO_AXIOM);
    }

    /** A CAM method: (rows,H,W) in [0,1], option {@link MethodOption#LAYER}. */
    public static MethodSpec cam(String name, String definition, Factory factory) {
        return new MethodSpec(name, Family.CAM, Attribution.Layout.CAM, definition, List.of(MethodOption.LAYER), factory,
                UNIT_INTERVAL);
    }

    /** A copy with more options. */
    public MethodSpec withOptions(MethodOption<?>... more) {
        List<MethodOption<?>> all = new ArrayList<>(options);
        all.addAll(List.of(more));
        return new MethodSpec(name, family, layout, definition, all, factory, axiom, spatialRanks);
    }

    public MethodSpec withAxiom(Axiom a) {
        return new MethodSpec(name, family, layout, definition, options, factory, a, spatialRanks);
    }

    public MethodSpec withLayout(Attribution.Layout l) {
        return new MethodSpec(name, family, l, definition, options, factory, axiom, spatialRanks);
    }

    public MethodSpec withFamily(Family f) {
        return new MethodSpec(name, f, layout, definition, options, factory, axiom, spatialRanks);
    }

    /** A copy that also explains volumes (N,C,D,H,W). */
    public MethodSpec withVolumes() {
        return new MethodSpec(name, family, layout, definition, options, factory, axiom, IMAGES_AND_VOLUMES);
    }

    /**
     * Throws one line unless the method explains inputs of this shape's spatial rank: a volume
     * (N,C,D,H,W) to an images-only method, or an image to neither.
     */
    public void requireSpatialRank(long[] inputShape) {
        int sr = inputShape.length - 2;
        if (spatialRanks.contains(sr)) return;
        String shape = java.util.Arrays.toString(inputShape).replace('[', '(').replace(']', ')').replace(" ", "");
        if (sr == 3)
            throw new dev.salient.engine.SalientException(name + " explains 2-D images (N,C,H,W) only, not volumes; "
                    + "input shape " + shape + " (methods for volumes: see the README's method table)");
        throw new dev.salient.engine.SalientException(name + " explains " + (spatialRanks.contains(3)
                ? "images (N,C,H,W) and volumes (N,C,D,H,W)" : "images (N,C,H,W)") + ", got input shape " + shape);
    }

    /** The option with this CLI name, or null. */
    public MethodOption<?> option(String cli) {
        for (MethodOption<?> o : options) if (o.cli().equals(cli)) return o;
        return null;
    }

    /** Makes the method; the options must be this spec's (see {@link MethodOptions#parse}). */
    public Explainer create(Model model, MethodOptions o) {
        return factory.create(model, o);
    }

    /** Makes the method with every option at its default. */
    public Explainer create(Model model) {
        return create(model, MethodOptions.defaults());
    }
}
