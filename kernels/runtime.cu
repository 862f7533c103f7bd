// runtime.cu: the host side of the CUDA engine. Device discovery that answers "0 devices"
// instead of failing when there is no driver or GPU, device memory, host<->device copies and
// the per-thread error message (its buffer and the broadcast plan live in salient_host.h).
//
// FLOP/byte: no kernels here; copies run at PCIe/NVLink speed (H2D/D2H ~25-50 GB/s,
// D2D ~2-3 TB/s on H100), which is why the engine copies only at batch boundaries.
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <mutex>
#include <unordered_map>
#include "common.cuh"

// ---- device helpers
//
// (none: this file launches no kernels)

namespace salient_cuda {

static char g_probe_error[256] = {0};

// The memory cap of salient_cuda_set_memory_limit: bytes held per live allocation.
static std::mutex g_held_mu;
static std::unordered_map<const void*, int64_t> g_held;
static int64_t g_held_bytes = 0, g_limit_bytes = 0;

int fail_cuda(const char* what, cudaError_t e) {
    // clear the non-sticky error so that the next call starts clean
    cudaGetLastError();
    return fail(e == cudaErrorMemoryAllocation ? SALIENT_ENOMEM : SALIENT_EBACKEND, "%s: CUDA error %d (%s): %s", what,
                (int)e, cudaGetErrorName(e), cudaGetErrorString(e));
}

}  // namespace salient_cuda

using namespace salient_cuda;

// ---- kernels
//
// (none)

// ---- launchers (runtime entry points)

extern "C" {

const char* salient_cuda_last_error(void) { return salient::host::error_buffer(); }

const char* salient_cuda_probe_error(void) { return g_probe_error; }

int salient_cuda_device_count(void) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        // no driver, no device, driver too old for this runtime: all mean "no CUDA here"
        snprintf(g_probe_error, sizeof g_probe_error, "%s: %s", cudaGetErrorName(e), cudaGetErrorString(e));
        cudaGetLastError();
        return 0;
    }
    g_probe_error[0] = 0;
    if (count == 0) snprintf(g_probe_error, sizeof g_probe_error, "the CUDA driver reports no device");
    return count;
}

int salient_cuda_device_describe(int device, char* buf, int len) {
    SALIENT_CUDA_CHECK_PTR(buf);
    SALIENT_CUDA_CHECK(len > 0, "salient_cuda_device_describe: buffer length %d", len);
    cudaDeviceProp prop;
    SALIENT_CUDA_TRY(cudaGetDeviceProperties(&prop, device));
#ifdef SALIENT_CUDA_EMULATION
    const char* race = getenv("SALIENT_EMU_RACE");
    const bool race_mode = race != nullptr && *race != 0 && strcmp(race, "0") != 0 && strcmp(race, "off") != 0;
    snprintf(buf, (size_t)len, "%s, %d threads, %.1f GiB%s%s", prop.name, prop.multiProcessorCount,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), race_mode ? ", race mode seed " : "",
             race_mode ? race : "");
#else
    snprintf(buf, (size_t)len, "%s, sm_%d%d, %.1f GiB, %d SMs", prop.name, prop.major, prop.minor,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), prop.multiProcessorCount);
#endif
    return SALIENT_OK;
}

int salient_cuda_set_device(int device) {
    SALIENT_CUDA_TRY(cudaSetDevice(device));
    return SALIENT_OK;
}

int salient_cuda_runtime_version(void) {
    int v = 0;
    if (cudaRuntimeGetVersion(&v) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return v;
}

int salient_cuda_driver_version(void) {
    int v = 0;
    if (cudaDriverGetVersion(&v) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return v;
}

float* salient_cuda_malloc(int64_t count) {
    if (count <= 0) {
        fail(SALIENT_EINVAL, "salient_cuda_malloc: count must be positive, got %lld", (long long)count);
        return nullptr;
    }
    if (count > (int64_t(1) << 40)) {
        fail(SALIENT_ENOMEM, "salient_cuda_malloc: %lld floats is beyond any sane tensor", (long long)count);
        return nullptr;
    }
    const int64_t bytes = count * (int64_t)sizeof(float);
    {
        std::lock_guard<std::mutex> lock(g_held_mu);
        if (g_limit_bytes > 0 && g_held_bytes + bytes > g_limit_bytes) {
            fail(SALIENT_ENOMEM, "cuda: cannot allocate %.1f MiB of device memory (%.1f of %.1f MiB free under the set limit)",
                 bytes / 1048576.0, (g_limit_bytes - g_held_bytes) / 1048576.0, g_limit_bytes / 1048576.0);
            return nullptr;
        }
    }
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, (size_t)count * sizeof(float));
    if (e != cudaSuccess) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        cudaGetLastError();
        fail(e == cudaErrorMemoryAllocation ? SALIENT_ENOMEM : SALIENT_EBACKEND,
             "cuda: cannot allocate %.1f MiB of device memory (%.1f of %.1f MiB free): %s",
             count * 4.0 / (1 << 20), free_b / 1048576.0, total_b / 1048576.0, cudaGetErrorString(e));
        return nullptr;
    }
    std::lock_guard<std::mutex> lock(g_held_mu);
    g_held[p] = bytes;
    g_held_bytes += bytes;
    return (float*)p;
}

int salient_cuda_free(float* p) {
    if (p == nullptr) return SALIENT_OK;
    SALIENT_CUDA_TRY(cudaFree(p));
    std::lock_guard<std::mutex> lock(g_held_mu);
    auto it = g_held.find(p);
    if (it != g_held.end()) {
        g_held_bytes -= it->second;
        g_held.erase(it);
    }
    return SALIENT_OK;
}

int salient_cuda_set_memory_limit(int64_t bytes) {
    SALIENT_CUDA_CHECK(bytes >= 0, "salient_cuda_set_memory_limit: negative limit %lld", (long long)bytes);
    std::lock_guard<std::mutex> lock(g_held_mu);
    g_limit_bytes = bytes;
    return SALIENT_OK;
}

int salient_cuda_is_emulated(void) {
#ifdef SALIENT_CUDA_EMULATION
    return 1;
#else
    return 0;
#endif
}

int salient_cuda_mem_info(int64_t* free_bytes, int64_t* total_bytes) {
    SALIENT_CUDA_CHECK_PTR(free_bytes);
    SALIENT_CUDA_CHECK_PTR(total_bytes);
    size_t f = 0, t = 0;
    SALIENT_CUDA_TRY(cudaMemGetInfo(&f, &t));
    *free_bytes = (int64_t)f;
    *total_bytes = (int64_t)t;
    std::lock_guard<std::mutex> lock(g_held_mu);
    if (g_limit_bytes > 0) {
        *total_bytes = std::min(*total_bytes, g_limit_bytes);
        *free_bytes = std::min(*free_bytes, std::max<int64_t>(0, g_limit_bytes - g_held_bytes));
    }
    return SALIENT_OK;
}

int salient_cuda_upload(float* dst, int64_t dst_offset, const float* src, int64_t count) {
    SALIENT_CUDA_CHECK_PTR(dst);
    SALIENT_CUDA_CHECK_PTR(src);
    SALIENT_CUDA_CHECK(dst_offset >= 0 && count >= 0, "salient_cuda_upload: negative offset or count");
    if (count == 0) return SALIENT_OK;
    SALIENT_CUDA_TRY(cudaMemcpy(dst + dst_offset, src, (size_t)count * sizeof(float), cudaMemcpyHostToDevice));
    return SALIENT_OK;
}

int salient_cuda_download(float* dst, const float* src, int64_t src_offset, int64_t count) {
    SALIENT_CUDA_CHECK_PTR(dst);
    SALIENT_CUDA_CHECK_PTR(src);
    SALIENT_CUDA_CHECK(src_offset >= 0 && count >= 0, "salient_cuda_download: negative offset or count");
    if (count == 0) return SALIENT_OK;
    SALIENT_CUDA_TRY(cudaMemcpy(dst, src + src_offset, (size_t)count * sizeof(float), cudaMemcpyDeviceToHost));
    return SALIENT_OK;
}

int salient_cuda_copy(float* dst, int64_t dst_offset, const float* src, int64_t src_offset, int64_t count) {
    SALIENT_CUDA_CHECK_PTR(dst);
    SALIENT_CUDA_CHECK_PTR(src);
    SALIENT_CUDA_CHECK(dst_offset >= 0 && src_offset >= 0 && count >= 0, "salient_cuda_copy: negative offset or count");
    if (count == 0) return SALIENT_OK;
    SALIENT_CUDA_TRY(cudaMemcpyAsync(dst + dst_offset, src + src_offset, (size_t)count * sizeof(float),
                                     cudaMemcpyDeviceToDevice, 0));
    return SALIENT_OK;
}

int salient_cuda_synchronize(void) {
    SALIENT_CUDA_TRY(cudaDeviceSynchronize());
    return SALIENT_OK;
}

}  // extern "C"
