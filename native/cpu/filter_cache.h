// Transformed filters kept between calls (filter_cache.cpp): a model's weights are the same on every
// call, so what a conv path makes of them (Winograd's U, a pointwise conv's lanes panels) is made once.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace salient {

// What was made of a filter: the transform (kind) and what else its layout depends on.
struct FilterTag {
    int kind;  // kFilter*
    int d0, d1, d2;
    bool flag;
};
constexpr int kFilterWinograd = 1;  // d0 cout, d1 cin, d2 the GEMM's rows per block; flag: flipped (data gradient)
constexpr int kFilterLanes = 2;     // d0 m, d1 k (gemm_lanes.cpp's panels)
constexpr int kFilterBatch = 4;     // d0 m, d1 k (gemm_canonical.cpp's batch_pack blocks of 6 rows)
constexpr int kFilterDirect = 3;    // d0 kg, d1 taps, d2 block + 128 groups (conv3d_implicit.cpp's direct512 blocks)

// The transform of w (count floats) that tag names: from the cache, or made now by make(dst) into
// `bytes` zeroed, 64-byte aligned bytes, and cached when it is at most a quarter of the cache. Keyed
// by address where w lies in a sealed block (salient_host_seal), else by a hash of its content. Null
// when out of memory.
std::shared_ptr<float> cached_filters(const float* w, int64_t count, const FilterTag& tag, size_t bytes,
                                      const std::function<void(float*)>& make);

void filter_cache_trim();                                  // drops every cached transform
void filter_cache_forget(const void* lo, const void* hi);  // drops those made from sealed [lo, hi)

}  // namespace salient
