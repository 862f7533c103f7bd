package dev.salient.engine;

/** Per-channel weights of the CAM family, numbered as {@code SALIENT_CAMW_*} in native/salient.h. */
public enum CamWeighting {
    /** w_k = mean_hw g (Grad-CAM). */
    GRADCAM(0),
    /** eq. 19 of arXiv:1710.11063 with eps 1e-6 (Grad-CAM++). */
    GRADCAM_PLUS_PLUS(1),
    /** w_k = sum_hw g*a / (sum_hw a + 1e-7) (XGrad-CAM). */
    XGRADCAM(2);

    public final int code;

    CamWeighting(int code) {
        this.code = code;
    }
}
