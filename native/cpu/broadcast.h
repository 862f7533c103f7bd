// Numpy broadcasting for the CPU engine: the iteration over the plan of salient_host.h
// (strides of every operand against an output shape, dims of size 1 dropped and contiguous
// runs coalesced), so the innermost loop is one long run with unit or zero strides.
#pragma once
#include <algorithm>
#include <cstdint>
#include "common.h"

namespace salient {

// The plan itself (Broadcast, make_broadcast, check_shape, shape_numel) is salient_host.h's,
// shared with the CUDA engine.
using host::Broadcast;
using host::check_shape;
using host::kMaxOps;
using host::make_broadcast;
using host::shape_numel;

// Calls f(offsets[nops], len, inner_strides[nops]) over runs of the innermost
// dim, in parallel chunks of at most `chunk` elements.
template <class F>
void for_each_run(const Broadcast& b, int nops, F f, int64_t chunk = 8192) {
    const int last = b.rank - 1;
    const int64_t inner = b.shape[last];
    if (b.numel == 0 || inner == 0) return;
    const int64_t rows = b.numel / inner;
    const int64_t per_row = (inner + chunk - 1) / chunk;
    const int64_t items = rows * per_row;
#pragma omp parallel for schedule(static) if (b.numel > 32768 && items > 1)
    for (int64_t it = 0; it < items; it++) {
        int64_t row = it / per_row, c0 = (it % per_row) * chunk;
        int64_t off[kMaxOps] = {0, 0, 0, 0}, ist[kMaxOps];
        int64_t rem = row;
        for (int d = last - 1; d >= 0; d--) {
            int64_t i = rem % b.shape[d];
            rem /= b.shape[d];
            for (int o = 0; o < nops; o++) off[o] += i * b.stride[o][d];
        }
        for (int o = 0; o < nops; o++) {
            ist[o] = b.stride[o][last];
            off[o] += c0 * ist[o];
        }
        f(off, std::min(chunk, inner - c0), ist);
    }
}

}  // namespace salient
