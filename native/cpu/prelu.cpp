// PReLU, y = x >= 0 ? x : slope * x with slope broadcast to x, and its data gradient.
#include "broadcast.h"

extern "C" int prelu_forward_cpu(const float* x, const int64_t* x_shape, int x_rank,
                                 const float* slope, const int64_t* slope_shape, int slope_rank, float* y) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(slope);
    SALIENT_CHECK_PTR(y);
    // x, y: x_shape, slope: slope_shape (broadcast to x_shape)
    const int64_t* shapes[3] = {x_shape, x_shape, slope_shape};
    int ranks[3] = {x_rank, x_rank, slope_rank};
    salient::Broadcast bc;
    if (int rc = salient::make_broadcast(__func__, x_shape, x_rank, 3, shapes, ranks, bc)) return rc;
    salient::for_each_run(bc, 3, [&](const int64_t* off, int64_t len, const int64_t* st) {
        float* yy = y + off[0];
        const float* xx = x + off[1];
        const float* ss = slope + off[2];
        const int64_t s1 = st[2];
#pragma omp simd
        for (int64_t i = 0; i < len; i++) {
            float v = xx[i];
            yy[i] = v >= 0.f ? v : ss[i * s1] * v;
        }
    });
    return SALIENT_OK;
}

extern "C" int prelu_backward_cpu(const float* x, const int64_t* x_shape, int x_rank,
                                  const float* slope, const int64_t* slope_shape, int slope_rank,
                                  const float* dy, float* dx) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(slope);
    SALIENT_CHECK_PTR(dy);
    SALIENT_CHECK_PTR(dx);
    // x, dy, dx: x_shape, slope: slope_shape
    const int64_t* shapes[3] = {x_shape, x_shape, slope_shape};
    int ranks[3] = {x_rank, x_rank, slope_rank};
    salient::Broadcast bc;
    if (int rc = salient::make_broadcast(__func__, x_shape, x_rank, 3, shapes, ranks, bc)) return rc;
    salient::for_each_run(bc, 3, [&](const int64_t* off, int64_t len, const int64_t* st) {
        float* dd = dx + off[0];
        const float* gg = dy + off[0];
        const float* xx = x + off[1];
        const float* ss = slope + off[2];
        const int64_t s1 = st[2];
#pragma omp simd
        for (int64_t i = 0; i < len; i++) dd[i] = xx[i] > 0.f ? gg[i] : ss[i * s1] * gg[i];
    });
    return SALIENT_OK;
}
