// The transforms of Winograd F(4x4, 3x3) with the points 0, 1, -1, 2, -1/2 and infinity (more
// accurate than 0, +-1, +-2: Barabasz et al. 2020), for the 3-D path's depth taps
// (conv3d_winograd.cpp). The 2-D path stays on F(2x2, 3x3): this transform's error exceeds its
// tests' tolerance (see docs/speed-log.md, its Intel block):
//
//   G   = [1 0 0; -1/3 -1/3 -1/3; 1/3 -1/3 1/3; 1/15 2/15 4/15; -16/15 8/15 -4/15; 0 0 1]
//   B^T = [1 3/2 -2 -3/2 1 0; 0 -1 -5/2 -1/2 1 0; 0 1 1/2 -5/2 1 0; 0 -1/2 -1 1/2 1 0;
//          0 2 -1 -2 1 0; 0 1 3/2 -2 -3/2 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -1/2 0; 0 1 1 4 1/4 0; 0 1 -1 8 -1/8 1]
//
// A tile's 6x6 input starts at column 4 tx. Input rows are staged split into their 4 phases
// (padded column 4 j + q at q * ls + j), so that B^T down the columns runs over whole staged rows
// and B along the rows reads each phase in order: tile tx's six columns are phases 0..3 at tx and
// phases 0, 1 at tx + 1.
#pragma once
#include <algorithm>
#include <cstdint>

namespace salient {
namespace winograd {

// U = G g G^T of a 3x3 filter g, in double, each value rounded once: u[(a * 6 + b) * stride].
inline void filter43(const float g[3][3], float* u, int64_t stride) {
    auto gt = [](const double* v, int step, double* o) {
        const double a = v[0], b = v[step], c = v[2 * step];
        o[0] = a;
        o[1] = -(a + b + c) / 3;
        o[2] = (a - b + c) / 3;
        o[3] = (a + 2 * b + 4 * c) / 15;
        o[4] = (-16 * a + 8 * b - 4 * c) / 15;
        o[5] = c;
    };
    double gd[3][3], q[6][3];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) gd[r][c] = g[r][c];
    for (int c = 0; c < 3; c++) {  // G g, column by column
        double o[6];
        gt(&gd[0][c], 3, o);
        for (int a = 0; a < 6; a++) q[a][c] = o[a];
    }
    for (int a = 0; a < 6; a++) {  // (G g) G^T
        double o[6];
        gt(q[a], 1, o);
        for (int b = 0; b < 6; b++) u[(int64_t)(a * 6 + b) * stride] = (float)o[b];
    }
}

// B^T applied to e0..e5, into b0..b5.
#define SALIENT_WINO43_BT(e0, e1, e2, e3, e4, e5, b0, b1, b2, b3, b4, b5) \
    do {                                                                   \
        const float d13 = (e1) - (e3), u42 = (e4) - (e2);                  \
        b0 = ((e0) + u42) - (e2) + 1.5f * d13;                             \
        b1 = ((e4) - (e1)) - 2.5f * (e2) - 0.5f * (e3);                    \
        b2 = ((e4) + (e1)) + 0.5f * (e2) - 2.5f * (e3);                    \
        b3 = u42 - 0.5f * d13;                                             \
        b4 = u42 + 2.f * d13;                                              \
        b5 = ((e5) - (e3)) + 1.5f * ((e2) - (e4)) - (e3) + (e1);           \
    } while (0)

// One padded input row into its phases ph[q * ls + j] = padded column 4 j + q, j < ls, where
// xr[col] is padded column col (the input row's columns are [pl, pl + win); others are zero).
// Straight from the input where all four columns of j are inside it, element by element at the edges.
inline void phases43(const float* xr, int pl, int win, int ls, float* ph) {
    const int j_lo = (pl + 3) / 4, j_hi = std::min(ls, (pl + win) / 4);
    auto at = [xr, pl, win](int col) { return col >= pl && col < pl + win ? xr[col] : 0.f; };
    float *q0 = ph, *q1 = ph + ls, *q2 = ph + 2 * ls, *q3 = ph + 3 * ls;
    for (int j = 0; j < j_lo; j++)
        for (int q = 0; q < 4; q++) ph[q * ls + j] = at(4 * j + q);
#pragma omp simd
    for (int j = j_lo; j < j_hi; j++) {
        q0[j] = xr[4 * j];
        q1[j] = xr[4 * j + 1];
        q2[j] = xr[4 * j + 2];
        q3[j] = xr[4 * j + 3];
    }
    for (int j = std::max(j_lo, j_hi); j < ls; j++)
        for (int q = 0; q < 4; q++) ph[q * ls + j] = at(4 * j + q);
}

// The transformed tiles of one tile row: B^T down the columns of the six staged rows d
// (4 * ls floats each, W apart) into the row buffers r, then B along the rows:
// value (a * 6 + b) of tile tx goes to out[(a * 6 + b) * stride + tx], tx < tw.
inline void tiles43(const float* d, int64_t W, int ls, int tw, float* const r[6], float* out, int64_t stride) {
    const float *d0r = d, *d1r = d + W, *d2r = d + 2 * W, *d3r = d + 3 * W, *d4r = d + 4 * W, *d5r = d + 5 * W;
    float *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3], *r4 = r[4], *r5 = r[5];
    const int w = 4 * ls;
#pragma omp simd
    for (int c = 0; c < w; c++)
        SALIENT_WINO43_BT(d0r[c], d1r[c], d2r[c], d3r[c], d4r[c], d5r[c], r0[c], r1[c], r2[c], r3[c], r4[c], r5[c]);
    for (int a = 0; a < 6; a++) {
        const float* e = r[a];
        float* oa = out + (int64_t)(a * 6) * stride;
#pragma omp simd
        for (int j = 0; j < tw; j++)
            SALIENT_WINO43_BT(e[j], e[ls + j], e[2 * ls + j], e[3 * ls + j], e[j + 1], e[ls + j + 1], oa[j],
                              oa[stride + j], oa[2 * stride + j], oa[3 * stride + j], oa[4 * stride + j],
                              oa[5 * stride + j]);
    }
}

// A^T m A of one tile row's tw tiles, m[(a * 6 + b) * sm + tx]: output row r, column 4 tx + c goes
// to q[r][4 tx + c].
inline void outputs43(const float* m, int64_t sm, int tw, float* const q[4]) {
    float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
#pragma omp simd
    for (int tx = 0; tx < tw; tx++) {
        float s[6][4];  // A^T along each transformed row a
        for (int a = 0; a < 6; a++) {
            const float* ma = m + (int64_t)(a * 6) * sm + tx;
            const float m0 = ma[0], m1 = ma[sm], m2 = ma[2 * sm], m3 = ma[3 * sm], m4 = ma[4 * sm], m5 = ma[5 * sm];
            const float s12 = m1 + m2, d12 = m1 - m2;
            s[a][0] = m0 + s12 + m3 + m4;
            s[a][1] = d12 + 2.f * m3 - 0.5f * m4;
            s[a][2] = s12 + 4.f * m3 + 0.25f * m4;
            s[a][3] = d12 + 8.f * m3 - 0.125f * m4 + m5;
        }
        for (int c = 0; c < 4; c++) {  // then down the columns
            const float s12 = s[1][c] + s[2][c], d12 = s[1][c] - s[2][c], m3 = s[3][c], m4 = s[4][c];
            q0[4 * tx + c] = s[0][c] + s12 + m3 + m4;
            q1[4 * tx + c] = d12 + 2.f * m3 - 0.5f * m4;
            q2[4 * tx + c] = s12 + 4.f * m3 + 0.25f * m4;
            q3[4 * tx + c] = d12 + 8.f * m3 - 0.125f * m4 + s[5][c];
        }
    }
}

}  // namespace winograd
}  // namespace salient
