// Row argsort: the order of every row of an (R,L) view from its largest value to its
// smallest, stable (ties keep ascending index), NaN last; and the rank of each element
// (the inverse permutation). Serves the orderings of deletion/insertion, MoRF/LeRF and
// top-k selections.
#include <algorithm>
#include <cmath>
#include <vector>
#include "common.h"
#include "primitives.h"

namespace {
// true when (va, ia) comes before (vb, ib): larger value first, NaN after every number,
// equal values (and NaN pairs) by ascending index.
inline bool before(float va, int64_t ia, float vb, int64_t ib) {
    const bool na = std::isnan(va), nb = std::isnan(vb);
    if (na || nb) return (na == nb) ? ia < ib : nb;
    if (va != vb) return va > vb;
    return ia < ib;
}
}  // namespace

// x: (R,L); order: (R,L) element indices as floats (exact for L <= 2^24), order[r,k] = the
// index of the k-th largest; rank: (R,L), rank[r, order[r,k]] = k.
extern "C" int argsort_rows_cpu(const float* x, float* order, float* rank, int64_t r, int64_t l) {
    SALIENT_CHECK_PTR(x);
    SALIENT_CHECK_PTR(order);
    SALIENT_CHECK_PTR(rank);
    SALIENT_CHECK(r > 0 && l > 0 && l <= (int64_t(1) << 24), "argsort_rows_cpu: bad sizes r=%lld l=%lld",
                  (long long)r, (long long)l);
#pragma omp parallel
    {
        std::vector<int64_t> idx((size_t)l);
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < r; i++) {
            const float* xi = x + i * l;
            for (int64_t j = 0; j < l; j++) idx[(size_t)j] = j;
            std::sort(idx.begin(), idx.end(), [xi](int64_t a, int64_t b) { return before(xi[a], a, xi[b], b); });
            for (int64_t k = 0; k < l; k++) {
                order[i * l + k] = (float)idx[(size_t)k];
                rank[i * l + idx[(size_t)k]] = (float)k;
            }
        }
    }
    return SALIENT_OK;
}
