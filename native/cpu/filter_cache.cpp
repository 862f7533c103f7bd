// The cache of transformed filters shared by the conv paths that transform a conv's weights once
// and reuse them on every call: Winograd's U (conv2d_winograd.cpp), the pointwise convs' lanes
// panels (conv2d.cpp, gemm_lanes.cpp).
#include "filter_cache.h"
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#include "common.h"

namespace salient {

namespace {

// Transformed filters are kept between calls (a model's filters are the same
// on every call), keyed by their content: a 64-bit hash of the filter bytes,
// and what was made of them (FilterTag: the transform, its shape and variant). Hashing reads the filter once, a fraction of
// transforming it. Filters in a sealed block (salient_host_seal: a model's
// weights) are keyed by their address instead, which reads nothing: at batch 1
// the hash of a 512-channel filter was 15 % of its conv. Their entries go when
// the block is freed (filter_cache_forget). At most kFilterCacheCap bytes, least
// recently used first out.
constexpr size_t kFilterCacheCap = size_t(256) << 20;

struct FilterKey {
    uint64_t hash;      // of the content; 0 when keyed by address
    const float* at;    // the sealed filter's address; null when keyed by content
    FilterTag tag;
    bool operator==(const FilterKey& o) const {
        return hash == o.hash && at == o.at && tag.kind == o.tag.kind && tag.d0 == o.tag.d0 && tag.d1 == o.tag.d1 &&
               tag.d2 == o.tag.d2 && tag.flag == o.tag.flag;
    }
};

struct FilterEntry {
    FilterKey key;
    std::shared_ptr<float> U;
    size_t bytes;
    uint64_t used;
};

std::mutex g_filter_mu;
std::vector<FilterEntry> g_filters;
size_t g_filter_bytes = 0;
uint64_t g_filter_clock = 0;

// The hash of n floats from w: 32 multiply-xorshift lanes over 32-bit words (four AVX2 vectors),
// folded into 64 bits with the tail. It reads at memory speed: it runs on every call, over all
// of a layer's filter (9 MiB for 512 channels).
uint64_t hash_chunk(const float* w, int64_t n) {
    const uint64_t P = 0x9E3779B97F4A7C15ull;
    uint32_t lanes[32];
    int64_t i = 0;
#if defined(__AVX2__)
    const __m256i M = _mm256_set1_epi32((int)0x9E3779B1u);
    __m256i h0 = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8), h1 = _mm256_add_epi32(h0, _mm256_set1_epi32(8)),
            h2 = _mm256_add_epi32(h0, _mm256_set1_epi32(16)), h3 = _mm256_add_epi32(h0, _mm256_set1_epi32(24));
    auto mix = [&](__m256i h, const float* p) {
        h = _mm256_xor_si256(h, _mm256_loadu_si256((const __m256i*)p));
        h = _mm256_mullo_epi32(h, M);
        return _mm256_xor_si256(h, _mm256_srli_epi32(h, 15));
    };
    for (; i + 32 <= n; i += 32) {
        h0 = mix(h0, w + i);
        h1 = mix(h1, w + i + 8);
        h2 = mix(h2, w + i + 16);
        h3 = mix(h3, w + i + 24);
    }
    _mm256_storeu_si256((__m256i*)lanes, h0);
    _mm256_storeu_si256((__m256i*)(lanes + 8), h1);
    _mm256_storeu_si256((__m256i*)(lanes + 16), h2);
    _mm256_storeu_si256((__m256i*)(lanes + 24), h3);
#else
    for (int l = 0; l < 32; l++) lanes[l] = (uint32_t)l + 1;
    for (; i + 32 <= n; i += 32)
        for (int l = 0; l < 32; l++) {
            uint32_t v;
            std::memcpy(&v, w + i + l, 4);
            uint32_t h = (lanes[l] ^ v) * 0x9E3779B1u;
            lanes[l] = h ^ (h >> 15);
        }
#endif
    uint64_t r = (uint64_t)n * P;
    for (int l = 0; l < 32; l++) r = ((r ^ lanes[l]) * P) ^ (r >> 31);
    for (; i < n; i++) {
        uint32_t v;
        std::memcpy(&v, w + i, 4);
        r = ((r ^ v) * P) ^ (r >> 31);
    }
    return r;
}

// The content hash of a filter: a fixed number of chunks (so the key does not depend on the
// thread count), hashed over the threads, combined in order.
uint64_t hash_floats(const float* w, int64_t n) {
    constexpr int kChunks = 8;
    uint64_t h[kChunks];
    const int64_t per = (n + kChunks - 1) / kChunks;
#pragma omp parallel for schedule(static) if (n > (int64_t(1) << 18))
    for (int c = 0; c < kChunks; c++) {
        const int64_t lo = std::min(n, c * per), hi = std::min(n, lo + per);
        h[c] = hash_chunk(w + lo, hi - lo);
    }
    const uint64_t P = 0x9E3779B97F4A7C15ull;
    uint64_t r = (uint64_t)n;
    for (int c = 0; c < kChunks; c++) r = ((r ^ h[c]) * P) ^ (r >> 29);
    return r;
}

// The transformed filters of w for (cout, cin), from the cache or made now.

}  // namespace

std::shared_ptr<float> cached_filters(const float* w, int64_t count, const FilterTag& tag, size_t bytes,
                                      const std::function<void(float*)>& make) {
    const bool by_address = sealed(w, (size_t)count * sizeof(float));
    const FilterKey key{by_address ? 0 : hash_floats(w, count), by_address ? w : nullptr, tag};
    {
        std::lock_guard<std::mutex> lock(g_filter_mu);
        for (auto& e : g_filters)
            if (e.key == key) {
                e.used = ++g_filter_clock;
                return e.U;
            }
    }
    float* raw = (float*)std::aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!raw) return nullptr;
    std::memset(raw, 0, bytes);
    std::shared_ptr<float> U(raw, std::free);
    make(raw);
    if (bytes <= kFilterCacheCap / 4) {
        std::lock_guard<std::mutex> lock(g_filter_mu);
        for (auto& e : g_filters)  // another thread made the same filters meanwhile: keep one copy
            if (e.key == key) return e.U;
        while (!g_filters.empty() && g_filter_bytes + bytes > kFilterCacheCap) {
            auto lru = std::min_element(g_filters.begin(), g_filters.end(),
                                        [](const FilterEntry& a, const FilterEntry& b) { return a.used < b.used; });
            g_filter_bytes -= lru->bytes;
            g_filters.erase(lru);
        }
        g_filters.push_back({key, U, bytes, ++g_filter_clock});
        g_filter_bytes += bytes;
    }
    return U;
}

void filter_cache_trim() {
    std::lock_guard<std::mutex> lock(g_filter_mu);
    g_filters.clear();
    g_filter_bytes = 0;
}

void filter_cache_forget(const void* lo, const void* hi) {
    std::lock_guard<std::mutex> lock(g_filter_mu);
    for (size_t i = 0; i < g_filters.size();) {
        const FilterEntry& e = g_filters[i];
        if (e.key.at && (const void*)e.key.at >= lo && (const void*)e.key.at < hi) {
            g_filter_bytes -= e.bytes;
            g_filters.erase(g_filters.begin() + (int64_t)i);
        } else {
            i++;
        }
    }
}


}  // namespace salient
