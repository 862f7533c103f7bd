// Runtime of the CPU engine: last-error string, aligned allocation, threads.
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <omp.h>
#include <cblas.h>
#include "common.h"
#include "conv2d.h"

namespace salient {
// Pin OpenBLAS to one thread per call when the library loads (see salient_set_num_threads).
[[maybe_unused]] static const int g_blas_single = (openblas_set_num_threads(1), 0);

// ---- block cache
// Large tensors come and go in the same sizes every chunk (IG steps, noise samples).
// glibc maps and unmaps each of them, so every chunk pays the kernel's page faults
// and zeroing again (IG on ResNet-18 ran 1.5x slower for it). Freed blocks are kept
// here, by size, up to kCacheCap bytes, and reused for a request of at most their size
// and at least half of it. salient_trim() returns them to the system.
constexpr size_t kCacheMin = size_t(1) << 20;  // smaller blocks go straight back to malloc
constexpr size_t kCacheCap = size_t(2) << 30;  // at most 2 GiB kept
static std::mutex g_mu;
static std::multimap<size_t, void*> g_cached;       // free blocks by size
static std::unordered_map<void*, size_t> g_sizes;   // live cacheable blocks
static size_t g_cached_bytes = 0;
}  // namespace salient

extern "C" {

const char* salient_last_error(void) { return salient::host::error_buffer(); }

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
    if (bytes >= salient::kCacheMin) {
        std::lock_guard<std::mutex> lock(salient::g_mu);
        auto it = salient::g_cached.lower_bound(bytes);
        if (it != salient::g_cached.end() && it->first <= 2 * bytes) {
            void* p = it->second;
            salient::g_sizes[p] = it->first;
            salient::g_cached_bytes -= it->first;
            salient::g_cached.erase(it);
            return (float*)p;
        }
    }
    void* p = std::aligned_alloc(64, bytes);
    if (!p && bytes >= salient::kCacheMin) {
        salient_trim();  // the cache may hold what the system needs
        p = std::aligned_alloc(64, bytes);
    }
    if (!p) {
        salient::fail(SALIENT_ENOMEM, "salient_alloc: out of host memory for %zu bytes", bytes);
        return nullptr;
    }
    if (bytes >= salient::kCacheMin) {
        std::lock_guard<std::mutex> lock(salient::g_mu);
        salient::g_sizes[p] = bytes;
    }
    return (float*)p;
}

void salient_free(float* p) {
    if (!p) return;
    {
        std::lock_guard<std::mutex> lock(salient::g_mu);
        auto it = salient::g_sizes.find(p);
        if (it != salient::g_sizes.end()) {
            size_t bytes = it->second;
            salient::g_sizes.erase(it);
            if (salient::g_cached_bytes + bytes <= salient::kCacheCap) {
                salient::g_cached.emplace(bytes, p);
                salient::g_cached_bytes += bytes;
                return;
            }
        }
    }
    std::free(p);
}

void salient_trim(void) {
    std::lock_guard<std::mutex> lock(salient::g_mu);
    for (auto& e : salient::g_cached) std::free(e.second);
    salient::g_cached.clear();
    salient::g_cached_bytes = 0;
    salient::conv::winograd_trim();
}

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
