// philox.h: the counter-based generator behind salient's seeded random numbers,
// shared by the CPU engine (g++) and the CUDA kernels (nvcc) so that both give
// the same stream: Philox4x32-10 (Salmon et al., "Parallel random numbers: as
// easy as 1, 2, 3", SC 2011), the generator of cuRAND and of PyTorch's CUDA RNG.
//
// Element g of a stream with key `seed` is lane g % 4 of Philox(counter = g / 4,
// key = seed): no state, so any element can be computed independently of how the
// work is split. Normal values come from Box-Muller on the lane pairs (0,1) and
// (2,3), evaluated in double and rounded to float.
#pragma once
#include <stdint.h>
#include <math.h>

#if defined(__CUDACC__)
#define SALIENT_HD __host__ __device__ __forceinline__
#else
#define SALIENT_HD inline
#endif

namespace salient_philox {

SALIENT_HD uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

// Philox4x32 with 10 rounds: ctr -> 4 random 32-bit words.
SALIENT_HD void philox4x32_10(uint32_t c[4], uint32_t k0, uint32_t k1) {
    const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = mulhilo(M0, c[0], &hi0);
        uint32_t lo1 = mulhilo(M1, c[2], &hi1);
        uint32_t n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0;
        c[1] = lo1;
        c[2] = n2;
        c[3] = lo0;
        k0 += W0;
        k1 += W1;
    }
}

// Standard normal element g of stream `seed`.
SALIENT_HD float normal_at(uint64_t seed, uint64_t g) {
    uint64_t block = g >> 2;
    uint32_t c[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0u, 0u};
    philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    int lane = (int)(g & 3);
    uint32_t a = lane < 2 ? c[0] : c[2], b = lane < 2 ? c[1] : c[3];
    // u1 in (0, 1], u2 in [0, 1)
    double u1 = ((double)a + 1.0) * 2.3283064365386963e-10;
    double u2 = (double)b * 2.3283064365386963e-10;
    double r = sqrt(-2.0 * log(u1));
    double t = 6.283185307179586 * u2;
    return (float)((lane & 1) ? r * sin(t) : r * cos(t));
}

}  // namespace salient_philox
