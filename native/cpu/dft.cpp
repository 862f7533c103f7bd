// The complex DFT along the rows of planes of split complex rows (dft_rows_cpu): feature
// visualisation's inverse FFT along H (visualize/FourierImage.java) and its adjoint. Per plane
// (H, 2, K): row j holds the real parts of K complex values, then their imaginary parts;
//
//   y[m] = (1/√H) Σ_j x[j] e^{sign·2πi·jm/H}   for each of the K columns.
//
// H a power of two: an iterative radix-2 FFT (Cooley & Tukey 1965) over whole rows: the input
// rows copied in bit-reversed order (scaled by 1/√H), then log2 H stages of butterflies, each a
// pass over K columns with one twiddle; 5·H·log2(H)·K FLOPs instead of the matrix product's
// 8·H²·K. Other H: the direct sum over j in order, as the CUDA kernel sums for every H. Twiddles
// are native/dft.h's. Threads take whole planes, so a plane's bits
// do not depend on the batch or the thread count.
#include <cmath>
#include <cstring>
#include <vector>
#include <omp.h>
#include "common.h"
#include "dft.h"
#include "primitives.h"
#include "salient_host.h"

namespace {

void twiddles(int64_t h, int sign, std::vector<float>& wr, std::vector<float>& wi) {
    wr.resize((size_t)h);
    wi.resize((size_t)h);
    for (int64_t r = 0; r < h; r++) salient_dft::twiddle(r, h, sign, &wr[(size_t)r], &wi[(size_t)r]);
}

void fft_plane(const float* x, float* y, int64_t h, int64_t k, const float* wr, const float* wi, float scale) {
    int bits = 0;
    while ((int64_t(1) << bits) < h) bits++;
    for (int64_t j = 0; j < h; j++) {
        int64_t r = 0;
        for (int b = 0; b < bits; b++) r |= ((j >> b) & 1) << (bits - 1 - b);
        const float* s = x + j * 2 * k;
        float* d = y + r * 2 * k;
#pragma omp simd
        for (int64_t i = 0; i < 2 * k; i++) d[i] = s[i] * scale;
    }
    for (int64_t len = 2; len <= h; len <<= 1) {
        const int64_t half = len / 2, step = h / len;
        for (int64_t b = 0; b < h; b += len)
            for (int64_t j = 0; j < half; j++) {
                const float cr = wr[j * step], ci = wi[j * step];
                float* ar = y + (b + j) * 2 * k;
                float* ai = ar + k;
                float* br = y + (b + j + half) * 2 * k;
                float* bi = br + k;
#pragma omp simd
                for (int64_t i = 0; i < k; i++) {
                    const float tr = cr * br[i] - ci * bi[i], ti = cr * bi[i] + ci * br[i];
                    br[i] = ar[i] - tr;
                    bi[i] = ai[i] - ti;
                    ar[i] = ar[i] + tr;
                    ai[i] = ai[i] + ti;
                }
            }
    }
}

void dft_plane(const float* x, float* y, int64_t h, int64_t k, const float* wr, const float* wi, float scale) {
    for (int64_t m = 0; m < h; m++) {
        float* yr = y + m * 2 * k;
        float* yi = yr + k;
        for (int64_t i = 0; i < 2 * k; i++) yr[i] = 0.f;
        for (int64_t j = 0; j < h; j++) {
            const int64_t r = (j * m) % h;
            const float cr = wr[r], ci = wi[r];
            const float* xr = x + j * 2 * k;
            const float* xi = xr + k;
#pragma omp simd
            for (int64_t i = 0; i < k; i++) {
                yr[i] += cr * xr[i] - ci * xi[i];
                yi[i] += cr * xi[i] + ci * xr[i];
            }
        }
#pragma omp simd
        for (int64_t i = 0; i < 2 * k; i++) yr[i] *= scale;
    }
}

}  // namespace

extern "C" int dft_rows_cpu(const float* x, float* y, int64_t planes, int64_t h, int64_t k, int sign) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(planes > 0 && h > 0 && k > 0, "dft_rows_cpu: bad sizes planes=%lld h=%lld k=%lld", (long long)planes,
                  (long long)h, (long long)k);
    SALIENT_CHECK(h <= (int64_t(1) << 20), "dft_rows_cpu: %lld rows is beyond this transform", (long long)h);
    SALIENT_CHECK(sign == 1 || sign == -1, "dft_rows_cpu: sign must be 1 or -1, got %d", sign);
    const int64_t per = h * 2 * k;
    const uintptr_t xa = (uintptr_t)x, xe = xa + sizeof(float) * (uintptr_t)(planes * per);
    const uintptr_t ya = (uintptr_t)y, ye = ya + sizeof(float) * (uintptr_t)(planes * per);
    SALIENT_CHECK(xe <= ya || ye <= xa, "dft_rows_cpu: the output overlaps the input");
    std::vector<float> wr, wi;
    twiddles(h, sign, wr, wi);
    const float scale = (float)(1.0 / std::sqrt((double)h));
    const bool pow2 = (h & (h - 1)) == 0;
#pragma omp parallel for schedule(static) if (planes > 1)
    for (int64_t p = 0; p < planes; p++) {
        if (pow2) fft_plane(x + p * per, y + p * per, h, k, wr.data(), wi.data(), scale);
        else dft_plane(x + p * per, y + p * per, h, k, wr.data(), wi.data(), scale);
    }
    return SALIENT_OK;
}
