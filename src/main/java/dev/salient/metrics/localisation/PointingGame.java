package dev.salient.metrics.localisation;

import dev.salient.metrics.MapView;

/**
 * The pointing game (Zhang et al., "Top-down neural attention by excitation backprop",
 * ECCV 2016): a hit when the maximum of the pixel map (the first in row-major order, as
 * numpy's argmax) lies within 15 pixels of the ground-truth region, and the energy-based
 * pointing game (Wang et al., Score-CAM, CVPRW 2020, §4.3): the share of the unit map's
 * energy inside the region, Σ_inside m / Σ m.
 *
 * <p>Quantus's PointingGame returns booleans and casts its NaN for empty masks and its
 * weighted value to True (PEERS.md §6); here a hit is 1 or 0, and an image without a region
 * is skipped and counted by the evaluation, as the paper's protocol does.
 */
public final class PointingGame {
    private PointingGame() {}

    public static final double TOLERANCE = 15;

    /** 1 for a hit, 0 for a miss. */
    public static double hit(MapView map, Region region, double tolerance) {
        float[] p = map.pixels();
        int best = 0;
        for (int i = 1; i < p.length; i++) if (p[i] > p[best] || (Float.isNaN(p[best]) && !Float.isNaN(p[i]))) best = i;
        return region.near(best, tolerance) ? 1 : 0;
    }

    /** Σ of the unit map inside the region / Σ of the unit map (0 for an all-zero map). */
    public static double energy(MapView map, Region region) {
        float[] u = map.unit();
        double in = 0, all = 0;
        for (int i = 0; i < u.length; i++) {
            all += u[i];
            if (region.contains(i)) in += u[i];
        }
        return all > 0 ? in / all : 0;
    }
}
