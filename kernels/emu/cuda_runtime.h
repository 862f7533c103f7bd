// cuda_runtime.h (emulation): what kernels/*.cu see of CUDA when they are built with g++
// into libsalient_cuda_emu.so instead of with nvcc. kernels/emu/ comes first on the include
// path, so `#include <cuda_runtime.h>` in common.cuh lands here.
//
// The execution model (emu_runtime.cpp):
//   - a launch runs its grid before it returns; blocks run in parallel on a pool of OS
//     threads, one block per thread at a time;
//   - a block's threads are fibers on that OS thread: each runs until it reaches a barrier
//     (__syncthreads, a warp collective) or returns, then the next one runs; in race mode
//     (SALIENT_EMU_RACE=<seed>) the order of the fibers between two barriers is shuffled;
//   - threadIdx is per fiber; blockIdx, blockDim and gridDim per OS thread;
//   - __shared__ variables live in a per-block arena, filled with NaN when a block starts
//     (kernels/emu/emu_rewrite.cpp turns each declaration into a reference into it);
//   - warp shuffles, votes and __syncwarp go through per-warp slots and a warp barrier;
//   - atomics are real atomics; float4, __ldg and __restrict__ are plain C++.
// What it cannot model (inline PTX, tensor-core mma, cooperative groups) fails the build
// (emu_rewrite names the line).
#pragma once
#define SALIENT_CUDA_EMULATION 1

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- qualifiers (__shared__ is rewritten by emu_rewrite and deliberately not a macro)
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __constant__
#define __managed__
#define __grid_constant__

// ---- vector types
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct uint3 { unsigned x, y, z; };
struct int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

// ---- runtime API types (error codes and enum values as in CUDA's headers)
enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorLaunchFailure = 719,
    cudaErrorNotSupported = 801,
    cudaErrorUnknown = 999
};
typedef enum cudaError cudaError_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
};

enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
};

enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8, cudaFuncAttributePreferredSharedMemoryCarveout = 9 };

typedef struct SalientEmuStream* cudaStream_t;
typedef struct SalientEmuEvent* cudaEvent_t;
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventDisableTiming 0x02
#define cudaHostAllocDefault 0x00

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    size_t sharedMemPerBlockOptin;
    int regsPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    int major;
    int minor;
    int multiProcessorCount;
    int l2CacheSize;
    int clockRate;
};

extern "C" {
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaRuntimeGetVersion(int* v);
cudaError_t cudaDriverGetVersion(int* v);
cudaError_t cudaMalloc(void** p, size_t bytes);
cudaError_t cudaFree(void* p);
cudaError_t cudaMallocHost(void** p, size_t bytes);
cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned flags);
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s);
cudaError_t cudaMemset(void* p, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t s);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaDeviceReset(void);
cudaError_t cudaStreamCreate(cudaStream_t* s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamQuery(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags);
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventQuery(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
cudaError_t salient_emu_func_set_attribute(const void* fn, cudaFuncAttribute attr, int value);
}

template <class T>
inline cudaError_t cudaMalloc(T** p, size_t bytes) { return cudaMalloc(reinterpret_cast<void**>(p), bytes); }
template <class T>
inline cudaError_t cudaMallocHost(T** p, size_t bytes) { return cudaMallocHost(reinterpret_cast<void**>(p), bytes); }
template <class F>
inline cudaError_t cudaFuncSetAttribute(F* fn, cudaFuncAttribute attr, int value) {
    return salient_emu_func_set_attribute(reinterpret_cast<const void*>(fn), attr, value);
}

// ---- the execution model
namespace salient_emu {

// What a running fiber exposes to kernel code.
struct ThreadState {
    uint3 tid;
    unsigned lane, warp;
};

#define SALIENT_EMU_TLS thread_local
extern SALIENT_EMU_TLS ThreadState* t_thread;
extern SALIENT_EMU_TLS uint3 t_block;
extern SALIENT_EMU_TLS dim3 t_block_dim;
extern SALIENT_EMU_TLS dim3 t_grid_dim;

// Barriers (switch to the next fiber until every thread concerned has arrived).
void syncthreads();
void syncwarp(unsigned mask);
// Warp collective: every lane of `mask` puts `mine` in its slot; returns the slots (32 words)
// once all have; the pointer stays valid until this lane's next collective returns.
const uint64_t* warp_collect(unsigned mask, uint64_t mine);
// Lanes of this thread's warp that exist and have not returned.
unsigned live_lanes();
// A kernel misuses CUDA in a way the emulation detects: the launch fails with this message.
[[noreturn]] void kernel_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// __shared__ storage of the running block (emu_rewrite emits the calls).
void* shared_alloc(const char* key, size_t bytes);
void* dynamic_shared();
template <class T>
inline T& shared_var(const char* key) { return *reinterpret_cast<T*>(shared_alloc(key, sizeof(T))); }

// Launch: runs body(ctx) as every thread of every block; sets the last error on failure.
struct LaunchConfig {
    dim3 grid, block;
    size_t shmem;
    cudaStream_t stream;
    const void* fn;
};
void run_grid(const LaunchConfig& cfg, void (*body)(void*), void* ctx);

template <class... P>
struct Launcher {
    void (*fn)(P...);
    LaunchConfig cfg;
    // Arguments convert to the kernel's parameter types as in a call; each thread gets its own copy.
    void operator()(P... args) const {
        struct Ctx {
            void (*fn)(P...);
            std::tuple<P...> args;
        } ctx{fn, std::tuple<P...>(args...)};
        run_grid(cfg, [](void* c) {
            Ctx* x = static_cast<Ctx*>(c);
            std::apply(x->fn, std::tuple<P...>(x->args));
        }, &ctx);
    }
};

template <class... P>
inline Launcher<P...> launch(void (*fn)(P...), dim3 grid, dim3 block, size_t shmem = 0, cudaStream_t stream = nullptr) {
    return Launcher<P...>{fn, LaunchConfig{grid, block, shmem, stream, reinterpret_cast<const void*>(fn)}};
}

template <class T>
inline uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "warp shuffles move up to 8 bytes");
    uint64_t b = 0;
    memcpy(&b, &v, sizeof(T));
    return b;
}
template <class T>
inline T from_bits(uint64_t b) {
    T v;
    memcpy(&v, &b, sizeof(T));
    return v;
}
template <class T>
inline T shuffle(unsigned mask, T v, unsigned src) {
    const uint64_t* slots = warp_collect(mask, to_bits(v));
    if (src >= 32 || !((mask >> src) & 1u))
        kernel_error("warp shuffle reads lane %u, which is not in the mask 0x%08x", src, mask);
    return from_bits<T>(slots[src]);
}

}  // namespace salient_emu

#define threadIdx (::salient_emu::t_thread->tid)
#define blockIdx (::salient_emu::t_block)
#define blockDim (::salient_emu::t_block_dim)
#define gridDim (::salient_emu::t_grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads() { ::salient_emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::salient_emu::syncwarp(mask); }
inline unsigned __activemask() { return ::salient_emu::live_lanes(); }

template <class T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = warpSize) {
    const unsigned lane = ::salient_emu::t_thread->lane;
    return ::salient_emu::shuffle(mask, v, (lane & ~(unsigned)(width - 1)) + ((unsigned)src & (unsigned)(width - 1)));
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {
    const unsigned lane = ::salient_emu::t_thread->lane;
    unsigned src = lane ^ (unsigned)lane_mask;
    if (src >= ((lane / (unsigned)width) + 1) * (unsigned)width) src = lane;  // later segments: own value
    return ::salient_emu::shuffle(mask, v, src);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
    const unsigned lane = ::salient_emu::t_thread->lane;
    const unsigned src = (lane & (unsigned)(width - 1)) + delta >= (unsigned)width ? lane : lane + delta;
    return ::salient_emu::shuffle(mask, v, src);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
    const unsigned lane = ::salient_emu::t_thread->lane;
    const unsigned src = (lane & (unsigned)(width - 1)) < delta ? lane : lane - delta;
    return ::salient_emu::shuffle(mask, v, src);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
    const uint64_t* s = ::salient_emu::warp_collect(mask, pred != 0);
    unsigned r = 0;
    for (int l = 0; l < 32; l++)
        if (((mask >> l) & 1u) && s[l]) r |= 1u << l;
    return r;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }

// ---- atomics: real ones (blocks run on several OS threads)
template <class T>
inline T salient_emu_atomic_update(T* p, T v, T (*op)(T, T)) {
    T old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(p, &old, op(old, v), true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
    }
    return old;
}
inline float atomicAdd(float* p, float v) {
    static_assert(sizeof(float) == sizeof(uint32_t), "float");
    uint32_t* q = reinterpret_cast<uint32_t*>(p);
    uint32_t old = __atomic_load_n(q, __ATOMIC_RELAXED), nv;
    do {
        float f;
        memcpy(&f, &old, 4);
        f += v;
        memcpy(&nv, &f, 4);
    } while (!__atomic_compare_exchange_n(q, &old, nv, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    float r;
    memcpy(&r, &old, 4);
    return r;
}
inline double atomicAdd(double* p, double v) {
    uint64_t* q = reinterpret_cast<uint64_t*>(p);
    uint64_t old = __atomic_load_n(q, __ATOMIC_RELAXED), nv;
    do {
        double f;
        memcpy(&f, &old, 8);
        f += v;
        memcpy(&nv, &f, 8);
    } while (!__atomic_compare_exchange_n(q, &old, nv, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    double r;
    memcpy(&r, &old, 8);
    return r;
}
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline int atomicSub(int* p, int v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicSub(unsigned* p, unsigned v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
inline int atomicExch(int* p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicExch(unsigned* p, unsigned v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
inline float atomicExch(float* p, float v) {
    uint32_t b, r;
    memcpy(&b, &v, 4);
    r = __atomic_exchange_n(reinterpret_cast<uint32_t*>(p), b, __ATOMIC_SEQ_CST);
    float f;
    memcpy(&f, &r, 4);
    return f;
}
inline int atomicCAS(int* p, int cmp, int v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return cmp;
}
inline unsigned atomicCAS(unsigned* p, unsigned cmp, unsigned v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return cmp;
}
inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long cmp, unsigned long long v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return cmp;
}
inline int atomicMax(int* p, int v) { return salient_emu_atomic_update<int>(p, v, [](int a, int b) { return a > b ? a : b; }); }
inline int atomicMin(int* p, int v) { return salient_emu_atomic_update<int>(p, v, [](int a, int b) { return a < b ? a : b; }); }
inline unsigned atomicMax(unsigned* p, unsigned v) {
    return salient_emu_atomic_update<unsigned>(p, v, [](unsigned a, unsigned b) { return a > b ? a : b; });
}
inline unsigned atomicMin(unsigned* p, unsigned v) {
    return salient_emu_atomic_update<unsigned>(p, v, [](unsigned a, unsigned b) { return a < b ? a : b; });
}
inline int atomicAnd(int* p, int v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
inline int atomicOr(int* p, int v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
inline int atomicXor(int* p, int v) { return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicOr(unsigned* p, unsigned v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// ---- loads, bits and math as plain C++
template <class T>
inline T __ldg(const T* p) { return *p; }
template <class T>
inline T __ldcs(const T* p) { return *p; }
template <class T>
inline void __stcs(T* p, T v) { *p = v; }
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __popcll(unsigned long long v) { return __builtin_popcountll(v); }
inline int __ffs(int v) { return __builtin_ffs(v); }
inline int __clz(int v) { return v == 0 ? 32 : __builtin_clz((unsigned)v); }
inline unsigned __brev(unsigned v) {
    unsigned r = 0;
    for (int i = 0; i < 32; i++) r |= ((v >> i) & 1u) << (31 - i);
    return r;
}
inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.f / sqrtf(x); }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
using std::isfinite;
using std::isinf;
using std::isnan;
template <class A, class B>
inline typename std::common_type<A, B>::type min(A a, B b) {
    using C = typename std::common_type<A, B>::type;
    return (C)a < (C)b ? (C)a : (C)b;
}
template <class A, class B>
inline typename std::common_type<A, B>::type max(A a, B b) {
    using C = typename std::common_type<A, B>::type;
    return (C)a > (C)b ? (C)a : (C)b;
}
