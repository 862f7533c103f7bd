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
/* Returns the cached free blocks of salient_alloc (large tensors are kept for reuse, up to 2 GiB). */
void salient_trim(void);
/* Model constants: 64-byte aligned host memory of `count` (>0) floats outside the block cache,
 * so that closing a model gives its weights back at once; NULL + error on failure. */
float* salient_host_alloc(int64_t count);
void salient_host_free(float* p);
/* Declares the block p of salient_host_alloc (count floats, written) read-only until
 * salient_host_free: the CPU engine may then key what it derives from the values (Winograd's
 * transformed filters) by their address instead of hashing them on every call. Writing into a
 * sealed block is outside the contract. */
int salient_host_seal(const float* p, int64_t count);
/* Lifts the seal of p (salient_host_free does too) and drops what was derived from the block;
 * it may be written again, and sealed again. A block never sealed: nothing happens. */
int salient_host_unseal(const float* p);
/* Drops this process's resident pages of a read-only file mapping [p, p + bytes) (they refault
 * from the file on the next read); the whole pages inside the range only. */
int salient_release_pages(const void* p, int64_t bytes);
/* Threads of the engine's OpenMP regions, 1..salient_max_threads() (else SALIENT_EINVAL).
 * OpenBLAS is kept at one thread per call and runs inside those regions, so n threads in
 * all. OMP_NUM_THREADS above the maximum is clamped to it when the library loads. */
int salient_set_num_threads(int n);
int salient_get_num_threads(void);
/* The most threads the engine runs: 4 per core, within [8, 1024]. */
int salient_max_threads(void);
/* Instruction sets of the CPU kernels. The engine takes the widest the processor offers when it
 * loads (SALIENT_ISA=avx2 in the environment keeps it at AVX2); the results are the same bits
 * on either. salient_set_isa takes a level up to salient_max_isa() (else SALIENT_EINVAL). */
#define SALIENT_ISA_AVX2 1
#define SALIENT_ISA_AVX512 2
int salient_set_isa(int level);
int salient_get_isa(void);
int salient_max_isa(void);

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
#define SALIENT_ACT_ABS 6          /* y = |x| (saliency); gradient sign(x) */

/* y = act(x); x, y: (n) */
int activation_forward_cpu(int kind, const float* x, float* y, int64_t n, float alpha, float beta);
/* dx = dy * act'(x); x, dy, dx: (n). */
int activation_backward_cpu(int kind, const float* x, const float* dy, float* dx, int64_t n, float alpha, float beta);

/* ---- convolution ------------------------------------------------------ */
/*
 * Geometry shared by the conv entry points: input (n,c,h,w), weight
 * (k, c/groups, r, s), strides, asymmetric pads (top, left, bottom, right),
 * dilations and groups. Output (n,k,oh,ow) with
 *   oh = (h + pad_top + pad_bottom - dil_h*(r-1) - 1) / stride_h + 1.
 */
/* y = conv2d(x, w) + bias; x: (n,c,h,w), w: (k,c/groups,r,s), bias: (k) or NULL, y: (n,k,oh,ow) */
int conv2d_forward_cpu(const float* x, const float* w, const float* bias, float* y,
                       int n, int c, int h, int wd, int k, int r, int s,
                       int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                       int dil_h, int dil_w, int groups);
/* y = act(conv2d(x, w) + bias), act Relu or Clip (kinds and alpha/beta as activation_forward_cpu), applied
 * by each work item to the outputs it has just written; same shapes as conv2d_forward_cpu */
int conv2d_forward_act_cpu(const float* x, const float* w, const float* bias, float* y,
                           int n, int c, int h, int wd, int k, int r, int s,
                           int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                           int dil_h, int dil_w, int groups, int act, float alpha, float beta);
/* y = act(conv2d(x, w) + bias + z), the residual z: (n,k,oh,ow) added to each output before the activation
 * (act -1: none, Relu or Clip as in conv2d_forward_act_cpu), applied by each work item to the outputs it has just
 * written; y may overlap neither x nor z; other shapes as conv2d_forward_cpu */
int conv2d_forward_sum_cpu(const float* x, const float* w, const float* bias, const float* z, float* y,
                           int n, int c, int h, int wd, int k, int r, int s,
                           int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                           int dil_h, int dil_w, int groups, int act, float alpha, float beta);
/* One output channel per image: y[i, channels[i]] = act(conv2d(x, w)[i, channels[i]] + bias + z[i, channels[i]])
 * and every other channel of image i 0 (native/conv_channels.h: each output one chain of fmaf over (ci, r, s), the
 * same bits as the CUDA kernel). channels: n integral floats in [0, k); bias and z may be NULL; act as in
 * conv2d_forward_sum_cpu; y may overlap neither x nor z; other shapes as conv2d_forward_cpu */
int conv2d_forward_channels_cpu(const float* x, const float* w, const float* bias, const float* z, const float* channels,
                                float* y, int n, int c, int h, int wd, int k, int r, int s,
                                int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                                int dil_h, int dil_w, int groups, int act, float alpha, float beta);
/* y = act(conv2d(pre(x), w) + bias) for a pointwise conv (1x1, stride 1, no padding, one group; w: (k,c,1,1)),
 * pre(x)[n,c,i] = pre_act(fma(x[n,c,i], scale[c], shift[c])): channel_affine_act_cpu (pre_act Relu or Clip, with
 * pre_alpha and pre_beta) or channel_affine_cpu (pre_act -1) applied to the input as the conv packs it, bit for
 * bit the composed passes; shift and bias may be NULL; act as in conv2d_forward_sum_cpu; y may not overlap x */
int conv2d_forward_pre_cpu(const float* x, const float* scale, const float* shift, int pre_act, float pre_alpha,
                           float pre_beta, const float* w, const float* bias, float* y, int n, int c, int h, int wd,
                           int k, int act, float alpha, float beta);
/* y = act2(depthwise(act1(pointwise(x, w1) + b1), w2) + b2): a 1x1 conv (w1: (k,c,1,1), one group) whose output
 * only the 3x3 depthwise conv after it reads (w2: (k,1,3,3), groups k, stride 1 or 2, pads 1), run together
 * without the expanded tensor (n,k,h,w) in memory where conv2d_pointwise_depthwise_applies_cpu says so, else
 * through it; bit for bit the two convs run one after the other. b1, b2 may be NULL; act1 and act2 as in
 * conv2d_forward_act_cpu or -1 for none; y: (n,k,oh,ow) may not overlap x */
int conv2d_pointwise_depthwise_cpu(const float* x, const float* w1, const float* b1, int act1, float lo1, float hi1,
                                   const float* w2, const float* b2, float* y, int n, int c, int h, int wd, int k,
                                   int stride, int act2, float lo2, float hi2);
/* 1 where conv2d_pointwise_depthwise_cpu runs the pair without the expanded tensor here, else 0 */
int conv2d_pointwise_depthwise_applies_cpu(int n, int c, int h, int wd, int k, int stride);
/* y = act2(pointwise(act1(depthwise(x, w1) + b1), w2) + b2): a 3x3 depthwise conv (w1: (c,1,3,3), groups c, stride 1
 * or 2, pads 1) whose output only the 1x1 conv after it reads (w2: (k,c,1,1), one group), run together without the
 * depthwise output (n,c,oh,ow) in memory where conv2d_depthwise_pointwise_applies_cpu says so, else through it;
 * bit for bit the two convs run one after the other. b1, b2 may be NULL; act1 and act2 as in
 * conv2d_pointwise_depthwise_cpu; y: (n,k,oh,ow) may not overlap x */
int conv2d_depthwise_pointwise_cpu(const float* x, const float* w1, const float* b1, int act1, float lo1, float hi1,
                                   const float* w2, const float* b2, float* y, int n, int c, int h, int wd, int stride,
                                   int k, int act2, float lo2, float hi2);
/* 1 where conv2d_depthwise_pointwise_cpu runs the pair without the depthwise output here, else 0 */
int conv2d_depthwise_pointwise_applies_cpu(int n, int c, int h, int wd, int stride, int k);
/* dx = conv2d^T(dy, w), the data gradient (overwritten); dy: (n,k,oh,ow), w: (k,c/groups,r,s), dx: (n,c,h,w) */
int conv2d_backward_data_cpu(const float* dy, const float* w, float* dx,
                             int n, int c, int h, int wd, int k, int r, int s,
                             int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                             int dil_h, int dil_w, int groups);
/* conv2d_backward_data_cpu, then dx = 0 where mask <= 0 (mask (n,c,h,w): the output of the Relu that is
   the conv's input; its gradient fused), else dx + sum where sum (n,c,h,w) is given (the gradient's other
   contributions, added before the Relu); no mask (and no sum) when null */
int conv2d_backward_data_relu_cpu(const float* dy, const float* w, float* dx, const float* mask, const float* sum,
                                  int n, int c, int h, int wd, int k, int r, int s,
                                  int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom,
                                  int pad_right, int dil_h, int dil_w, int groups);

/* ---- pooling ---------------------------------------------------------- */
/*
 * Window geometry as for conv (kernel kh x kw), with the output size (oh, ow)
 * given by the caller (floor or ceil mode). Padded positions are -inf for max
 * pooling and zeros for average pooling.
 */
/* y = max over each window; x: (n,c,h,w), y: (n,c,oh,ow) */
int maxpool2d_forward_cpu(const float* x, float* y, int n, int c, int h, int wd, int kh, int kw,
                          int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                          int dil_h, int dil_w, int oh, int ow);
/* dx = dy routed to the first maximum (row-major window order, NaN wins) of each window; dx overwritten */
int maxpool2d_backward_cpu(const float* x, const float* dy, float* dx, int n, int c, int h, int wd, int kh, int kw,
                           int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                           int dil_h, int dil_w, int oh, int ow);
/* maxpool2d_backward_cpu, and with relu != 0 the gradient of a Relu before the pool too (x its output): zero where x <= 0 */
int maxpool2d_backward_relu_cpu(const float* x, const float* dy, float* dx, int n, int c, int h, int wd, int kh, int kw,
                                int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                                int dil_h, int dil_w, int oh, int ow, int relu);
/* y = mean over each window; count_include_pad as ONNX (pads count, the part past the padded input never does) */
int avgpool2d_forward_cpu(const float* x, float* y, int n, int c, int h, int wd, int kh, int kw,
                          int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                          int dil_h, int dil_w, int oh, int ow, int count_include_pad);
/* dx = avgpool^T(dy); dx overwritten */
int avgpool2d_backward_cpu(const float* dy, float* dx, int n, int c, int h, int wd, int kh, int kw,
                           int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                           int dil_h, int dil_w, int oh, int ow, int count_include_pad);

/* ---- 3-D convolution and pooling (conv3d.cpp, pool3d.cpp) ------------- */
/*
 * Volumes are (n,c,d,h,w). The geometry travels as one int array, spatial axes in
 * (d,h,w) order:
 *   conv3d: geom[SALIENT_CONV3D_GEOM] = {n, c, k, groups, d, h, w, kd, kh, kw,
 *           stride(3), pad_begin(3), pad_end(3), dilation(3)}; weight (k, c/groups, kd, kh, kw),
 *           output extent per axis (in + pb + pe - dil*(ker-1) - 1) / stride + 1.
 *   pool3d: geom[SALIENT_POOL3D_GEOM] = {n, c, d, h, w, kd, kh, kw, stride(3),
 *           pad_begin(3), pad_end(3), dilation(3), od, oh, ow}; the output size is the
 *           caller's (ONNX floor or ceil mode), as for pool2d.
 * A 2-D geometry is the 3-D one with d = kd = stride_d = dilation_d = 1 and no depth pad.
 */
#define SALIENT_CONV3D_GEOM 22
#define SALIENT_POOL3D_GEOM 23

/* y = act(conv3d(x, w) + bias); x: (n,c,d,h,w), w: (k,c/groups,kd,kh,kw), bias: (k) or NULL,
 * y: (n,k,od,oh,ow); act < 0: none, else SALIENT_ACT_RELU or SALIENT_ACT_CLIP (alpha, beta its bounds) */
int conv3d_forward_cpu(const float* x, const float* w, const float* bias, float* y, const int32_t* geom, int act,
                       float alpha, float beta);
/* y = act(conv3d(x, w) + bias + z), the residual z: (n,k,od,oh,ow) added to each output before the activation
 * (act < 0: none); y may overlap neither x nor z; other arguments as conv3d_forward_cpu */
int conv3d_forward_sum_cpu(const float* x, const float* w, const float* bias, const float* z, float* y,
                           const int32_t* geom, int act, float alpha, float beta);
/* dx = conv3d^T(dy, w), the data gradient (overwritten); dy: (n,k,od,oh,ow), dx: (n,c,d,h,w) */
int conv3d_backward_data_cpu(const float* dy, const float* w, float* dx, const int32_t* geom);
/* y = max over each window; x: (n,c,d,h,w), y: (n,c,od,oh,ow); pads are -inf */
int maxpool3d_forward_cpu(const float* x, float* y, const int32_t* geom);
/* dx = dy routed to the first maximum (depth-row-column window order, NaN wins) of each window; dx overwritten */
int maxpool3d_backward_cpu(const float* x, const float* dy, float* dx, const int32_t* geom);
/* y = mean over each window; count_include_pad as ONNX (pads count, a ceil-mode overhang never does) */
int avgpool3d_forward_cpu(const float* x, float* y, const int32_t* geom, int count_include_pad);
/* dx = avgpool3d^T(dy); dx overwritten */
int avgpool3d_backward_cpu(const float* dy, float* dx, const int32_t* geom, int count_include_pad);

/* ---- broadcasting elementwise ----------------------------------------- */
/* Shapes are int64 arrays of at most SALIENT_MAX_RANK dims, right-aligned (numpy rules). */
#define SALIENT_MAX_RANK 8

#define SALIENT_BIN_ADD 0
#define SALIENT_BIN_SUB 1
#define SALIENT_BIN_MUL 2
#define SALIENT_BIN_DIV 3

/* y = a op b; a: a_shape, b: b_shape, y: y_shape = broadcast(a_shape, b_shape) */
int binary_forward_cpu(int op, const float* a, const int64_t* a_shape, int a_rank,
                       const float* b, const int64_t* b_shape, int b_rank,
                       float* y, const int64_t* y_shape, int y_rank);
/* y = x >= 0 ? x : slope * x; slope broadcast to x's shape; x, y: x_shape */
int prelu_forward_cpu(const float* x, const int64_t* x_shape, int x_rank,
                      const float* slope, const int64_t* slope_shape, int slope_rank, float* y);
/* dx = dy * (x > 0 ? 1 : slope); x, dy, dx: x_shape */
int prelu_backward_cpu(const float* x, const int64_t* x_shape, int x_rank,
                       const float* slope, const int64_t* slope_shape, int slope_rank,
                       const float* dy, float* dx);
/* dst = src summed over the axes along which dst (right-aligned) broadcasts to src */
int reduce_sum_to_cpu(const float* src, const int64_t* src_shape, int src_rank,
                      float* dst, const int64_t* dst_shape, int dst_rank);
/* y[o,c,i] = x[o,c,i] * scale[c] + shift[c]; x, y: (outer,channels,inner), scale, shift: (channels), shift may be NULL */
int channel_affine_cpu(const float* x, const float* scale, const float* shift, float* y,
                       int64_t outer, int64_t channels, int64_t inner);
/* y = act(x * scale[c] + shift[c]), act Relu or Clip (kinds and alpha/beta as activation_forward_cpu): a
 * BatchNormalization that could not be folded and the activation after it in one pass; shapes as channel_affine_cpu */
int channel_affine_act_cpu(const float* x, const float* scale, const float* shift, float* y,
                           int64_t outer, int64_t channels, int64_t inner, int act, float alpha, float beta);
/* y = alpha * x + beta * y (beta == 0: y is not read); x, y: (n) */
int axpby_cpu(float alpha, const float* x, float beta, float* y, int64_t n);

/* ---- dense ------------------------------------------------------------ */
/*
 * y = alpha * op(a) op(b) + beta * c (ONNX Gemm). a: (m,k) or (k,m) if trans_a,
 * b: (k,n) or (n,k) if trans_b, c: NULL or (c_rows, c_cols) with c_rows in {1,m}
 * and c_cols in {1,n} broadcast to (m,n), y: (m,n).
 */
int gemm_cpu(const float* a, const float* b, const float* c, int64_t c_rows, int64_t c_cols, float* y,
             int64_t m, int64_t n, int64_t k, int trans_a, int trans_b, float alpha, float beta);
/*
 * Batched y = a @ b with numpy batch broadcasting (ONNX MatMul, 1-D operands
 * promoted by the caller). a: (a_batch..., m, k), b: (b_batch..., k, n),
 * y: (broadcast(a_batch, b_batch)..., m, n); both batch shapes have batch_rank dims.
 */
int matmul_cpu(const float* a, const int64_t* a_batch, const float* b, const int64_t* b_batch, int batch_rank,
               float* y, int64_t m, int64_t n, int64_t k);

/* ---- softmax ---------------------------------------------------------- */
/* y = softmax of x over the middle axis of (outer, dim, inner); x, y: (outer,dim,inner) */
int softmax_forward_cpu(const float* x, float* y, int64_t outer, int64_t dim, int64_t inner);
/* dx = y * (dy - sum_dim(dy * y)); y, dy, dx: (outer,dim,inner) */
int softmax_backward_cpu(const float* y, const float* dy, float* dx, int64_t outer, int64_t dim, int64_t inner);

/* ---- concat / slice --------------------------------------------------- */
/* y[o, offset + j, i] = x[o, j, i]; x: (outer, x_axis, inner), y: (outer, y_axis, inner); one concat input */
int concat_forward_cpu(const float* x, float* y, int64_t outer, int64_t x_axis, int64_t y_axis, int64_t inner,
                       int64_t offset);
/* dst[o, j, i] = src[o, offset + j, i]; src: (outer, src_axis, inner), dst: (outer, dst_axis, inner) */
int slice_axis_cpu(const float* src, float* dst, int64_t outer, int64_t src_axis, int64_t dst_axis, int64_t inner,
                   int64_t offset);

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
/* x: (NC,ih,iw) -> y: (NC,oh,ow), nearest (torch F.interpolate mode='nearest': src = floor(dst*in/out)) */
int nearest_resize_cpu(const float* x, float* y, int nc, int ih, int iw, int oh, int ow);
/* out: (N,oh,ow) = minmax(relu(resize(minmax(relu(cam))))); cam: (N,h,w) is overwritten */
int cam_finish_cpu(float* cam, float* out, int n, int h, int w, int oh, int ow);

/* ---- host linear algebra of the eigen and clustering CAMs (principal.cpp) */

/* out: (N,K) first principal direction of each centred x[n]: (K,P), sign by sums: (N,K) (see principal.cpp) */
int principal_directions_cpu(const float* x, const float* sums, float* out, int n, int k, int p);
/* dist: (n,n) Euclidean distances, in double, of the rows of x: (n,d) */
int pairwise_distances_cpu(const float* x, double* dist, int n, int d);

/* ---- superpixels and the coalition regressions of LIME and KernelSHAP (slic.cpp, regression.cpp) */

/* labels: (H,W) SLIC superpixels 0..count-1 of image: (C,H,W), as skimage.segmentation.slic (see slic.cpp) */
int slic_cpu(const float* image, int c, int h, int w, int n_segments, double compactness, int32_t* labels,
             int32_t* count);
/* coef: (m), intercept: weighted least squares of y: (n) on x: (n,m), weights w: (n) (sklearn LinearRegression) */
int weighted_lstsq_cpu(const double* x, const double* y, const double* w, int n, int m, double* coef, double* intercept);
/* coef: (m), intercept: weighted Lasso (sklearn Lasso(alpha).fit(x, y, sample_weight=w)), coordinate descent */
int weighted_lasso_cpu(const double* x, const double* y, const double* w, int n, int m, double alpha, int max_sweeps,
                       double tol, double* coef, double* intercept, int* sweeps);

/* ---- ROAD's noisy linear imputation, without the noise (imputation.cpp) */

/* bytes of band storage the banded solve of one mask keep: (H,W) needs (-1 on bad arguments) */
int64_t road_band_bytes_cpu(const uint8_t* keep, int h, int w);
/* out: (count,C,H,W) = x: (C,H,W) with the pixels where keep: (count,H,W) is 0 imputed, each mask's
   band storage at most max_band_bytes */
int road_impute_cpu(const float* x, int c, int h, int w, const uint8_t* keep, int count, float* out,
                    int64_t max_band_bytes);

#ifdef __cplusplus
}
#endif

#endif /* SALIENT_H */
