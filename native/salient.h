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

#ifdef __cplusplus
}
#endif

#endif /* SALIENT_H */
