// Shared helpers of the CPU engine: argument checks and the per-thread error, from the host
// header both engines include (salient_host.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdarg>
#include "salient.h"
#include "salient_host.h"

namespace salient {

// Records a printf-style message as this thread's last error and returns `code`.
using host::fail;
using host::clear_error;

// Whether [p, p + bytes) lies inside one block sealed read-only (salient_host_seal, runtime.cpp).
bool sealed(const void* p, size_t bytes);

}  // namespace salient
