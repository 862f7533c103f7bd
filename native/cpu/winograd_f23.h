// The input transform of Winograd F(2x2, 3x3), V = B^T d B with
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], shared by the 2-D path (conv2d_winograd.cpp)
// and the 3-D path's depth taps (conv3d_winograd.cpp): B^T down the columns of four input rows,
// then B along the rows, each tile's 16 values scattered into the packed panels of the GEMMs
// (kWinogradPanel tiles per panel), so both paths round alike.
#pragma once
#include <algorithm>
#include <cstdint>

namespace salient {
namespace winograd {

constexpr int kWinogradPanel = 16;

// r_a[c] for c in [0, w): r0 = d0 - d2, r1 = d1 + d2, r2 = d2 - d1, r3 = d1 - d3. The d rows may
// be the r rows themselves (in place).
inline void columns(const float* d0r, const float* d1r, const float* d2r, const float* d3r, float* const r[4], int w) {
    float *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3];
#pragma omp simd
    for (int c = 0; c < w; c++) {
        const float d0 = d0r[c], d1 = d1r[c], d2 = d2r[c], d3 = d3r[c];
        r0[c] = d0 - d2;
        r1[c] = d1 + d2;
        r2[c] = d2 - d1;
        r3[c] = d1 - d3;
    }
}

// B along the rows r (from columns(), four columns from 2 * tx per tile) for the tw tiles of one
// tile row, tiles tb, tb + 1, ...: value xi of tile t and channel i goes to
// V[xi * sv + (t / 16) * panel + i * 16 + t % 16].
inline void rows(float* const r[4], float* V, int64_t tb, int tw, int64_t panel, int64_t i, int64_t sv) {
    constexpr int kNR = kWinogradPanel;
    for (int tx = 0; tx < tw;) {
        const int64_t t = tb + tx;
        const int lane = (int)(t % kNR), len = std::min(tw - tx, kNR - lane);
        float* o = V + (t / kNR) * panel + i * kNR + lane;
        for (int a = 0; a < 4; a++) {
            const float* rr = r[a] + 2 * tx;
            float* o0 = o + (a * 4 + 0) * sv;
            float* o1 = o + (a * 4 + 1) * sv;
            float* o2 = o + (a * 4 + 2) * sv;
            float* o3 = o + (a * 4 + 3) * sv;
#pragma omp simd
            for (int j = 0; j < len; j++) {
                const float e0 = rr[2 * j], e1 = rr[2 * j + 1], e2 = rr[2 * j + 2], e3 = rr[2 * j + 3];
                o0[j] = e0 - e2;
                o1[j] = e1 + e2;
                o2[j] = e2 - e1;
                o3[j] = e1 - e3;
            }
        }
        tx += len;
    }
}

}  // namespace winograd
}  // namespace salient
