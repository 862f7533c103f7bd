// common.cuh: helpers shared by every kernel file of the CUDA engine.
//   - the per-thread error message and the argument / launch checks that fill it;
//   - ceil_div and the launch-size helpers;
//   - warp and block reductions;
//   - the numpy broadcast iterator (the plan from salient_host.h, offsets on the device).
// The host code both engines share (errors, checks, broadcast plan, conv geometry, op codes)
// is native/salient_host.h.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cuda_runtime.h>
#include "salient_cuda.h"
#include "salient_host.h"

namespace salient_cuda {

// Records a printf-style message as this thread's last error and returns `code`.
using salient::host::fail;
// Records "<what>: <CUDA error string>" and returns SALIENT_EBACKEND (or ENOMEM for OOM).
int fail_cuda(const char* what, cudaError_t e);

constexpr int kThreads = 256;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Grid for a grid-stride loop over n items: enough blocks to fill the device, never more than needed.
inline unsigned grid_for(int64_t n, int threads = kThreads) {
    int64_t blocks = ceil_div(n, threads);
    if (blocks > 65535LL * 32) blocks = 65535LL * 32;  // grid-stride covers the rest
    return (unsigned)(blocks < 1 ? 1 : blocks);
}

}  // namespace salient_cuda

// Early-return argument checks: SALIENT_CUDA_CHECK(cond, "message %d", v) (salient_host.h's)
#define SALIENT_CUDA_CHECK(cond, ...) SALIENT_CHECK(cond, __VA_ARGS__)
#define SALIENT_CUDA_CHECK_PTR(p) SALIENT_CHECK_PTR(p)

// After a launch: turns a launch error into the status of the calling launcher.
#define SALIENT_CUDA_CHECK_LAUNCH()                                                \
    do {                                                                           \
        cudaError_t e_ = cudaGetLastError();                                       \
        if (e_ != cudaSuccess) return ::salient_cuda::fail_cuda(__func__, e_);     \
    } while (0)

// Any CUDA runtime call inside a launcher.
#define SALIENT_CUDA_TRY(call)                                                     \
    do {                                                                           \
        cudaError_t e_ = (call);                                                   \
        if (e_ != cudaSuccess) return ::salient_cuda::fail_cuda(__func__, e_);     \
    } while (0)

// ---- device helpers

#define GRID_STRIDE(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)blockDim.x * gridDim.x)

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float warp_min(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Block-wide reductions for blockDim.x a multiple of 32 (<= 1024). `scratch` holds 32
// values in shared memory; every thread gets the result. Callers must not reuse scratch
// before the next __syncthreads (the functions end with one).
template <class T>
__device__ T block_sum(T v, T* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    T t = lane < nwarps ? scratch[lane] : T(0);
    t = warp_sum(t);
    __syncthreads();
    return t;
}

__device__ inline float block_max(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_max(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = lane < nwarps ? scratch[lane] : -INFINITY;
    t = warp_max(t);
    __syncthreads();
    return t;
}

__device__ inline float block_min(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_min(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = lane < nwarps ? scratch[lane] : INFINITY;
    t = warp_min(t);
    __syncthreads();
    return t;
}

namespace salient_cuda {

// Broadcast iteration (salient_host.h): passed to kernels by value, built on the host by
// make_broadcast (shapes checked, dims of size 1 dropped, contiguous runs merged).
using salient::host::Broadcast;
using salient::host::check_shape;
using salient::host::make_broadcast;
using salient::host::shape_numel;
static_assert(SALIENT_CUDA_MAX_RANK == SALIENT_MAX_RANK, "one rank limit for both engines");

}  // namespace salient_cuda

// Device: element offsets of linear output index i in each operand.
template <int NOPS>
__device__ __forceinline__ void broadcast_offsets(const salient_cuda::Broadcast& b, int64_t i, int64_t* off) {
#pragma unroll
    for (int o = 0; o < NOPS; o++) off[o] = 0;
    for (int d = b.rank - 1; d >= 0; d--) {
        int64_t dim = b.shape[d];
        int64_t j = i % dim;
        i /= dim;
#pragma unroll
        for (int o = 0; o < NOPS; o++) off[o] += j * b.stride[o][d];
    }
}
