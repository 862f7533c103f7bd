// Runtime of the CPU engine: last-error string, aligned allocation, threads.
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <sys/mman.h>
#include <unistd.h>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <thread>
#include <omp.h>
#include <cblas.h>
#include "common.h"
#include "hugepages.h"
#include "filter_cache.h"
#include "isa.h"

namespace salient {
// Pin OpenBLAS to one thread per call when the library loads (see salient_set_num_threads).
[[maybe_unused]] static const int g_blas_single = (openblas_set_num_threads(1), 0);

// Most OpenMP threads the engine runs: 4 per core, at least 8, at most 1024. libgomp
// builds each team on the caller's stack (alloca), so tens of thousands of threads
// (`OMP_NUM_THREADS=20000`, or a huge --threads) overflow it inside GOMP_parallel.
static int max_threads_for_host() {
    unsigned hc = std::thread::hardware_concurrency();
    long cap = 4L * (hc == 0 ? 1 : (long)hc);
    if (cap < 8) cap = 8;
    if (cap > 1024) cap = 1024;
    return (int)cap;
}
static const int g_max_threads = max_threads_for_host();
// OMP_NUM_THREADS is read by libgomp when it loads: clamp it before any parallel region runs.
[[maybe_unused]] static const int g_threads_clamped =
    (omp_get_max_threads() > g_max_threads ? omp_set_num_threads(g_max_threads) : (void)0, 0);

// ---- instruction set (isa.h)
static int max_isa_for_host() {
#if SALIENT_HAVE_AVX512
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
        return SALIENT_ISA_AVX512;
#endif
    return SALIENT_ISA_AVX2;
}
static const int g_max_isa = max_isa_for_host();
static int initial_isa() {
    const char* e = std::getenv("SALIENT_ISA");
    if (e && std::strcmp(e, "avx2") == 0) return SALIENT_ISA_AVX2;
    return g_max_isa;
}
std::atomic<int> isa::g_level{initial_isa()};

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

// Sealed blocks (salient_host_seal): start -> end, until freed.
static std::mutex g_sealed_mu;
static std::map<uintptr_t, uintptr_t> g_sealed;

bool sealed(const void* p, size_t bytes) {
    const uintptr_t a = (uintptr_t)p;
    std::lock_guard<std::mutex> lock(g_sealed_mu);
    auto it = g_sealed.upper_bound(a);
    if (it == g_sealed.begin()) return false;
    --it;
    return a >= it->first && a + bytes <= it->second;
}
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
    void* p = salient::big_alloc(bytes);
    if (!p && bytes >= salient::kCacheMin) {
        salient_trim();  // the cache may hold what the system needs
        p = salient::big_alloc(bytes);
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

float* salient_host_alloc(int64_t count) {
    if (count <= 0) {
        salient::fail(SALIENT_EINVAL, "salient_host_alloc: count must be positive, got %lld", (long long)count);
        return nullptr;
    }
    if (count > (int64_t(1) << 40)) {
        salient::fail(SALIENT_ENOMEM, "salient_host_alloc: %lld floats is beyond any sane tensor", (long long)count);
        return nullptr;
    }
    size_t bytes = ((size_t)count * sizeof(float) + 63) & ~(size_t)63;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) {
        salient::fail(SALIENT_ENOMEM, "salient_host_alloc: out of host memory for %zu bytes", bytes);
        return nullptr;
    }
    return (float*)p;
}

int salient_host_seal(const float* p, int64_t count) {
    if (!p || count <= 0) return salient::fail(SALIENT_EINVAL, "salient_host_seal: null pointer or count %lld", (long long)count);
    std::lock_guard<std::mutex> lock(salient::g_sealed_mu);
    salient::g_sealed[(uintptr_t)p] = (uintptr_t)(p + count);
    return SALIENT_OK;
}

int salient_host_unseal(const float* p) {
    uintptr_t end = 0;
    {
        std::lock_guard<std::mutex> lock(salient::g_sealed_mu);
        auto it = salient::g_sealed.find((uintptr_t)p);
        if (it != salient::g_sealed.end()) {
            end = it->second;
            salient::g_sealed.erase(it);
        }
    }
    // what was derived from the block and keyed by its address goes with the seal: the block
    // may be written next, or freed and its address handed to other values
    if (end) salient::filter_cache_forget(p, (const void*)end);
    return SALIENT_OK;
}

void salient_host_free(float* p) {
    if (!p) return;
    salient_host_unseal(p);
    std::free(p);
}

int salient_release_pages(const void* p, int64_t bytes) {
    if (!p || bytes < 0) return salient::fail(SALIENT_EINVAL, "salient_release_pages: null pointer or negative size");
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + (uintptr_t)bytes) & ~(page - 1);
    if (hi <= lo) return SALIENT_OK;
    if (madvise((void*)lo, hi - lo, MADV_DONTNEED) != 0)
        return salient::fail(SALIENT_EINVAL, "salient_release_pages: madvise failed (errno %d)", errno);
    return SALIENT_OK;
}

void salient_trim(void) {
    std::lock_guard<std::mutex> lock(salient::g_mu);
    for (auto& e : salient::g_cached) std::free(e.second);
    salient::g_cached.clear();
    salient::g_cached_bytes = 0;
    salient::filter_cache_trim();
}

// OpenMP owns the cores; OpenBLAS runs one thread per call inside OpenMP workers
// (blas.h). Two pools (OpenMP's and OpenBLAS's pthreads) spinning on the same
// cores cost several times the work on a busy machine.
int salient_set_num_threads(int n) {
    if (n <= 0 || n > salient::g_max_threads)
        return salient::fail(SALIENT_EINVAL, "thread count must be between 1 and %d on this machine, got %d",
                             salient::g_max_threads, n);
    omp_set_num_threads(n);
    openblas_set_num_threads(1);
    return SALIENT_OK;
}

int salient_get_num_threads(void) {
    int n = omp_get_max_threads();
    return n > salient::g_max_threads ? salient::g_max_threads : n;
}

int salient_max_threads(void) { return salient::g_max_threads; }

int salient_set_isa(int level) {
    if (level < SALIENT_ISA_AVX2 || level > salient::g_max_isa)
        return salient::fail(SALIENT_EINVAL, "instruction set level must be between %d (AVX2) and %d on this machine, got %d",
                             SALIENT_ISA_AVX2, salient::g_max_isa, level);
    salient::isa::g_level.store(level);
    return SALIENT_OK;
}

int salient_get_isa(void) { return salient::isa::g_level.load(); }

int salient_max_isa(void) { return salient::g_max_isa; }

}  // extern "C"
