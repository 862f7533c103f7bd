package dev.salient.engine;

/** How a CAM sums over channels, numbered as {@code SALIENT_CAMC_*} in native/salient.h. */
public enum CamCombine {
    /** cam = sum_k w_k a_k with channel weights (N,K). */
    WEIGHTED(0),
    /** cam = sum_k relu(g_k) a_k (LayerCAM). */
    LAYERCAM(1),
    /** cam = sum_k g_k a_k (HiResCAM). */
    HIRESCAM(2);

    public final int code;

    CamCombine(int code) {
        this.code = code;
    }
}
