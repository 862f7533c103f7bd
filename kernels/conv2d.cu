// conv2d.cu: 2-D convolution forward and its data gradient (no weight gradient, ever), the
// CUDA twins of native/cpu/conv2d.cpp. Groups, stride, dilation and asymmetric pads.
//
//   forward:       y[n,k,p,q]   = bias[k] + sum_{c,r,s} w[k,c,r,s] x[n, g*Cg + c, p*sh - pt + r*dh, q*sw - pl + s*dw]
//   backward_data: dx[n,c,h,w]  = sum_{k,r,s} w[k,c,r,s] dy[n, g*Kg + k, (h + pt - r*dh)/sh, (w + pl - s*dw)/sw]
//                  (terms whose quotient is not an exact in-range integer vanish)
//
// Both are implicit GEMMs per group g, never materialising im2col:
//   forward:  Y_g (Kg x N*OH*OW)  = W_g (Kg x Cg*R*S)        * im2col(X_g) (Cg*R*S x N*OH*OW)
//   backward: dX_g (Cg x N*H*W)   = W_g^T (Cg x Kg*R*S)      * col2im-gather(dY_g) (Kg*R*S x N*H*W)
// Tiles of BM x BN outputs per block, BK-deep slices of the reduction staged in shared memory
// (double-buffered, the next slice prefetched into registers while the current one is
// multiplied), TM x TN outputs per thread in registers (strided float4 chunks, so shared-memory
// reads are conflict-free), float4 weight loads when the filter rows are 16-byte aligned. Exact FP32: every product is an FP32 FMA (no TF32).
// Depthwise convolutions (Cg == 1) get their own direct kernels.
//
// FLOP/byte: ResNet-50 at batch 64 is ~4.1 GFLOP/image forward; a 3x3x256->256 layer at
// 14x14 does 2*256*2304*12544 = 14.8 GFLOP on ~26 MB of activations+weights, ~570 FLOP/B,
// far above the H100's ~20 FLOP/B balance: compute-bound, so the target is FMA throughput.
// A 128x128 tile with BK = 8 loads (128+128)*8*4 B from L2 per 2*128*128*8 FLOP (32 FLOP/B
// of L2 traffic) and each thread issues 64 FMAs per 4 shared-memory float4 loads.
// Backward-data with stride s visits s^2 times the useful products (zeros of the gather);
// a stride-phase decomposition is the known next step.
#include "common.cuh"
#include "../native/conv_channels.h"

// ---- device helpers

using salient::host::ConvGeom;  // n c h w k r s sh sw pt pl pb pr dh dw groups, then oh ow cg kg

enum { CONV_FWD = 0, CONV_BWD_DATA = 1 };

// ---- kernels

// Implicit-GEMM tile kernel shared by forward (MODE = CONV_FWD: `in` = x, `out` = y) and
// backward-data (MODE = CONV_BWD_DATA: `in` = dy, `out` = dx). grid = (ceil(NPIX/BN), ceil(M/BM), groups).
template <int MODE, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
conv2d_igemm_kernel(const float* __restrict__ in, const float* __restrict__ w, const float* __restrict__ bias,
                    float* __restrict__ out, ConvGeom g, bool vec_a) {
    constexpr int NT = (BM / TM) * (BN / TN);
    constexpr int KV = BK / 4;             // float4 chunks per A row slice
    constexpr int A_RPP = NT / KV;         // A rows loaded per pass
    constexpr int A_PASSES = BM / A_RPP;
    constexpr int B_RPP = NT / BN;         // B rows loaded per pass
    constexpr int B_PASSES = BK / B_RPP;
    static_assert(BK % 4 == 0 && TM % 4 == 0 && TN % 4 == 0, "tile shape");
    static_assert(NT % KV == 0 && BM % A_RPP == 0 && NT % BN == 0 && BK % B_RPP == 0, "thread mapping");

    __shared__ __align__(16) float As[2][BK][BM];
    __shared__ __align__(16) float Bs[2][BK][BN];

    const int tid = threadIdx.x;
    const int grp = blockIdx.z;
    const int m0 = blockIdx.y * BM;
    const int64_t n0 = (int64_t)blockIdx.x * BN;
    const int RS = g.r * g.s;
    const int M = MODE == CONV_FWD ? g.kg : g.cg;
    const int KD = (MODE == CONV_FWD ? g.cg : g.kg) * RS;
    const int64_t OHW = (int64_t)g.oh * g.ow, HW = (int64_t)g.h * g.w;
    const int64_t NPIX = (int64_t)g.n * (MODE == CONV_FWD ? OHW : HW);
    // forward: A = W_g rows (Kg x KD, row-major); backward: A[c][k*RS+rs] = W_g[k][c][rs]
    const float* wg = w + (int64_t)grp * g.kg * g.cg * RS;

    // this thread's A slots
    const int a_row = tid / KV, a_col = (tid % KV) * 4;
    // this thread's B column (one output or input pixel), fixed for the whole reduction
    const int b_col = tid % BN, b_row = tid / BN;
    const int64_t col = n0 + b_col;
    const bool col_ok = col < NPIX;
    int64_t b_base = 0;
    int b_y = 0, b_x = 0;
    if (col_ok) {
        if (MODE == CONV_FWD) {
            const int64_t img = col / OHW;
            const int pix = (int)(col - img * OHW);
            const int p = pix / g.ow, q = pix - p * g.ow;
            b_base = (img * g.c + (int64_t)grp * g.cg) * HW;
            b_y = p * g.sh - g.pt;
            b_x = q * g.sw - g.pl;
        } else {
            const int64_t img = col / HW;
            const int pix = (int)(col - img * HW);
            const int ih = pix / g.w, iw = pix - ih * g.w;
            b_base = (img * g.k + (int64_t)grp * g.kg) * OHW;
            b_y = ih + g.pt;
            b_x = iw + g.pl;
        }
    }

    float ra[A_PASSES][4];
    float rb[B_PASSES];

    auto load_a = [&](int k0) {
#pragma unroll
        for (int i = 0; i < A_PASSES; i++) {
            const int m = m0 + a_row + i * A_RPP;
            const int kk = k0 + a_col;
            if (MODE == CONV_FWD && vec_a) {
                // KD % 4 == 0 and 16-byte aligned rows: kk < KD implies kk + 3 < KD
                float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
                if (m < M && kk < KD) v = __ldg(reinterpret_cast<const float4*>(wg + (int64_t)m * KD + kk));
                ra[i][0] = v.x;
                ra[i][1] = v.y;
                ra[i][2] = v.z;
                ra[i][3] = v.w;
            } else {
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const int kj = kk + j;
                    float v = 0.f;
                    if (m < M && kj < KD) {
                        if (MODE == CONV_FWD) {
                            v = __ldg(wg + (int64_t)m * KD + kj);
                        } else {
                            const int kf = kj / RS, rs = kj - kf * RS;
                            v = __ldg(wg + ((int64_t)kf * g.cg + m) * RS + rs);
                        }
                    }
                    ra[i][j] = v;
                }
            }
        }
    };

    auto load_b = [&](int k0) {
#pragma unroll
        for (int i = 0; i < B_PASSES; i++) {
            const int kk = k0 + b_row + i * B_RPP;
            float v = 0.f;
            if (col_ok && kk < KD) {
                const int ch = kk / RS, rs = kk - ch * RS;
                const int r = rs / g.s, s = rs - r * g.s;
                if (MODE == CONV_FWD) {
                    const int ih = b_y + r * g.dh, iw = b_x + s * g.dw;
                    if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w)
                        v = __ldg(in + b_base + (int64_t)ch * HW + (int64_t)ih * g.w + iw);
                } else {
                    const int ph = b_y - r * g.dh, qw = b_x - s * g.dw;
                    if (ph >= 0 && qw >= 0 && ph % g.sh == 0 && qw % g.sw == 0) {
                        const int p = ph / g.sh, q = qw / g.sw;
                        if (p < g.oh && q < g.ow) v = __ldg(in + b_base + (int64_t)ch * OHW + (int64_t)p * g.ow + q);
                    }
                }
            }
            rb[i] = v;
        }
    };

    auto store = [&](int buf) {
#pragma unroll
        for (int i = 0; i < A_PASSES; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) As[buf][a_col + j][a_row + i * A_RPP] = ra[i][j];
#pragma unroll
        for (int i = 0; i < B_PASSES; i++) Bs[buf][b_row + i * B_RPP][b_col] = rb[i];
    };

    // Thread (ty, tx) owns rows {q*M_STRIDE + ty*4 + e} and columns {q*N_STRIDE + tx*4 + e}
    // (q < TM/4 resp. TN/4, e < 4): neighbouring threads read neighbouring float4s of the
    // shared tiles (no bank conflicts) and write neighbouring output chunks.
    constexpr int M_STRIDE = BM / (TM / 4), N_STRIDE = BN / (TN / 4);
    const int ty = tid / (BN / TN), tx = tid % (BN / TN);
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.f;

    const int ntiles = (KD + BK - 1) / BK;
    load_a(0);
    load_b(0);
    store(0);
    __syncthreads();
    for (int t = 0; t < ntiles; t++) {
        const int buf = t & 1;
        if (t + 1 < ntiles) {
            load_a((t + 1) * BK);
            load_b((t + 1) * BK);
        }
#pragma unroll
        for (int k = 0; k < BK; k++) {
            float a[TM], b[TN];
#pragma unroll
            for (int q = 0; q < TM / 4; q++) {
                const float4 v = *reinterpret_cast<const float4*>(&As[buf][k][q * M_STRIDE + ty * 4]);
                a[4 * q] = v.x;
                a[4 * q + 1] = v.y;
                a[4 * q + 2] = v.z;
                a[4 * q + 3] = v.w;
            }
#pragma unroll
            for (int q = 0; q < TN / 4; q++) {
                const float4 v = *reinterpret_cast<const float4*>(&Bs[buf][k][q * N_STRIDE + tx * 4]);
                b[4 * q] = v.x;
                b[4 * q + 1] = v.y;
                b[4 * q + 2] = v.z;
                b[4 * q + 3] = v.w;
            }
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        if (t + 1 < ntiles) store(buf ^ 1);
        __syncthreads();
    }

    // epilogue: scatter the tile back to NCHW (+ bias for the forward pass)
#pragma unroll
    for (int i = 0; i < TM; i++) {
        const int m = m0 + (i / 4) * M_STRIDE + ty * 4 + (i % 4);
        if (m >= M) continue;
        const int ch = (MODE == CONV_FWD ? g.kg : g.cg) * grp + m;
        const float bv = (MODE == CONV_FWD && bias != nullptr) ? __ldg(bias + ch) : 0.f;
#pragma unroll
        for (int j = 0; j < TN; j++) {
            const int64_t cidx = n0 + (j / 4) * N_STRIDE + tx * 4 + (j % 4);
            if (cidx >= NPIX) continue;
            if (MODE == CONV_FWD) {
                const int64_t img = cidx / OHW, pix = cidx - img * OHW;
                out[(img * g.k + ch) * OHW + pix] = acc[i][j] + bv;
            } else {
                const int64_t img = cidx / HW, pix = cidx - img * HW;
                out[(img * g.c + ch) * HW + pix] = acc[i][j];
            }
        }
    }
}

// Depthwise forward (Cg == 1, Kg filters per input channel): one thread per output.
// y: (n,k,oh,ow), x: (n,c,h,w), w: (k,1,r,s); filter kout reads input channel kout / Kg.
__global__ void conv2d_forward_depthwise_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                                const float* __restrict__ bias, float* __restrict__ y, ConvGeom g,
                                                int64_t total) {
    GRID_STRIDE(t, total) {
        const int q = (int)(t % g.ow), p = (int)((t / g.ow) % g.oh);
        const int64_t nk = t / ((int64_t)g.oh * g.ow);
        const int kout = (int)(nk % g.k);
        const int64_t img = nk / g.k;
        const float* xp = x + (img * g.c + kout / g.kg) * (int64_t)g.h * g.w;
        const float* wp = w + (int64_t)kout * g.r * g.s;
        float acc = 0.f;
        for (int r = 0; r < g.r; r++) {
            const int ih = p * g.sh - g.pt + r * g.dh;
            if (ih < 0 || ih >= g.h) continue;
            for (int s = 0; s < g.s; s++) {
                const int iw = q * g.sw - g.pl + s * g.dw;
                if (iw >= 0 && iw < g.w) acc = fmaf(__ldg(wp + r * g.s + s), xp[(int64_t)ih * g.w + iw], acc);
            }
        }
        y[t] = acc + (bias ? __ldg(bias + kout) : 0.f);
    }
}

// Depthwise backward-data: one thread per input element, gathering from its Kg filters.
__global__ void conv2d_backward_data_depthwise_kernel(const float* __restrict__ dy, const float* __restrict__ w,
                                                      float* __restrict__ dx, ConvGeom g, int64_t total) {
    GRID_STRIDE(t, total) {
        const int iw = (int)(t % g.w), ih = (int)((t / g.w) % g.h);
        const int64_t nc = t / ((int64_t)g.h * g.w);
        const int cin = (int)(nc % g.c);
        const int64_t img = nc / g.c;
        float acc = 0.f;
        for (int m = 0; m < g.kg; m++) {
            const int kout = cin * g.kg + m;
            const float* dyp = dy + (img * g.k + kout) * (int64_t)g.oh * g.ow;
            const float* wp = w + (int64_t)kout * g.r * g.s;
            for (int r = 0; r < g.r; r++) {
                const int ph = ih + g.pt - r * g.dh;
                if (ph < 0 || ph % g.sh != 0) continue;
                const int p = ph / g.sh;
                if (p >= g.oh) continue;
                for (int s = 0; s < g.s; s++) {
                    const int qw = iw + g.pl - s * g.dw;
                    if (qw < 0 || qw % g.sw != 0) continue;
                    const int q = qw / g.sw;
                    if (q >= g.ow) continue;
                    acc = fmaf(__ldg(wp + r * g.s + s), dyp[(int64_t)p * g.ow + q], acc);
                }
            }
        }
        dx[t] = acc;
    }
}

// One output channel per image (native/conv_channels.h): one thread per output of y; those of
// channel channels[img] run the chain of fmaf over (ci, r, s) that the CPU runs, the rest write 0.
// A channel outside 0..k-1 (the caller checks them) selects nothing: the image's outputs are all 0.
__global__ void conv2d_forward_channels_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                               const float* __restrict__ bias, const float* __restrict__ z,
                                               const float* __restrict__ channels, float* __restrict__ y, ConvGeom g,
                                               int act, float lo, float hi, int64_t total) {
    GRID_STRIDE(t, total) {
        const int q = (int)(t % g.ow), p = (int)((t / g.ow) % g.oh);
        const int64_t nk = t / ((int64_t)g.oh * g.ow);
        const int kout = (int)(nk % g.k);
        const int64_t img = nk / g.k;
        const float sel = channels[img];
        if (!(sel == (float)kout)) {
            y[t] = 0.f;
            continue;
        }
        const float* xp = x + (img * g.c + (int64_t)(kout / g.kg) * g.cg) * (int64_t)g.h * g.w;
        const float* wk = w + (int64_t)kout * g.cg * g.r * g.s;
        float acc = 0.f;
        for (int ci = 0; ci < g.cg; ci++) {
            const float* xc = xp + (int64_t)ci * g.h * g.w;
            for (int r = 0; r < g.r; r++) {
                const int ih = p * g.sh - g.pt + r * g.dh;
                if (ih < 0 || ih >= g.h) continue;
                for (int s = 0; s < g.s; s++) {
                    const int iw = q * g.sw - g.pl + s * g.dw;
                    if (iw >= 0 && iw < g.w) acc = fmaf(__ldg(wk + ((int64_t)ci * g.r + r) * g.s + s), xc[(int64_t)ih * g.w + iw], acc);
                }
            }
        }
        y[t] = salient_conv_channels::finish(acc, bias, kout, z ? z + t : nullptr, act, lo, hi);
    }
}

// ---- launchers

// The common checks (salient_host.h), then this engine's limits (grid, 32-bit indices).
static int check_conv(const char* fn, ConvGeom& g) {
    if (int rc = salient::host::check_conv_geometry(fn, g)) return rc;
    SALIENT_CUDA_CHECK(g.groups <= 65535, "%s: %d groups exceed the grid limit", fn, g.groups);
    const int64_t crs = (int64_t)g.cg * g.r * g.s, krs = (int64_t)g.kg * g.r * g.s;
    SALIENT_CUDA_CHECK(crs < (1 << 30) && krs < (1 << 30) && (int64_t)g.h * g.w < (1 << 30) &&
                           (int64_t)g.oh * g.ow < (1 << 30),
                       "%s: plane or filter too large", fn);
    return SALIENT_OK;
}

// Picks the tile: 128x128 (8x8 per thread) when both GEMM sides fill it, else 64x64 (4x4).
template <int MODE>
static void launch_igemm(const float* in, const float* w, const float* bias, float* out, const ConvGeom& g) {
    const int M = MODE == CONV_FWD ? g.kg : g.cg;
    const int KD = (MODE == CONV_FWD ? g.cg : g.kg) * g.r * g.s;
    const int64_t npix = (int64_t)g.n * (MODE == CONV_FWD ? (int64_t)g.oh * g.ow : (int64_t)g.h * g.w);
    const bool vec_a = MODE == CONV_FWD && KD % 4 == 0 && ((uintptr_t)w & 15u) == 0;
    if (M >= 128 && npix >= 128 * 64) {
        dim3 grid((unsigned)salient_cuda::ceil_div(npix, 128), (unsigned)salient_cuda::ceil_div(M, 128), g.groups);
        conv2d_igemm_kernel<MODE, 128, 128, 8, 8, 8><<<grid, 256>>>(in, w, bias, out, g, vec_a);
    } else {
        dim3 grid((unsigned)salient_cuda::ceil_div(npix, 64), (unsigned)salient_cuda::ceil_div(M, 64), g.groups);
        conv2d_igemm_kernel<MODE, 64, 64, 16, 4, 4><<<grid, 256>>>(in, w, bias, out, g, vec_a);
    }
}

extern "C" int conv2d_forward_cuda(const float* x, const float* w, const float* bias, float* y, int n, int c, int h,
                                   int wd, int k, int r, int s, int stride_h, int stride_w, int pad_top, int pad_left,
                                   int pad_bottom, int pad_right, int dil_h, int dil_w, int groups) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(w);
    SALIENT_CUDA_CHECK_PTR(y);
    ConvGeom g{n, c, h, wd, k, r, s, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dil_h, dil_w, groups,
               0, 0, 0, 0};
    if (int rc = check_conv(__func__, g)) return rc;
    // x: (n,c,h,w), w: (k,cg,r,s), bias: (k), y: (n,k,oh,ow)
    if (g.cg == 1) {
        const int64_t total = (int64_t)n * k * g.oh * g.ow;
        conv2d_forward_depthwise_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(x, w, bias, y, g,
                                                                                                  total);
    } else {
        launch_igemm<CONV_FWD>(x, w, bias, y, g);
    }
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int conv2d_backward_data_cuda(const float* dy, const float* w, float* dx, int n, int c, int h, int wd,
                                         int k, int r, int s, int stride_h, int stride_w, int pad_top, int pad_left,
                                         int pad_bottom, int pad_right, int dil_h, int dil_w, int groups) {
    SALIENT_CUDA_CHECK_PTR(dy);
    SALIENT_CUDA_CHECK_PTR(w);
    SALIENT_CUDA_CHECK_PTR(dx);
    ConvGeom g{n, c, h, wd, k, r, s, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dil_h, dil_w, groups,
               0, 0, 0, 0};
    if (int rc = check_conv(__func__, g)) return rc;
    // dy: (n,k,oh,ow), w: (k,cg,r,s), dx: (n,c,h,w), overwritten
    if (g.cg == 1) {
        const int64_t total = (int64_t)n * c * h * wd;
        conv2d_backward_data_depthwise_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(dy, w, dx, g,
                                                                                                        total);
    } else {
        launch_igemm<CONV_BWD_DATA>(dy, w, nullptr, dx, g);
    }
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int conv2d_forward_channels_cuda(const float* x, const float* w, const float* bias, const float* z,
                                            const float* channels, float* y, int n, int c, int h, int wd, int k, int r,
                                            int s, int stride_h, int stride_w, int pad_top, int pad_left,
                                            int pad_bottom, int pad_right, int dil_h, int dil_w, int groups, int act,
                                            float alpha, float beta) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(w);
    SALIENT_CUDA_CHECK_PTR(channels);
    SALIENT_CUDA_CHECK_PTR(y);
    ConvGeom g{n, c, h, wd, k, r, s, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dil_h, dil_w, groups,
               0, 0, 0, 0};
    if (int rc = check_conv(__func__, g)) return rc;
    SALIENT_CUDA_CHECK(act < 0 || act == SALIENT_ACT_RELU || act == SALIENT_ACT_CLIP,
                       "%s: activation %d cannot be fused (none < 0, Relu %d or Clip %d)", __func__, act,
                       SALIENT_ACT_RELU, SALIENT_ACT_CLIP);
    const int64_t total = (int64_t)n * k * g.oh * g.ow;
    conv2d_forward_channels_kernel<<<salient_cuda::grid_for(total), salient_cuda::kThreads>>>(
        x, w, bias, z, channels, y, g, act < 0 ? -1 : act, alpha, beta, total);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
