// Numpy broadcasting for the CPU engine: strides of every operand against an
// output shape, with dims of size 1 dropped and contiguous runs coalesced, so
// the innermost loop is one long run with unit or zero strides.
#pragma once
#include <algorithm>
#include <cstdint>
#include "common.h"

namespace salient {

constexpr int kMaxOps = 4;

struct Broadcast {
    int rank = 0;                        // coalesced rank (>= 1)
    int64_t shape[SALIENT_MAX_RANK];     // coalesced output shape
    int64_t stride[kMaxOps][SALIENT_MAX_RANK];  // element strides per operand (0: broadcast)
    int64_t numel = 0;
};

// Checks a shape array (non-null when rank > 0, 0 <= rank <= SALIENT_MAX_RANK, dims >= 0).
inline int check_shape(const char* fn, const char* what, const int64_t* shape, int rank) {
    SALIENT_CHECK(rank >= 0 && rank <= SALIENT_MAX_RANK, "%s: %s rank %d outside [0, %d]", fn, what, rank,
                  SALIENT_MAX_RANK);
    SALIENT_CHECK(rank == 0 || shape != nullptr, "%s: %s shape is null", fn, what);
    for (int i = 0; i < rank; i++)
        SALIENT_CHECK(shape[i] >= 0, "%s: %s has negative dim %lld", fn, what, (long long)shape[i]);
    return SALIENT_OK;
}

inline int64_t shape_numel(const int64_t* shape, int rank) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= shape[i];
    return n;
}

// Builds the iteration of `nops` operands (shapes right-aligned) against `out`.
// Every operand dim must equal the output dim or be 1.
inline int make_broadcast(const char* fn, const int64_t* out, int out_rank, int nops, const int64_t* const* shapes,
                          const int* ranks, Broadcast& b) {
    if (int rc = check_shape(fn, "output", out, out_rank)) return rc;
    SALIENT_CHECK(nops >= 1 && nops <= kMaxOps, "%s: bad operand count %d", fn, nops);
    int64_t st[kMaxOps][SALIENT_MAX_RANK];
    for (int o = 0; o < nops; o++) {
        if (int rc = check_shape(fn, "operand", shapes[o], ranks[o])) return rc;
        SALIENT_CHECK(ranks[o] <= out_rank, "%s: operand rank %d exceeds output rank %d", fn, ranks[o], out_rank);
        int64_t acc = 1;
        for (int d = out_rank - 1; d >= 0; d--) {
            int od = d - (out_rank - ranks[o]);
            int64_t dim = od >= 0 ? shapes[o][od] : 1;
            SALIENT_CHECK(dim == out[d] || dim == 1, "%s: operand dim %lld does not broadcast to %lld (axis %d)", fn,
                          (long long)dim, (long long)out[d], d);
            st[o][d] = (dim == 1) ? 0 : acc;
            acc *= dim;
        }
    }
    b.numel = shape_numel(out, out_rank);
    b.rank = 0;
    for (int d = 0; d < out_rank; d++) {
        if (out[d] == 1) continue;
        if (b.rank > 0) {
            bool merge = true;
            for (int o = 0; o < nops; o++)
                if (b.stride[o][b.rank - 1] != st[o][d] * out[d]) merge = false;
            if (merge) {
                b.shape[b.rank - 1] *= out[d];
                for (int o = 0; o < nops; o++) b.stride[o][b.rank - 1] = st[o][d];
                continue;
            }
        }
        b.shape[b.rank] = out[d];
        for (int o = 0; o < nops; o++) b.stride[o][b.rank] = st[o][d];
        b.rank++;
    }
    if (b.rank == 0) {
        b.rank = 1;
        b.shape[0] = 1;
        for (int o = 0; o < nops; o++) b.stride[o][0] = 0;
    }
    return SALIENT_OK;
}

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
