package dev.salient.engine;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;

/**
 * Host-side image segmentation in native code ({@code native/cpu/slic.cpp}), multi-threaded
 * with OpenMP. Arguments are host arrays; the device backends download their tensors first.
 */
public final class HostSegmentation {
    private HostSegmentation() {}

    /**
     * SLIC superpixels of one image (C,H,W), as scikit-image's {@code slic(image, n_segments,
     * compactness, start_label=0)} with its other defaults: the image rescaled to [0,1] over all
     * channels, CIE Lab for three channels (else the channels as they are), ten k-means
     * iterations, connectivity enforced. Returns the labels (H·W, row-major), 0..M−1.
     */
    public static int[] slic(float[] image, int c, int h, int w, int nSegments, double compactness) {
        if (c <= 0 || h <= 0 || w <= 0 || (long) c * h * w != image.length)
            throw new SalientException("slic: the image has " + image.length + " values for (C,H,W) = (" + c + "," + h + "," + w + ")");
        if (nSegments < 1) throw new SalientException("slic: the number of segments must be at least 1, got " + nSegments);
        if (!(compactness > 0) || !Double.isFinite(compactness))
            throw new SalientException("slic: the compactness must be positive, got " + compactness);
        int[] labels = new int[h * w];
        try (FloatPointer x = new FloatPointer(image); IntPointer l = new IntPointer((long) h * w);
                IntPointer count = new IntPointer(1)) {
            CpuBackend.check(CpuNative.slic_cpu(x, c, h, w, nSegments, compactness, l, count));
            l.get(labels);
        }
        for (int v : labels)
            if (v < 0) throw new SalientException("slic: " + nSegments + " segments leave pixels of a " + h + "x" + w
                    + " image outside every superpixel window");
        return labels;
    }
}
