package dev.salient.metrics;

/**
 * One attribution map as the metrics read it: the method's raw values ({@code channels}×H×W;
 * 1 channel for a CAM-shaped (H,W) map), its pixel map (the sum over channels) and its unit
 * map in [0,1] (a CAM map as it is, as pytorch-grad-cam returns it; any other map's pixel map
 * min-max normalised).
 */
public record MapView(float[] raw, int channels, int h, int w, boolean cam) {

    public MapView {
        if (raw.length != channels * h * w)
            throw new IllegalArgumentException("map of " + raw.length + " values is not " + channels + "x" + h + "x" + w);
    }

    /** The (H·W) pixel map: the sum over channels. */
    public float[] pixels() {
        return Maps.pixels(raw, channels, h * w);
    }

    /** The (H·W) map in [0,1] that masks the image (Average Drop, energy pointing game). */
    public float[] unit() {
        return cam ? raw.clone() : Maps.minMax(pixels());
    }
}
