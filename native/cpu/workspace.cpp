// Per-thread grow-only scratch buffers (see workspace.h).
#include <cstdlib>
#include "common.h"
#include "hugepages.h"
#include "workspace.h"

namespace salient {

namespace {
struct Workspace {
    float* p[3] = {nullptr, nullptr, nullptr};
    int64_t cap[3] = {0, 0, 0};
    ~Workspace() {
        for (float* q : p) std::free(q);
    }
};
thread_local Workspace g_ws;
}  // namespace

float* thread_workspace(int64_t count, int slot) {
    if (slot < 0 || slot > 2) {
        fail(SALIENT_EINVAL, "thread_workspace: bad slot %d", slot);
        return nullptr;
    }
    if (count <= 0) count = 1;
    if (count > (int64_t(1) << 36)) {
        fail(SALIENT_ENOMEM, "workspace of %lld floats is beyond any sane size", (long long)count);
        return nullptr;
    }
    if (count > g_ws.cap[slot]) {
        std::free(g_ws.p[slot]);
        g_ws.p[slot] = nullptr;
        g_ws.cap[slot] = 0;
        size_t bytes = ((size_t)count * sizeof(float) + 63) & ~(size_t)63;
        float* q = (float*)big_alloc(bytes);
        if (!q) {
            fail(SALIENT_ENOMEM, "out of host memory for a %zu-byte workspace", bytes);
            return nullptr;
        }
        g_ws.p[slot] = q;
        g_ws.cap[slot] = count;
    }
    return g_ws.p[slot];
}

}  // namespace salient
