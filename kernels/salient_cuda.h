/*
 * salient_cuda.h: the flat C ABI of the CUDA engine (kernels/).
 *
 * Every op is `<stem>_cuda`, the twin of `<stem>_cpu` in native/salient.h, with
 * the same arguments and the same semantics; pointers to tensors are device
 * pointers. Conventions:
 *   - float32, NCHW, contiguous; shapes are plain integers;
 *   - every function checks its arguments before launching and returns 0 or a
 *     negative SALIENT_E* code; the message (with the CUDA error string when
 *     CUDA failed) is then available from salient_cuda_last_error();
 *   - kernels run on the legacy default stream, in issue order; memcpy to or
 *     from the host synchronises, so results are visible after a download;
 *   - no C++ types cross this boundary.
 */
#ifndef SALIENT_CUDA_H
#define SALIENT_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef SALIENT_OK
#define SALIENT_OK 0
#define SALIENT_EINVAL -1   /* bad argument: null pointer, bad shape, out of range */
#define SALIENT_ENOMEM -2   /* allocation failed */
#define SALIENT_EUNSUPPORTED -3
#define SALIENT_EBACKEND -4 /* CUDA error */
#endif

#define SALIENT_CUDA_MAX_RANK 8

/* ---- runtime (runtime.cu) -------------------------------------------- */

/* Message of the last failing call on this thread ("" if none). */
const char* salient_cuda_last_error(void);
/* Number of usable CUDA devices; 0 (not an error) without a driver or a GPU. */
int salient_cuda_device_count(void);
/* Why device_count is 0 (the CUDA error string), or "" when devices answered. */
const char* salient_cuda_probe_error(void);
/* Copies the device's name, "sm_XY" and memory into buf (len bytes); 0 or negative. */
int salient_cuda_device_describe(int device, char* buf, int len);
int salient_cuda_set_device(int device);
/* cudart version as 1000*major + 10*minor; driver version likewise (0 without a driver). */
int salient_cuda_runtime_version(void);
int salient_cuda_driver_version(void);
/* Device allocation of count (> 0) floats; NULL + error on failure (ENOMEM text names the size). */
float* salient_cuda_malloc(int64_t count);
int salient_cuda_free(float* p);
/* Free and total device memory in bytes. */
int salient_cuda_mem_info(int64_t* free_bytes, int64_t* total_bytes);
/* Copies count floats: host -> device, device -> host, device -> device (offsets in floats). */
int salient_cuda_upload(float* dst, int64_t dst_offset, const float* src, int64_t count);
int salient_cuda_download(float* dst, const float* src, int64_t src_offset, int64_t count);
int salient_cuda_copy(float* dst, int64_t dst_offset, const float* src, int64_t src_offset, int64_t count);
/* Waits for all queued work; reports asynchronous kernel faults. */
int salient_cuda_synchronize(void);
/* Caps the device memory this engine holds through salient_cuda_malloc at `bytes` (0: no cap
 * beyond the device's own); later allocations over it fail with SALIENT_ENOMEM, as a full
 * device would. For the out-of-memory paths (tests). */
int salient_cuda_set_memory_limit(int64_t bytes);
/* 1 when this library is the CPU emulation of the kernels (kernels/emu/), 0 on a real device. */
int salient_cuda_is_emulated(void);

/* ---- elementwise (elementwise.cu) ------------------------------------ */

/* x[i] = value; x: (n) */
int fill_cuda(float* x, int64_t n, float value);
/* y = act(x); x, y: (n); kinds as SALIENT_ACT_* in native/salient.h (0 relu .. 6 abs) */
int activation_forward_cuda(int kind, const float* x, float* y, int64_t n, float alpha, float beta);
/* dx = dy * act'(x); x, dy, dx: (n) */
int activation_backward_cuda(int kind, const float* x, const float* dy, float* dx, int64_t n, float alpha, float beta);
/* y = alpha * x + beta * y (beta == 0: y is not read); x, y: (n) */
int axpby_cuda(float alpha, const float* x, float beta, float* y, int64_t n);
/* y[o,c,i] = x[o,c,i] * scale[c] + shift[c]; shift may be NULL */
int channel_affine_cuda(const float* x, const float* scale, const float* shift, float* y,
                        int64_t outer, int64_t channels, int64_t inner);

/* ---- broadcasting (broadcast.cu); shapes right-aligned, numpy rules ---- */

/* y = a op b; op as SALIENT_BIN_* (0 add, 1 sub, 2 mul, 3 div) */
int binary_forward_cuda(int op, const float* a, const int64_t* a_shape, int a_rank,
                        const float* b, const int64_t* b_shape, int b_rank,
                        float* y, const int64_t* y_shape, int y_rank);
/* y = x >= 0 ? x : slope * x; slope broadcast to x's shape */
int prelu_forward_cuda(const float* x, const int64_t* x_shape, int x_rank,
                       const float* slope, const int64_t* slope_shape, int slope_rank, float* y);
/* dx = dy * (x > 0 ? 1 : slope) */
int prelu_backward_cuda(const float* x, const int64_t* x_shape, int x_rank,
                        const float* slope, const int64_t* slope_shape, int slope_rank,
                        const float* dy, float* dx);
/* dst = src summed over the axes along which dst (right-aligned) broadcasts to src */
int reduce_sum_to_cuda(const float* src, const int64_t* src_shape, int src_rank,
                       float* dst, const int64_t* dst_shape, int dst_rank);

/* ---- softmax, concat, slice (softmax.cu, concat.cu) ------------------- */

int softmax_forward_cuda(const float* x, float* y, int64_t outer, int64_t dim, int64_t inner);
int softmax_backward_cuda(const float* y, const float* dy, float* dx, int64_t outer, int64_t dim, int64_t inner);
/* y[o, offset + j, i] = x[o, j, i]; x: (outer, x_axis, inner), y: (outer, y_axis, inner) */
int concat_forward_cuda(const float* x, float* y, int64_t outer, int64_t x_axis, int64_t y_axis, int64_t inner,
                        int64_t offset);
/* dst[o, j, i] = src[o, offset + j, i] */
int slice_axis_cuda(const float* src, float* dst, int64_t outer, int64_t src_axis, int64_t dst_axis, int64_t inner,
                    int64_t offset);

/* ---- convolution (conv2d.cu) ------------------------------------------ */

/* y = conv2d(x, w) + bias; x: (n,c,h,w), w: (k,c/groups,r,s), bias: (k) or NULL, y: (n,k,oh,ow) */
int conv2d_forward_cuda(const float* x, const float* w, const float* bias, float* y,
                        int n, int c, int h, int wd, int k, int r, int s,
                        int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                        int dil_h, int dil_w, int groups);
/* One output channel per image, as conv2d_forward_channels_cpu (native/conv_channels.h), the same bits */
int conv2d_forward_channels_cuda(const float* x, const float* w, const float* bias, const float* z,
                                 const float* channels, float* y, int n, int c, int h, int wd, int k, int r, int s,
                                 int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                                 int dil_h, int dil_w, int groups, int act, float alpha, float beta);
/* dx = conv2d^T(dy, w) (overwritten); dy: (n,k,oh,ow), w: (k,c/groups,r,s), dx: (n,c,h,w) */
int conv2d_backward_data_cuda(const float* dy, const float* w, float* dx,
                              int n, int c, int h, int wd, int k, int r, int s,
                              int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                              int dil_h, int dil_w, int groups);

/* ---- pooling (pool2d.cu) ---------------------------------------------- */

int maxpool2d_forward_cuda(const float* x, float* y, int n, int c, int h, int wd, int kh, int kw,
                           int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                           int dil_h, int dil_w, int oh, int ow);
/* dx = dy routed to the first maximum (row-major window order, NaN wins) of each window; dx overwritten */
int maxpool2d_backward_cuda(const float* x, const float* dy, float* dx, int n, int c, int h, int wd, int kh, int kw,
                            int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                            int dil_h, int dil_w, int oh, int ow);
int avgpool2d_forward_cuda(const float* x, float* y, int n, int c, int h, int wd, int kh, int kw,
                           int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                           int dil_h, int dil_w, int oh, int ow, int count_include_pad);
int avgpool2d_backward_cuda(const float* dy, float* dx, int n, int c, int h, int wd, int kh, int kw,
                            int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                            int dil_h, int dil_w, int oh, int ow, int count_include_pad);

/* ---- 3-D convolution and pooling (conv3d.cu, pool3d.cu) --------------- */
/* geometry arrays, shapes and semantics as conv3d_*_cpu / *pool3d_*_cpu in native/salient.h */

int conv3d_forward_cuda(const float* x, const float* w, const float* bias, float* y, const int32_t* geom, int act,
                        float alpha, float beta);
int conv3d_backward_data_cuda(const float* dy, const float* w, float* dx, const int32_t* geom);
int maxpool3d_forward_cuda(const float* x, float* y, const int32_t* geom);
int maxpool3d_backward_cuda(const float* x, const float* dy, float* dx, const int32_t* geom);
int avgpool3d_forward_cuda(const float* x, float* y, const int32_t* geom, int count_include_pad);
int avgpool3d_backward_cuda(const float* dy, float* dx, const int32_t* geom, int count_include_pad);

/* ---- dense (gemm.cu) -------------------------------------------------- */

/* y = alpha * op(a) op(b) + beta * c (ONNX Gemm); c: NULL or (c_rows in {1,m}, c_cols in {1,n}) */
int gemm_cuda(const float* a, const float* b, const float* c, int64_t c_rows, int64_t c_cols, float* y,
              int64_t m, int64_t n, int64_t k, int trans_a, int trans_b, float alpha, float beta);
/* batched y = a @ b with numpy batch broadcasting; a: (a_batch..., m, k), b: (b_batch..., k, n) */
int matmul_cuda(const float* a, const int64_t* a_batch, const float* b, const int64_t* b_batch, int batch_rank,
                float* y, int64_t m, int64_t n, int64_t k);

/* ---- attribution: CAM family (cam.cu) --------------------------------- */

/* w: (N,K) from a, g: (N,K,P); kinds as SALIENT_CAMW_* */
int gradcam_weights_cuda(int kind, const float* a, const float* g, float* w, int n, int k, int64_t p);
/* cam: (N,P) from a: (N,K,P) and wg: w (N,K) for WEIGHTED, else g (N,K,P); modes as SALIENT_CAMC_* */
int cam_combine_cuda(int mode, const float* a, const float* wg, float* cam, int n, int k, int64_t p);
/* x: (NC,ih,iw) -> y: (NC,oh,ow), bilinear, half-pixel centres */
int bilinear_resize_cuda(const float* x, float* y, int nc, int ih, int iw, int oh, int ow);
/* x: (NC,ih,iw) -> y: (NC,oh,ow), nearest as torch mode='nearest' (src = floor(dst*in/out)) */
int nearest_resize_cuda(const float* x, float* y, int nc, int ih, int iw, int oh, int ow);
/* out: (N,oh,ow) = minmax(relu(resize(minmax(relu(cam))))); cam: (N,h,w) is overwritten */
int cam_finish_cuda(float* cam, float* out, int n, int h, int w, int oh, int ow);

#ifdef __cplusplus
}
#endif

#endif /* SALIENT_CUDA_H */
