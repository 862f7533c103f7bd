// The steps of an AVX-512 register block over a packed A: the loop that the packed-A kernels share
// (gemm_canonical.cpp's kernel512p, conv3d_winograd.cpp's kernel512).
#pragma once
#include "isa.h"
#if SALIENT_HAVE_AVX512
#include <cstdint>
#include <immintrin.h>

namespace salient {

SALIENT_AVX512_BEGIN
// acc[r][h] = fma(A[p as + r], B[p bstep + h pstride + lane], acc[r][h]) for p = 0 .. steps - 1 in order:
// R rows of A (as floats a step) by H 16-lane panels of B, so each lane's chain is a sum in p order.
template <int R, int H, int AS>
inline void fma_steps(int steps, const float* A, const float* B, int64_t bstep, int64_t pstride, __m512 (&acc)[R][H]) {
#pragma GCC unroll 4
    for (int p = 0; p < steps; p++, A += AS, B += bstep) {
        __m512 b[H];
#pragma GCC unroll 4
        for (int h = 0; h < H; h++) b[h] = _mm512_loadu_ps(B + h * pstride);
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            const __m512 av = _mm512_set1_ps(A[r]);
#pragma GCC unroll 4
            for (int h = 0; h < H; h++) acc[r][h] = _mm512_fmadd_ps(av, b[h], acc[r][h]);
        }
    }
}
SALIENT_AVX512_END

}  // namespace salient
#endif
