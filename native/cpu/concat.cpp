// Concat along an axis (one input at a time, into its slot) and its VJP,
// slicing a block out along an axis. Tensors are viewed as (outer, axis, inner)
// so both are strided copies of contiguous runs of axis*inner floats.
#include <omp.h>
#include <algorithm>
#include <cstring>
#include "common.h"

namespace {

// dst[o, dst_off + j, i] = src[o, src_off + j, i] for j < len. Runs are split into pieces when
// there are fewer of them than threads: at batch 1 (outer 1) a concat input is one run, which
// the calling thread alone copied while the others waited (DenseNet-121: 62 concats a pass).
void copy_axis_block(const float* src, int64_t src_axis, int64_t src_off, float* dst, int64_t dst_axis,
                     int64_t dst_off, int64_t outer, int64_t len, int64_t inner) {
    const int64_t run = len * inner;
    const int nt = outer * run > 65536 ? omp_get_max_threads() : 1;
    const int64_t parts = outer >= nt ? 1 : (nt + outer - 1) / outer;  // pieces per run
    const int64_t piece = (run + parts - 1) / parts;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t it = 0; it < outer * parts; it++) {
        const int64_t o = it / parts, j0 = (it % parts) * piece, j1 = std::min(run, j0 + piece);
        if (j1 > j0)
            std::memcpy(dst + (o * dst_axis + dst_off) * inner + j0, src + (o * src_axis + src_off) * inner + j0,
                        sizeof(float) * (size_t)(j1 - j0));
    }
}

}  // namespace

extern "C" int concat_forward_cpu(const float* x, float* y, int64_t outer, int64_t x_axis, int64_t y_axis,
                                  int64_t inner, int64_t offset) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(outer >= 0 && x_axis >= 0 && y_axis >= 0 && inner >= 0, "concat_forward_cpu: negative size");
    SALIENT_CHECK(offset >= 0 && offset + x_axis <= y_axis,
                  "concat_forward_cpu: slot [%lld, %lld) outside the output axis of %lld", (long long)offset,
                  (long long)(offset + x_axis), (long long)y_axis);
    // x: (outer, x_axis, inner), y: (outer, y_axis, inner)
    copy_axis_block(x, x_axis, 0, y, y_axis, offset, outer, x_axis, inner);
    return SALIENT_OK;
}

extern "C" int slice_axis_cpu(const float* src, float* dst, int64_t outer, int64_t src_axis, int64_t dst_axis,
                              int64_t inner, int64_t offset) {
    SALIENT_CHECK_PTR(src);
    SALIENT_CHECK_PTR(dst);
    SALIENT_CHECK(outer >= 0 && src_axis >= 0 && dst_axis >= 0 && inner >= 0, "slice_axis_cpu: negative size");
    SALIENT_CHECK(offset >= 0 && offset + dst_axis <= src_axis,
                  "slice_axis_cpu: slice [%lld, %lld) outside the source axis of %lld", (long long)offset,
                  (long long)(offset + dst_axis), (long long)src_axis);
    // src: (outer, src_axis, inner), dst: (outer, dst_axis, inner)
    copy_axis_block(src, src_axis, offset, dst, dst_axis, 0, outer, dst_axis, inner);
    return SALIENT_OK;
}
