// The instruction set the CPU kernels run with, chosen once at load by what the processor
// offers: AVX2 + FMA (the build's baseline, -march=x86-64-v3) or AVX-512 (F, VL, DQ, BW).
// Kernels written for AVX-512 are compiled for it inside SALIENT_AVX512_BEGIN/END, in the same
// translation unit as their AVX2 twins, and taken only when isa::avx512() says so.
//
// Every AVX-512 kernel computes each output as its AVX2 twin does: the same chain of fused
// multiply-adds in the same order, only 16 lanes wide. So the bits do not depend on the
// instruction set (tests switch it with salient_set_isa and compare).
#pragma once
#include <atomic>

namespace salient {
namespace isa {

extern std::atomic<int> g_level;  // SALIENT_ISA_AVX2 or SALIENT_ISA_AVX512 (salient.h)

inline bool avx512() { return g_level.load(std::memory_order_relaxed) >= 2; }

}  // namespace isa
}  // namespace salient

#if defined(__x86_64__) && defined(__GNUC__) && defined(__AVX2__) && defined(__FMA__)
#define SALIENT_HAVE_AVX512 1
#define SALIENT_AVX512_BEGIN \
    _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512vl,avx512dq,avx512bw,avx2,fma\")")
#define SALIENT_AVX512_END _Pragma("GCC pop_options")
#else
#define SALIENT_HAVE_AVX512 0
#define SALIENT_AVX512_BEGIN
#define SALIENT_AVX512_END
#endif

namespace salient {

// Fetches the line at p ahead of the stores that will write it, asking for it exclusive (prefetchw:
// Broadwell and later, Zen; older processors run it as a no-op), so the stores find it writable. A
// plain fetch (prefetcht0) of a line that the other core holds, or has just read, brings a shared
// copy, which each store then has to claim again from that core: at batch 1 a layer's output buffer
// has often just been read or written by the other thread in the layer before. The kernels that
// fetch their output ahead use it (the depthwise flat kernel, direct512, the Winograd output
// transforms; each measured where it is used). __builtin_prefetch's write hint does not give it:
// without -mprfchw, which the build's -march=x86-64-v3 lacks, it compiles to prefetcht0.
inline void prefetch_for_write(const void* p) {
#if defined(__x86_64__) && defined(__GNUC__)
    asm volatile("prefetchw %0" : : "m"(*(const char*)p));
#else
    (void)p;
#endif
}

}  // namespace salient
