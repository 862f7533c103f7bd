// Runtime of the CPU engine: last-error string, aligned allocation, threads.
#include <cstdlib>
#include <cstring>
#include <omp.h>
#include <cblas.h>
#include "common.h"

namespace salient {
// Pin OpenBLAS to one thread per call when the library loads (see salient_set_num_threads).
[[maybe_unused]] static const int g_blas_single = (openblas_set_num_threads(1), 0);
static thread_local char g_error[512] = {0};

int fail(int code, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
    return code;
}

void clear_error() { g_error[0] = 0; }
}  // namespace salient

extern "C" {

const char* salient_last_error(void) { return salient::g_error; }

float* salient_alloc(int64_t count) {
    if (count <= 0) {
        salient::fail(SALIENT_EINVAL, "salient_alloc: count must be positive, got %lld", (long long)count);
        return nullptr;
    }
    // cap at 2^40 floats (4 TiB): anything larger is a corrupt size, not a tensor
    if (count > (int64_t(1) << 40)) {
        salient::fail(SALIENT_ENOMEM, "salient_alloc: %lld floats is beyond any sane tensor", (long long)count);
        return nullptr;
    }
    size_t bytes = (size_t)count * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) salient::fail(SALIENT_ENOMEM, "salient_alloc: out of host memory for %zu bytes", bytes);
    return (float*)p;
}

void salient_free(float* p) { std::free(p); }

// OpenMP owns the cores; OpenBLAS runs one thread per call inside OpenMP workers
// (blas.h). Two pools (OpenMP's and OpenBLAS's pthreads) spinning on the same
// cores cost several times the work on a busy machine.
int salient_set_num_threads(int n) {
    if (n > 0) {
        omp_set_num_threads(n);
        openblas_set_num_threads(1);
    }
    return SALIENT_OK;
}

int salient_get_num_threads(void) { return omp_get_max_threads(); }

}  // extern "C"
