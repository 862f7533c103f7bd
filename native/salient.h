/*
 * salient.h: the flat C ABI of the salient engine.
 *
 * Every op is `<stem>_<pass>_cpu` here (and `<stem>_<pass>_cuda` in kernels/).
 * Conventions:
 *   - float32, NCHW, contiguous; shapes are passed as plain integers;
 *   - every function checks its arguments before touching memory and returns
 *     0 on success or a negative SALIENT_E* code; the message for the calling
 *     thread is then available from salient_last_error();
 *   - no C++ types cross this boundary.
 */
#ifndef SALIENT_H
#define SALIENT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SALIENT_OK 0
#define SALIENT_EINVAL -1   /* bad argument: null pointer, bad shape, out of range */
#define SALIENT_ENOMEM -2   /* allocation failed */
#define SALIENT_EUNSUPPORTED -3
#define SALIENT_EBACKEND -4 /* backend (e.g. CUDA) error */

/* ---- runtime ---------------------------------------------------------- */

/* Message of the last failing call on this thread ("" if none). */
const char* salient_last_error(void);
/* 64-byte aligned host allocation of `bytes` (>0); NULL + error on failure. */
float* salient_alloc(int64_t count);
void salient_free(float* p);
/* Threads used by OpenMP regions and the BLAS (<=0: leave as is). */
int salient_set_num_threads(int n);
int salient_get_num_threads(void);

/* ---- elementwise ------------------------------------------------------ */

/* x[i] = value; x: (n) */
int fill_cpu(float* x, int64_t n, float value);

/* Activation kinds for activation_forward_cpu / activation_backward_cpu. */
#define SALIENT_ACT_RELU 0
#define SALIENT_ACT_LEAKY_RELU 1   /* alpha = negative slope */
#define SALIENT_ACT_CLIP 2         /* alpha = min, beta = max */
#define SALIENT_ACT_SIGMOID 3
#define SALIENT_ACT_HARD_SIGMOID 4 /* y = max(0, min(1, alpha*x + beta)) */
#define SALIENT_ACT_HARD_SWISH 5   /* y = x * max(0, min(1, x/6 + 1/2)) */

/* y = act(x); x, y: (n) */
int activation_forward_cpu(int kind, const float* x, float* y, int64_t n, float alpha, float beta);
/* dx = dy * act'(x); x, dy, dx: (n). */
int activation_backward_cpu(int kind, const float* x, const float* dy, float* dx, int64_t n, float alpha, float beta);

/* ---- attribution: CAM family (cam.cpp) --------------------------------- */

#define SALIENT_CAMW_GRADCAM 0   /* w = mean_hw g */
#define SALIENT_CAMW_GRADCAMPP 1 /* eq. 19 of arXiv:1710.11063, eps 1e-6 */
#define SALIENT_CAMW_XGRADCAM 2  /* w = sum_hw g*a / (sum_hw a + 1e-7) */
#define SALIENT_CAMC_WEIGHTED 0  /* cam = sum_k w_k a_k */
#define SALIENT_CAMC_LAYERCAM 1  /* cam = sum_k relu(g_k) a_k */
#define SALIENT_CAMC_HIRESCAM 2  /* cam = sum_k g_k a_k */

/* w: (N,K) from a, g: (N,K,P) */
int gradcam_weights_cpu(int kind, const float* a, const float* g, float* w, int n, int k, int64_t p);
/* cam: (N,P) from a: (N,K,P) and wg: w (N,K) for WEIGHTED, else g (N,K,P) */
int cam_combine_cpu(int mode, const float* a, const float* wg, float* cam, int n, int k, int64_t p);
/* x: (NC,ih,iw) -> y: (NC,oh,ow), bilinear, half-pixel centres */
int bilinear_resize_cpu(const float* x, float* y, int nc, int ih, int iw, int oh, int ow);
/* out: (N,oh,ow) = minmax(relu(resize(minmax(relu(cam))))); cam: (N,h,w) is overwritten */
int cam_finish_cpu(float* cam, float* out, int n, int h, int w, int oh, int ow);

/* ---- attribution: Integrated Gradients (ig.cpp) ------------------------ */

/* y: (S,N,D), y[s,n] = b[n] + alphas[s] (x[n] - b[n]); x, b: (N,D) */
int ig_interpolate_cpu(const float* x, const float* b, const float* alphas, float* y, int s, int n, int64_t d);
/* acc: (N,D) += sum_s weights[s] g[s,n]; g: (S,N,D) */
int ig_accumulate_cpu(const float* g, const float* weights, float* acc, int s, int n, int64_t d);

#ifdef __cplusplus
}
#endif

#endif /* SALIENT_H */
