/*
 * primitives.h: the general array primitives of the CPU engine that methods are
 * composed from, named for what they compute (twin: kernels/primitives_cuda.h).
 * Flat C ABI; every function returns SALIENT_OK or a negative code with the
 * message in salient_last_error(). Arguments are checked in Java first (one
 * place for both engines), then again here before memory is touched.
 */
#ifndef SALIENT_PRIMITIVES_H
#define SALIENT_PRIMITIVES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Masked blend y = b + m * (x - b) (blend.cpp). x: (N,D), b: (nb,D) with nb in {1,N},
 * m: (S,dm) with D % dm == 0 (m[s, d % dm] applies to element d: dm = 1 a scalar per
 * s, dm = H*W a mask over the plane shared by channels, dm = D a full mask),
 * y: (S,N,D).
 */
int masked_blend_cpu(const float* x, const float* b, const float* m, float* y, int64_t s, int64_t n, int64_t nb,
                     int64_t d, int64_t dm);
/*
 * A model's first conv under coalition masks by its linearity (coalition.cpp): for an image x (C,H,W),
 * its baseline b and a label map (H,W), B (K,P) = conv(b) + bias and the partials part (slots,K,P),
 * part[t,k,p] = the conv's sum at output position p over the taps whose label is segs[t,p] (-1: none)
 * of w * (x - b); then, per evaluation e with keep values design (count,M) per segment,
 * y[e,k,...] = pool(act(B[k,p] + sum_t design[e, segs[t,p]] part[t,k,p])), rows row_stride apart.
 */
#define SALIENT_COALITION_NONE 0
#define SALIENT_COALITION_RELU 1
#define SALIENT_COALITION_CLIP 2
int coalition_conv_prepare_cpu(const float* x, const float* b, const int32_t* labels, const float* w, const float* bias,
                               const int32_t* segs, float* part, float* bout, int c, int h, int wd, int k, int r, int s,
                               int sh, int sw, int pt, int pl, int oh, int ow, int slots);
int coalition_conv_cpu(const int32_t* segs, const float* part, const float* bout, const float* design, float* y, int k,
                       int oh, int ow, int slots, int m, int count, int64_t row_stride, int act, float lo, float hi,
                       int pool_kh, int pool_kw, int pool_sh, int pool_sw, int pool_pt, int pool_pl, int pool_oh,
                       int pool_ow);
/* Weighted sum along the leading axis: acc: (R) += sum_s w[s] * g[s,:], g: (S,R), in s order. */
int weighted_sum_cpu(const float* g, const float* w, float* acc, int64_t s, int64_t r);

#define SALIENT_REDUCE_SUM 0
#define SALIENT_REDUCE_MAX 1
#define SALIENT_REDUCE_MIN 2
#define SALIENT_REDUCE_MEAN 3
/* y: (R) = reduction of each row of x: (R,L) (rows.cpp); MAX/MIN ignore NaN as fmaxf/fminf do. */
int reduce_rows_cpu(int op, const float* x, float* y, int64_t r, int64_t l);

/* y: (n) standard normal values, element i = element offset+i of stream `seed` (random.cpp, philox.h). */
int random_normal_cpu(uint64_t seed, uint64_t offset, float* y, int64_t n);

/*
 * Row argsort (argsort.cpp): order: (R,L) the indices of each row of x: (R,L) from its largest
 * value to its smallest (ties by ascending index, NaN last), as floats (L <= 2^24);
 * rank: (R,L) the inverse permutation, rank[r, order[r,k]] = k.
 */
int argsort_rows_cpu(const float* x, float* order, float* rank, int64_t r, int64_t l);

/*
 * Secant backward over paired rows (secant.cpp; DeepLIFT's Rescale rule): x, y, dy, dx: (2,h), the
 * second half the references of the first. Where |x[i] - x[h+i]| >= eps,
 * dx[i] = dy[i] * (y[i] - y[h+i]) / (x[i] - x[h+i]) and likewise dx[h+i]; elsewhere the function's own
 * gradient: held by dx on entry (own < 0), or Relu's, dy where x > 0 (or NaN) else 0, computed here
 * (own = SALIENT_ACT_RELU), so Relu's own backward need not run first.
 */
int secant_backward_cpu(const float* x, const float* y, const float* dy, float* dx, int64_t h, float eps, int own);

/*
 * The input half of secant_backward_cpu for a Relu, given one half of the output gradient that both
 * halves share (DeepLIFT's walk over the input rows only): dy, dx: (h); x, y: the h input elements,
 * then their references, one reference row of `row` elements for every `repeat` consecutive input
 * rows (repeat 1: the paired layout, (2,h)); element i's reference is
 * j = h + (i / (repeat * row)) * row + i % row. dx[i] is what secant_backward_cpu with
 * own = SALIENT_ACT_RELU writes to dx[i] on the paired layout when dy[i] and dy[h+i] both hold dy[i].
 * *straddles = the number of i where |x[i] - x[j]| < eps and x[i] <= 0 differs from x[j] <= 0: where
 * the reference half's own gradient could differ from the input half's (0: it would equal dx).
 */
int secant_relu_half_cpu(const float* x, const float* y, const float* dy, float* dx, int64_t h, float eps,
                         int64_t repeat, int64_t row, int64_t* straddles);

/*
 * LRP's stabilised quotient (secant.cpp; Zennit's stabilizer): y[i] = r[i] / (z[i] + s[i]), with
 * s[i] = -eps where z[i] < 0, else +eps (sign(0) = +1, -0 included; a NaN z gives NaN), one
 * rounding for the sum and one for the quotient. r, z, y: (n); y may be r or z.
 */
int stab_divide_cpu(const float* r, const float* z, float* y, int64_t n, float eps);
/*
 * LRP's Norm rule through a sum (secant.cpp): s = a + b, g = r / (s + (s < 0 ? -eps : eps)),
 * da = g * a, db = g * b, each one rounding, elementwise over n. da or db may be NULL, not both;
 * neither may alias a, b or r.
 */
int norm_shares_cpu(const float* a, const float* b, const float* r, float* da, float* db, int64_t n, float eps);

/* ---- feature visualisation (resample.cpp, adam.cpp; per-pixel math in resample.h) */
/* y: (N,C,oh,ow), y[n,c,i,j] = x[n,c,i+oy,j+ox] inside x: (N,C,ih,iw), else fill; offsets: (N,2) = (oy,ox) integers. */
int crop_pad_cpu(const float* x, const float* offsets, float fill, float* y, int64_t n, int64_t c, int64_t ih,
                 int64_t iw, int64_t oh, int64_t ow);
/* y: (N,C,oh,ow) = bilinear sample (zeros outside) of x: (N,C,ih,iw) at theta[n] (N,6) of each output pixel. */
int affine_resample_forward_cpu(const float* x, const float* theta, float* y, int64_t n, int64_t c, int64_t ih,
                                int64_t iw, int64_t oh, int64_t ow);
/* dx: (N,C,ih,iw) = the adjoint of affine_resample_forward applied to dy: (N,C,oh,ow) (a deterministic gather). */
int affine_resample_backward_cpu(const float* dy, const float* theta, float* dx, int64_t n, int64_t c, int64_t ih,
                                 int64_t iw, int64_t oh, int64_t ow);
/* Lucid's redirected ReLU gradient over rows of x, dy, dx: (rows, per) (visualize/RedirectedRelu.java). */
int redirected_relu_backward_cpu(const float* x, const float* dy, float* dx, int64_t rows, int64_t per);
/* The orthonormal complex DFT along H of planes (P,H,2,K) of split complex rows (row j: K real parts, then K
 * imaginary parts): y[m] = H^-1/2 sum_j x[j] e^(sign 2 pi i jm/H) per column; sign 1 or -1; radix-2 FFT for H a
 * power of two, else the direct sum; y may not overlap x. */
int dft_rows_cpu(const float* x, float* y, int64_t planes, int64_t h, int64_t k, int sign);
/* One Adam step in place on p, m, v: (n) from g: (n), as torch.optim.Adam. */
int adam_step_cpu(float* p, const float* g, float* m, float* v, int64_t n, float beta1, float beta2, float eps,
                  float step_size, float bc2_sqrt);

#ifdef __cplusplus
}
#endif

#endif /* SALIENT_PRIMITIVES_H */
