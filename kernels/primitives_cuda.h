/*
 * primitives_cuda.h: the CUDA twins of native/primitives.h, in the same order and
 * with the same arguments; tensor pointers are device pointers, and so are the
 * small coefficient arrays (m, w).
 */
#ifndef SALIENT_PRIMITIVES_CUDA_H
#define SALIENT_PRIMITIVES_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y: (S,N,D) = b + m * (x - b); x: (N,D), b: (nb,D), nb in {1,N}, m: (S,dm), D % dm == 0 (blend.cu) */
int masked_blend_cuda(const float* x, const float* b, const float* m, float* y, int64_t s, int64_t n, int64_t nb,
                      int64_t d, int64_t dm);
/* A model's first conv under coalition masks by its linearity (coalition.cu, the twin of
 * native/cpu/coalition.cpp's, the same bits): labels (H,W) and slot segments (slots,P) as floats;
 * row first + e*step of y (rows of `row` floats) for coalition e of design (count, m). */
#define SALIENT_CUDA_COALITION_NONE 0
#define SALIENT_CUDA_COALITION_RELU 1
#define SALIENT_CUDA_COALITION_CLIP 2
int coalition_conv_prepare_cuda(const float* x, const float* b, const float* labels, const float* w, const float* bias,
                                const float* segs, float* part, float* bout, int c, int h, int wd, int k, int r, int s,
                                int sh, int sw, int pt, int pl, int oh, int ow, int slots);
int coalition_conv_cuda(const float* segs, const float* part, const float* bout, const float* design, float* y, int k,
                        int oh, int ow, int slots, int m, int count, int64_t first, int64_t step, int64_t row, int act,
                        float lo, float hi, int pool_kh, int pool_kw, int pool_sh, int pool_sw, int pool_pt,
                        int pool_pl, int pool_oh, int pool_ow);
/* acc: (R) += sum_s w[s] * g[s,:], g: (S,R), in s order (blend.cu) */
int weighted_sum_cuda(const float* g, const float* w, float* acc, int64_t s, int64_t r);

#define SALIENT_CUDA_REDUCE_SUM 0
#define SALIENT_CUDA_REDUCE_MAX 1
#define SALIENT_CUDA_REDUCE_MIN 2
#define SALIENT_CUDA_REDUCE_MEAN 3
/* y: (R) = reduction of each row of x: (R,L) (rows.cu) */
int reduce_rows_cuda(int op, const float* x, float* y, int64_t r, int64_t l);

/* y: (n) standard normal values, element i = element offset+i of stream `seed` (random.cu) */
int random_normal_cuda(uint64_t seed, uint64_t offset, float* y, int64_t n);

/* order, rank: (R,L) = the descending stable argsort of each row of x: (R,L) and its inverse (argsort.cu) */
int argsort_rows_cuda(const float* x, float* order, float* rank, int64_t r, int64_t l);

/* dx: (2,h) = dy * Δy/Δx over paired halves where |Δx| >= eps, else the own gradient: kept (own < 0) or
 * Relu's (own = SALIENT_ACT_RELU) (secant.cu) */
int secant_backward_cuda(const float* x, const float* y, const float* dy, float* dx, int64_t h, float eps, int own);
/* y: (n) = r / (z + (z < 0 ? -eps : eps)), LRP's stabilised quotient (secant.cu) */
int stab_divide_cuda(const float* r, const float* z, float* y, int64_t n, float eps);
/* da, db: (n) = g * a, g * b with g = r / stab(a + b), LRP's Norm rule through a sum; either may be NULL (secant.cu) */
int norm_shares_cuda(const float* a, const float* b, const float* r, float* da, float* db, int64_t n, float eps);

/* ---- feature visualisation (resample.cu, adam.cu; per-pixel math in resample.h) */
/* y: (N,C,oh,ow), y[n,c,i,j] = x[n,c,i+oy,j+ox] inside x: (N,C,ih,iw), else fill; offsets: (N,2) = (oy,ox) integers. */
int crop_pad_cuda(const float* x, const float* offsets, float fill, float* y, int64_t n, int64_t c, int64_t ih,
                 int64_t iw, int64_t oh, int64_t ow);
/* y: (N,C,oh,ow) = bilinear sample (zeros outside) of x: (N,C,ih,iw) at theta[n] (N,6) of each output pixel. */
int affine_resample_forward_cuda(const float* x, const float* theta, float* y, int64_t n, int64_t c, int64_t ih,
                                int64_t iw, int64_t oh, int64_t ow);
/* dx: (N,C,ih,iw) = the adjoint of affine_resample_forward applied to dy: (N,C,oh,ow) (a deterministic gather). */
int affine_resample_backward_cuda(const float* dy, const float* theta, float* dx, int64_t n, int64_t c, int64_t ih,
                                 int64_t iw, int64_t oh, int64_t ow);
/* The orthonormal complex DFT along H of planes (P,H,2,K), as dft_rows_cpu (a direct sum per output). */
int dft_rows_cuda(const float* x, float* y, int64_t planes, int64_t h, int64_t k, int sign);
/* One Adam step in place on p, m, v: (n) from g: (n), as torch.optim.Adam. */
int adam_step_cuda(float* p, const float* g, float* m, float* v, int64_t n, float beta1, float beta2, float eps,
                  float step_size, float bc2_sqrt);

#ifdef __cplusplus
}
#endif

#endif /* SALIENT_PRIMITIVES_CUDA_H */
