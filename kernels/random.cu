// random.cu: seeded standard normal numbers from the counter-based Philox4x32-10 stream,
// the CUDA twin of native/cpu/random.cpp; both include native/philox.h, so element i of
// a call is element offset+i of the stream on either engine.
//
// FLOP/byte: ~10 Philox rounds (20 32-bit multiplies) plus one log and one sin/cos in
// double per 4 B written: compute-bound but small (a noise batch is a few MB).
#include "common.cuh"
#include "primitives_cuda.h"
#include "../native/philox.h"

// ---- device helpers
//
// (salient_philox::normal_at from philox.h)

// ---- kernels

__global__ void random_normal_kernel(uint64_t seed, uint64_t offset, float* __restrict__ y, int64_t n) {
    GRID_STRIDE(i, n) { y[i] = salient_philox::normal_at(seed, offset + (uint64_t)i); }
}

// ---- launchers

extern "C" int random_normal_cuda(uint64_t seed, uint64_t offset, float* y, int64_t n) {
    SALIENT_CUDA_CHECK_PTR(y);
    SALIENT_CUDA_CHECK(n > 0, "random_normal_cuda: bad size n=%lld", (long long)n);
    random_normal_kernel<<<salient_cuda::grid_for(n), salient_cuda::kThreads>>>(seed, offset, y, n);
    SALIENT_CUDA_CHECK_LAUNCH();
    return SALIENT_OK;
}
