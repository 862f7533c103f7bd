// Per-thread scratch memory for the CPU engine (im2col columns and friends).
#pragma once
#include <cstddef>
#include <cstdint>

namespace salient {

// Returns a 64-byte aligned buffer of at least `count` floats owned by the
// calling thread, valid until this thread's next call with a larger count for
// the same slot; slots 0..2 are independent buffers. Grow-only, so
// steady-state inference allocates nothing. NULL (and the thread's error set)
// if the allocation fails.
float* thread_workspace(int64_t count, int slot = 0);

}  // namespace salient
