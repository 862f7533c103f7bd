// broadcast.cu: numpy-broadcasting binary ops (Add, Sub, Mul, Div), PReLU forward and
// backward, and reduce_sum_to (the VJP of a broadcast), the CUDA twins of
// native/cpu/binary.cpp, prelu.cpp and reduce.cpp.
//
// FLOP/byte: 1 FLOP per 12 B moved for the binary ops; bandwidth-bound. Shapes are
// coalesced on the host (common.cuh: Broadcast), so the common cases (same shape,
// per-channel operand) index with one or two divisions per element. reduce_sum_to sums
// R inputs into each output: one thread per output when R is small, one block per output
// with a tree reduction when R is large (bias-style reductions over N*H*W).
#include "common.cuh"

using salient_cuda::Broadcast;

// ---- device helpers

// SALIENT_BIN_* (native/salient.h, one list for both engines)
enum { BIN_ADD = SALIENT_BIN_ADD, BIN_SUB = SALIENT_BIN_SUB, BIN_MUL = SALIENT_BIN_MUL, BIN_DIV = SALIENT_BIN_DIV };

template <int OP>
__device__ __forceinline__ float bin_apply(float a, float b) {
    if (OP == BIN_ADD) return a + b;
    if (OP == BIN_SUB) return a - b;
    if (OP == BIN_MUL) return a * b;
    return a / b;
}

// Reduction layout: output element o (dst is contiguous and its non-1 dims are exactly
// the kept dims, in order) sums src over the reduced dims.
struct ReduceLayout {
    int nk, nr;
    int64_t kshape[SALIENT_CUDA_MAX_RANK], kstride[SALIENT_CUDA_MAX_RANK];  // kept dims: size, src stride
    int64_t rshape[SALIENT_CUDA_MAX_RANK], rstride[SALIENT_CUDA_MAX_RANK];  // reduced dims: size, src stride
    int64_t n_out, n_red;
};

__device__ __forceinline__ int64_t unravel(int64_t idx, int nd, const int64_t* shape, const int64_t* stride) {
    int64_t off = 0;
    for (int d = nd - 1; d >= 0; d--) {
        off += (idx % shape[d]) * stride[d];
        idx /= shape[d];
    }
    return off;
}

// ---- kernels

// y = a op b over the broadcast b (operands: 0 = y, 1 = a, 2 = b).
template <int OP>
__global__ void binary_forward_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y,
                                      Broadcast bc) {
    GRID_STRIDE(i, bc.numel) {
        int64_t off[3];
        broadcast_offsets<3>(bc, i, off);
        y[off[0]] = bin_apply<OP>(a[off[1]], b[off[2]]);
    }
}

// Same-shape fast path.
template <int OP>
__global__ void binary_same_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y,
                                   int64_t n) {
    GRID_STRIDE(i, n) y[i] = bin_apply<OP>(a[i], b[i]);
}

// y = x >= 0 ? x : slope * x (operands: 0 = y, 1 = x, 2 = slope)
__global__ void prelu_forward_kernel(const float* __restrict__ x, const float* __restrict__ slope, float* __restrict__ y,
                                     Broadcast bc) {
    GRID_STRIDE(i, bc.numel) {
        int64_t off[3];
        broadcast_offsets<3>(bc, i, off);
        float v = x[off[1]];
        y[off[0]] = v >= 0.f ? v : slope[off[2]] * v;
    }
}

// dx = dy * (x > 0 ? 1 : slope) (operands: 0 = x, dy, dx, 1 = x (unused), 2 = slope)
__global__ void prelu_backward_kernel(const float* __restrict__ x, const float* __restrict__ slope,
                                      const float* __restrict__ dy, float* __restrict__ dx, Broadcast bc) {
    GRID_STRIDE(i, bc.numel) {
        int64_t off[3];
        broadcast_offsets<3>(bc, i, off);
        float v = x[off[0]];
        dx[off[0]] = dy[off[0]] * (v > 0.f ? 1.f : slope[off[2]]);
    }
}

// One thread per output element; for small reductions.
__global__ void reduce_sum_to_thread_kernel(const float* __restrict__ src, float* __restrict__ dst, ReduceLayout L) {
    GRID_STRIDE(o, L.n_out) {
        const int64_t base = unravel(o, L.nk, L.kshape, L.kstride);
        float acc = 0.f;
        for (int64_t r = 0; r < L.n_red; r++) acc += src[base + unravel(r, L.nr, L.rshape, L.rstride)];
        dst[o] = acc;
    }
}

// One block per output element (grid-stride over outputs); tree reduction.
__global__ void reduce_sum_to_block_kernel(const float* __restrict__ src, float* __restrict__ dst, ReduceLayout L) {
    __shared__ float scratch[32];
    for (int64_t o = blockIdx.x; o < L.n_out; o += gridDim.x) {
        const int64_t base = unravel(o, L.nk, L.kshape, L.kstride);
        float acc = 0.f;
        for (int64_t r = threadIdx.x; r < L.n_red; r += blockDim.x)
            acc += src[base + unravel(r, L.nr, L.rshape, L.rstride)];
        acc = block_sum(acc, scratch);
        if (threadIdx.x == 0) dst[o] = acc;
    }
}

// ---- launchers

extern "C" int binary_forward_cuda(int op, const float* a, const int64_t* a_shape, int a_rank, const float* b,
                                   const int64_t* b_shape, int b_rank, float* y, const int64_t* y_shape, int y_rank) {
    SALIENT_CUDA_CHECK_PTR(a);
    SALIENT_CUDA_CHECK_PTR(b);
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(op >= BIN_ADD && op <= BIN_DIV, "binary_forward_cuda: unknown op %d", op);
    const int64_t* shapes[3] = {y_shape, a_shape, b_shape};
    int ranks[3] = {y_rank, a_rank, b_rank};
    Broadcast bc;
    if (int rc = salient_cuda::make_broadcast(__func__, y_shape, y_rank, 3, shapes, ranks, bc)) return rc;
    if (bc.numel == 0) return SALIENT_OK;
    const bool same = bc.rank == 1 && bc.stride[1][0] == 1 && bc.stride[2][0] == 1;
    const unsigned grid = salient_cuda::grid_for(bc.numel);
    const int T = salient_cuda::kThreads;
#define SALIENT_BIN_CASE(OPC)                                                              \
    case OPC:                                                                              \
        if (same) binary_same_kernel<OPC><<<grid, T>>>(a, b, y, bc.numel);                 \
        else binary_forward_kernel<OPC><<<grid, T>>>(a, b, y, bc);                         \
        break;
    switch (op) {
        SALIENT_BIN_CASE(BIN_ADD)
        SALIENT_BIN_CASE(BIN_SUB)
        SALIENT_BIN_CASE(BIN_MUL)
        SALIENT_BIN_CASE(BIN_DIV)
    }
#undef SALIENT_BIN_CASE
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int prelu_forward_cuda(const float* x, const int64_t* x_shape, int x_rank, const float* slope,
                                  const int64_t* slope_shape, int slope_rank, float* y) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(slope);
    SALIENT_CUDA_CHECK_PTR(y);
    const int64_t* shapes[3] = {x_shape, x_shape, slope_shape};
    int ranks[3] = {x_rank, x_rank, slope_rank};
    Broadcast bc;
    if (int rc = salient_cuda::make_broadcast(__func__, x_shape, x_rank, 3, shapes, ranks, bc)) return rc;
    if (bc.numel == 0) return SALIENT_OK;
    prelu_forward_kernel<<<salient_cuda::grid_for(bc.numel), salient_cuda::kThreads>>>(x, slope, y, bc);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int prelu_backward_cuda(const float* x, const int64_t* x_shape, int x_rank, const float* slope,
                                   const int64_t* slope_shape, int slope_rank, const float* dy, float* dx) {
    SALIENT_CUDA_CHECK_PTR(x);
    SALIENT_CUDA_CHECK_PTR(slope);
    SALIENT_CUDA_CHECK_PTR(dy);
    SALIENT_CUDA_CHECK_PTR(dx);
    const int64_t* shapes[3] = {x_shape, x_shape, slope_shape};
    int ranks[3] = {x_rank, x_rank, slope_rank};
    Broadcast bc;
    if (int rc = salient_cuda::make_broadcast(__func__, x_shape, x_rank, 3, shapes, ranks, bc)) return rc;
    if (bc.numel == 0) return SALIENT_OK;
    prelu_backward_kernel<<<salient_cuda::grid_for(bc.numel), salient_cuda::kThreads>>>(x, slope, dy, dx, bc);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}

extern "C" int reduce_sum_to_cuda(const float* src, const int64_t* src_shape, int src_rank, float* dst,
                                  const int64_t* dst_shape, int dst_rank) {
    SALIENT_CUDA_CHECK_PTR(src);
    SALIENT_CUDA_CHECK_PTR(dst);
    // reuse the broadcast checks: dst must broadcast to src
    const int64_t* shapes[2] = {src_shape, dst_shape};
    int ranks[2] = {src_rank, dst_rank};
    Broadcast bc;
    if (int rc = salient_cuda::make_broadcast(__func__, src_shape, src_rank, 2, shapes, ranks, bc)) return rc;
    const int64_t dst_n = salient_cuda::shape_numel(dst_shape, dst_rank);
    if (dst_n == 0) return SALIENT_OK;
    if (bc.numel == 0) return fill_cuda(dst, dst_n, 0.f);
    // coalesced dims: stride[0] is src's, stride[1] dst's (0 where dst broadcasts = reduced)
    ReduceLayout L;
    L.nk = L.nr = 0;
    L.n_out = L.n_red = 1;
    for (int d = 0; d < bc.rank; d++) {
        if (bc.stride[1][d] != 0) {
            L.kshape[L.nk] = bc.shape[d];
            L.kstride[L.nk++] = bc.stride[0][d];
            L.n_out *= bc.shape[d];
        } else {
            L.rshape[L.nr] = bc.shape[d];
            L.rstride[L.nr++] = bc.stride[0][d];
            L.n_red *= bc.shape[d];
        }
    }
    // dst_n == n_out: dst's non-1 dims are exactly the kept dims (coalescing keeps dst contiguous)
    SALIENT_CUDA_CHECK(L.n_out == dst_n, "reduce_sum_to_cuda: internal layout mismatch");
    if (L.n_red < 64 || L.n_out >= 65536) {
        reduce_sum_to_thread_kernel<<<salient_cuda::grid_for(L.n_out), salient_cuda::kThreads>>>(src, dst, L);
    } else {
        const unsigned grid = (unsigned)(L.n_out < 65535 * 16 ? L.n_out : 65535 * 16);
        reduce_sum_to_block_kernel<<<grid, salient_cuda::kThreads>>>(src, dst, L);
    }
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
