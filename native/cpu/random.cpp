// Seeded standard normal numbers from the counter-based Philox4x32-10 stream
// (philox.h), the same stream as kernels/random.cu: element i of a call is
// element offset+i of the stream, whatever the split of the work.
#include "common.h"
#include "philox.h"
#include "primitives.h"

// y: (n) = normal(seed, offset + i)
extern "C" int random_normal_cpu(uint64_t seed, uint64_t offset, float* y, int64_t n) {
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(n > 0, "random_normal_cpu: bad size n=%lld", (long long)n);
// small draws stay on the calling thread: a parallel region costs more than they do
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; i++) y[i] = salient_philox::normal_at(seed, offset + (uint64_t)i);
    return SALIENT_OK;
}
