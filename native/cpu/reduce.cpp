// reduce_sum_to: the adjoint of broadcasting. dst (right-aligned against src)
// receives the sum of src over every axis along which dst has size 1.
// Accumulates in double; parallel over dst elements (or over fixed blocks of
// the reduced elements when dst is a single value), each sum in a fixed order.
#include <algorithm>
#include <cstring>
#include <vector>
#include "broadcast.h"

extern "C" int reduce_sum_to_cpu(const float* src, const int64_t* src_shape, int src_rank,
                                 float* dst, const int64_t* dst_shape, int dst_rank) {
    SALIENT_CHECK_PTR(src);
    SALIENT_CHECK_PTR(dst);
    // src: src_shape, dst: dst_shape (broadcasts to src_shape)
    const int64_t* shapes[2] = {src_shape, dst_shape};
    int ranks[2] = {src_rank, dst_rank};
    salient::Broadcast bc;
    if (int rc = salient::make_broadcast(__func__, src_shape, src_rank, 2, shapes, ranks, bc)) return rc;
    const int64_t dst_n = salient::shape_numel(dst_shape, dst_rank);
    if (bc.numel == 0) {
        for (int64_t i = 0; i < dst_n; i++) dst[i] = 0.f;
        return SALIENT_OK;
    }
    if (dst_n == bc.numel) {
        // nothing is reduced (dst differs from src by leading 1s at most): a copy
#pragma omp parallel for schedule(static) if (dst_n > 262144)
        for (int64_t b = 0; b < dst_n; b += 65536)
            std::memcpy(dst + b, src + b, sizeof(float) * (size_t)std::min<int64_t>(65536, dst_n - b));
        return SALIENT_OK;
    }
    // split coalesced dims (but the last) into kept (dst stride != 0) and reduced ones
    const int last = bc.rank - 1;
    int kept[SALIENT_MAX_RANK], red[SALIENT_MAX_RANK], nk = 0, nr = 0;
    int64_t n_kept = 1, n_red = 1;
    for (int d = 0; d < last; d++) {
        if (bc.stride[1][d] != 0) { kept[nk++] = d; n_kept *= bc.shape[d]; }
        else { red[nr++] = d; n_red *= bc.shape[d]; }
    }
    const int64_t inner = bc.shape[last];
    const bool inner_reduced = bc.stride[1][last] == 0;
    auto src_offset = [&](const int* dims, int nd, int64_t idx) {
        int64_t off = 0;
        for (int j = nd - 1; j >= 0; j--) {
            int d = dims[j];
            off += (idx % bc.shape[d]) * bc.stride[0][d];
            idx /= bc.shape[d];
        }
        return off;
    };
    auto dst_offset = [&](int64_t idx) {
        int64_t off = 0;
        for (int j = nk - 1; j >= 0; j--) {
            int d = kept[j];
            off += (idx % bc.shape[d]) * bc.stride[1][d];
            idx /= bc.shape[d];
        }
        return off;
    };

    if (inner_reduced) {
        // dst element o = sum over reduced index and the contiguous inner run
        if (n_kept == 1) {
            // fixed blocks of reduced indices, each summed in order, then the blocks in
            // order: the same bits on any number of threads
            constexpr int64_t kBlock = 1024;
            const int64_t blocks = (n_red + kBlock - 1) / kBlock;
            std::vector<double> part((size_t)blocks);
#pragma omp parallel for schedule(static) if (bc.numel > 32768)
            for (int64_t bi = 0; bi < blocks; bi++) {
                double a = 0.0;
                for (int64_t ri = bi * kBlock; ri < std::min(n_red, (bi + 1) * kBlock); ri++) {
                    const float* p = src + src_offset(red, nr, ri);
                    for (int64_t i = 0; i < inner; i++) a += p[i];
                }
                part[(size_t)bi] = a;
            }
            double acc = 0.0;
            for (double a : part) acc += a;
            dst[0] = (float)acc;
            return SALIENT_OK;
        }
#pragma omp parallel for schedule(static) if (bc.numel > 32768)
        for (int64_t o = 0; o < n_kept; o++) {
            const int64_t so = src_offset(kept, nk, o);
            double acc = 0.0;
            for (int64_t ri = 0; ri < n_red; ri++) {
                const float* p = src + so + src_offset(red, nr, ri);
                for (int64_t i = 0; i < inner; i++) acc += p[i];
            }
            dst[dst_offset(o)] = (float)acc;
        }
        return SALIENT_OK;
    }
    // inner kept: accumulate whole inner runs into a double row per kept index
#pragma omp parallel if (bc.numel > 32768)
    {
        std::vector<double> acc((size_t)inner);
#pragma omp for schedule(static)
        for (int64_t o = 0; o < n_kept; o++) {
            const int64_t so = src_offset(kept, nk, o);
            std::fill(acc.begin(), acc.end(), 0.0);
            for (int64_t ri = 0; ri < n_red; ri++) {
                const float* p = src + so + src_offset(red, nr, ri);
                for (int64_t i = 0; i < inner; i++) acc[i] += p[i];
            }
            float* q = dst + dst_offset(o);
            for (int64_t i = 0; i < inner; i++) q[i] = (float)acc[i];
        }
    }
    return SALIENT_OK;
}
