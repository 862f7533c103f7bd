package dev.salient.cli;

import dev.salient.engine.SalientException;
import dev.salient.io.Preprocess;
import dev.salient.io.Volumes;
import picocli.CommandLine.Option;

/**
 * Image preprocessing flags shared by the commands that read images
 * ({@code @Mixin PreprocessOptions pre;}). See {@link Preprocess} for the
 * pipeline and its defaults.
 */
public final class PreprocessOptions {
    @Option(names = "--resize", paramLabel = "N",
            description = "Resize images so the shorter side is N pixels (default: the crop's larger side; "
                    + "256 with --crop 224 is torchvision's ImageNet recipe).")
    int resize;

    @Option(names = "--crop", paramLabel = "H[xW]",
            description = "Centre crop size (default: the model's input H x W).")
    String crop;

    @Option(names = "--mean", paramLabel = "M", split = ",", splitSynopsisLabel = ",",
            description = "Per-channel mean subtracted after scaling to [0,1] "
                    + "(default: ImageNet 0.485,0.456,0.406 for 3 channels, 0 for 1 channel).")
    float[] mean;

    @Option(names = "--std", paramLabel = "S", split = ",", splitSynopsisLabel = ",",
            description = "Per-channel std divided by (default: ImageNet 0.229,0.224,0.225 for 3 channels, 1 for 1 channel).")
    float[] std;

    @Option(names = "--window-level", paramLabel = "L",
            description = "Volumes (.nii, .nii.gz): centre of the intensity window, e.g. 40 for a CT soft-tissue window "
                    + "(with --window-width; values are clipped to L -/+ W/2 and mapped onto [0,1] before --mean/--std).")
    Float windowLevel;

    @Option(names = "--window-width", paramLabel = "W",
            description = "Volumes: width of the intensity window, e.g. 400 (with --window-level; must be positive).")
    Float windowWidth;

    /** The volume window, or null when neither flag is given. */
    public Volumes.Window window() {
        if (windowLevel == null && windowWidth == null) return null;
        if (windowLevel == null || windowWidth == null)
            throw new SalientException("--window-level and --window-width go together; give both");
        return new Volumes.Window(windowLevel, windowWidth);
    }

    public Preprocess toPreprocess() {
        int h = 0, w = 0;
        if (crop != null) {
            String[] p = crop.toLowerCase().split("x");
            try {
                if (p.length == 1) h = w = Integer.parseInt(p[0].strip());
                else if (p.length == 2) {
                    h = Integer.parseInt(p[0].strip());
                    w = Integer.parseInt(p[1].strip());
                } else throw new NumberFormatException();
            } catch (NumberFormatException e) {
                throw new SalientException("--crop expects N or HxW, got '" + crop + "'");
            }
            if (h <= 0 || w <= 0) throw new SalientException("--crop must be positive, got '" + crop + "'");
        }
        return new Preprocess(resize, h, w, mean, std);
    }
}
