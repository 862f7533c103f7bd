package dev.salient.explain.perturbation;

import dev.salient.explain.core.ForwardOnly;

/**
 * The evaluations of a perturbation method that may start from its model's {@link CoalitionStem}
 * ({@link StemTerms}): then they are points at the stem's output, each counted as a whole forward
 * pass, and each image's evaluation 0 is the image itself, whose logits give the driver its
 * target and score; without a stem (null) they are blended inputs.
 */
public abstract class StemEvaluations extends ForwardOnly {
    protected final CoalitionStem stem;

    protected StemEvaluations(int perImage, CoalitionStem stem) {
        super(perImage);
        this.stem = stem;
    }

    /** The evaluations before an image's coalitions that are not coalitions: 1 with the stem (the image itself), else 0. */
    protected final int lead() {
        return stem == null ? 0 : 1;
    }

    @Override
    public String from() {
        return stem == null ? null : stem.from();
    }

    @Override
    public boolean fromIsWhole() {
        return true;
    }

    @Override
    public boolean imagesLead() {
        return stem != null;
    }
}
