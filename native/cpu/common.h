// Shared helpers of the CPU engine: argument checks and the per-thread error.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdarg>
#include "salient.h"

namespace salient {

// Records a printf-style message as this thread's last error and returns `code`.
int fail(int code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void clear_error();

}  // namespace salient

// Early-return argument checks: SALIENT_CHECK(cond, "message %d", v)
#define SALIENT_CHECK(cond, ...)                                   \
    do {                                                           \
        if (!(cond)) return ::salient::fail(SALIENT_EINVAL, __VA_ARGS__); \
    } while (0)

#define SALIENT_CHECK_PTR(p) SALIENT_CHECK((p) != nullptr, "%s: %s is null", __func__, #p)
