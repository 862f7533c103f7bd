// dft.h: the twiddles of the complex DFT along rows (dft_rows_cpu, native/cpu/dft.cpp, and its CUDA
// twin, kernels/dft.cu), shared by g++ and nvcc so that both engines multiply by the same floats:
// cos and sin of 2π·r/H, computed in double (exact at quarter turns) and rounded once.
#pragma once
#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define SALIENT_DFT_HD __host__ __device__ __forceinline__
#else
#define SALIENT_DFT_HD inline
#endif

namespace salient_dft {

// e^{sign·2πi·r/h} for 0 <= r < h, rounded to float: *c the real part, *s the imaginary part.
SALIENT_DFT_HD void twiddle(int64_t r, int64_t h, int sign, float* c, float* s) {
    double cv, sv;
    if (r == 0) cv = 1, sv = 0;
    else if (4 * r == h) cv = 0, sv = 1;
    else if (2 * r == h) cv = -1, sv = 0;
    else if (4 * r == 3 * h) cv = 0, sv = -1;
    else {
        const double a = 6.283185307179586476925 * (double)r / (double)h;
        cv = cos(a), sv = sin(a);
    }
    *c = (float)cv;
    *s = (float)(sign * sv);
}

}  // namespace salient_dft
