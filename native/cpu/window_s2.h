// A 3-wide window's row at stride 2 with AVX-512, 16 outputs at a time: the inputs of the window's three
// columns for outputs q0 .. q0 + 15 of one row, read from the input row where it lies. Shared by the
// stride-2 depthwise rows (conv2d_depthwise.cpp) and the stem kernel (conv2d_stem.cpp).
#pragma once
#include "isa.h"
#if SALIENT_HAVE_AVX512
#include <algorithm>
#include <cstdint>
#include <immintrin.h>

namespace salient {
namespace conv {

SALIENT_AVX512_BEGIN
// Lanes l with 0 <= c + l < w
inline __mmask16 cols_in(int64_t c, int w) {
    const int64_t lo = std::max<int64_t>(0, -c), hi = std::min<int64_t>(16, w - c);
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

// The columns of a segment of 16 outputs whose windows start at input column c0 (= 2 q0 - pad) of rows
// w wide: the lanes of its two pairs of loads that lie in the row
struct WindowS2 {
    int64_t c0;
    __mmask16 m0, m1, m2, m3;
    WindowS2(int64_t c0_, int w) : c0(c0_), m0(cols_in(c0_, w)), m1(cols_in(c0_ + 16, w)), m2(cols_in(c0_ + 2, w)),
                                   m3(cols_in(c0_ + 18, w)) {}
    // u0, u1, u2: input row `row` at columns c0 + s + 2 l (window column s, lane l), zero outside the
    // row: the even and the odd columns of two loads from c0, the even ones of two from c0 + 2. The row's
    // base address has the column offset added as an integer: lanes before the row are masked off,
    // never read.
    void taps(const float* row, __m512& u0, __m512& u1, __m512& u2) const {
        const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        const __m512 lo = _mm512_maskz_loadu_ps(m0, row + c0), hi = _mm512_maskz_loadu_ps(m1, row + c0 + 16);
        const __m512 lo2 = _mm512_maskz_loadu_ps(m2, row + c0 + 2), hi2 = _mm512_maskz_loadu_ps(m3, row + c0 + 18);
        u0 = _mm512_permutex2var_ps(lo, ev, hi);
        u1 = _mm512_permutex2var_ps(lo, od, hi);
        u2 = _mm512_permutex2var_ps(lo2, ev, hi2);
    }
};
SALIENT_AVX512_END

}  // namespace conv
}  // namespace salient
#endif
