// Large host buffers on transparent huge pages. Activations of tens of MiB, walked by every conv
// and its transforms, miss the TLB on 4 KiB pages; where the kernel gives huge pages only on
// request (transparent_hugepage "madvise", as on this project's machines), a buffer of
// kHugeMin bytes or more is placed on a 2 MiB boundary, rounded up to whole 2 MiB, and asked for
// them (MADV_HUGEPAGE; ignored where the kernel has none). Smaller ones are 64-byte aligned.
// Both are released with std::free. SALIENT_HUGEPAGES=0 turns the request off.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <sys/mman.h>

namespace salient {

constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kHugeMin = size_t(4) << 20;

inline bool hugepages_on() {
    static const bool on = [] {
        const char* v = std::getenv("SALIENT_HUGEPAGES");
        return !(v && v[0] == '0');
    }();
    return on;
}

// bytes of 64-byte aligned memory (rounded up), on huge pages when large; null when out of memory
inline void* big_alloc(size_t bytes) {
    bytes = (bytes + 63) & ~size_t(63);
    if (bytes < kHugeMin || !hugepages_on()) return std::aligned_alloc(64, bytes);
    const size_t whole = (bytes + kHugePage - 1) & ~(kHugePage - 1);
    void* p = std::aligned_alloc(kHugePage, whole);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, whole, MADV_HUGEPAGE);
#endif
    return p;
}

}  // namespace salient
