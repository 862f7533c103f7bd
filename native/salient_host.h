// salient_host.h: the host C++ both engines share, written once and included by g++ (the CPU
// engine, native/cpu/) and by nvcc (the CUDA engine, kernels/, and its CPU emulation):
//   - the op codes and error codes: salient.h (SALIENT_ACT_*, SALIENT_BIN_*, SALIENT_CAMW_*,
//     SALIENT_CAMC_*, SALIENT_E*), which the CUDA ABI (kernels/salient_cuda.h) follows;
//   - the per-thread error message (fail) and the argument checks that fill it;
//   - the numpy broadcast plan (make_broadcast);
//   - the conv geometry (ConvGeom) and its checks (check_conv).
// Host code only: nothing here runs on a device. Each engine library keeps its own copy of
// the error buffer (hidden visibility), read by salient_last_error / salient_cuda_last_error.
#pragma once
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include "salient.h"

#pragma GCC visibility push(hidden)
namespace salient {
namespace host {

// ---- errors

inline char* error_buffer() {
    static thread_local char buf[512];
    return buf;
}

// Records a printf-style message as this thread's last error and returns `code`.
inline int fail(int code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
inline int fail(int code, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_buffer(), 512, fmt, ap);
    va_end(ap);
    return code;
}

inline void clear_error() { error_buffer()[0] = 0; }

}  // namespace host
}  // namespace salient

// Early-return argument checks: SALIENT_CHECK(cond, "message %d", v)
#define SALIENT_CHECK(cond, ...)                                                   \
    do {                                                                           \
        if (!(cond)) return ::salient::host::fail(SALIENT_EINVAL, __VA_ARGS__);    \
    } while (0)

#define SALIENT_CHECK_PTR(p) SALIENT_CHECK((p) != nullptr, "%s: %s is null", __func__, #p)

namespace salient {
namespace host {

// ---- shapes and the broadcast plan

// Checks a shape array (non-null when rank > 0, 0 <= rank <= SALIENT_MAX_RANK, dims >= 0).
inline int check_shape(const char* fn, const char* what, const int64_t* shape, int rank) {
    SALIENT_CHECK(rank >= 0 && rank <= SALIENT_MAX_RANK, "%s: %s rank %d outside [0, %d]", fn, what, rank,
                  SALIENT_MAX_RANK);
    SALIENT_CHECK(rank == 0 || shape != nullptr, "%s: %s shape is null", fn, what);
    for (int i = 0; i < rank; i++)
        SALIENT_CHECK(shape[i] >= 0, "%s: %s has negative dim %lld", fn, what, (long long)shape[i]);
    return SALIENT_OK;
}

inline int64_t shape_numel(const int64_t* shape, int rank) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= shape[i];
    return n;
}

constexpr int kMaxOps = 4;

// Iteration of up to kMaxOps operands against an output shape: dims of size 1 dropped and
// contiguous runs merged, so typical cases (same shape, per-channel operand) end with rank 1
// or 2. Plain data: the CUDA kernels take it by value.
struct Broadcast {
    int rank;                                  // coalesced rank (>= 1)
    int64_t shape[SALIENT_MAX_RANK];           // coalesced output shape
    int64_t stride[kMaxOps][SALIENT_MAX_RANK]; // element strides per operand (0: broadcast; unused operands 0)
    int64_t numel;
};

// Builds the iteration of `nops` operands (shapes right-aligned, numpy rules) against `out`:
// every operand dim must equal the output dim or be 1. Operand 0 is usually the output.
inline int make_broadcast(const char* fn, const int64_t* out, int out_rank, int nops, const int64_t* const* shapes,
                          const int* ranks, Broadcast& b) {
    if (int rc = check_shape(fn, "output", out, out_rank)) return rc;
    SALIENT_CHECK(nops >= 1 && nops <= kMaxOps, "%s: bad operand count %d", fn, nops);
    int64_t st[kMaxOps][SALIENT_MAX_RANK];
    for (int o = 0; o < nops; o++) {
        if (int rc = check_shape(fn, "operand", shapes[o], ranks[o])) return rc;
        SALIENT_CHECK(ranks[o] <= out_rank, "%s: operand rank %d exceeds output rank %d", fn, ranks[o], out_rank);
        int64_t acc = 1;
        for (int d = out_rank - 1; d >= 0; d--) {
            int od = d - (out_rank - ranks[o]);
            int64_t dim = od >= 0 ? shapes[o][od] : 1;
            SALIENT_CHECK(dim == out[d] || dim == 1, "%s: operand dim %lld does not broadcast to %lld (axis %d)", fn,
                          (long long)dim, (long long)out[d], d);
            st[o][d] = (dim == 1) ? 0 : acc;
            acc *= dim;
        }
    }
    b.numel = shape_numel(out, out_rank);
    b.rank = 0;
    for (int d = 0; d < out_rank; d++) {
        if (out[d] == 1) continue;
        if (b.rank > 0) {
            bool merge = true;
            for (int o = 0; o < nops; o++)
                if (b.stride[o][b.rank - 1] != st[o][d] * out[d]) merge = false;
            if (merge) {
                b.shape[b.rank - 1] *= out[d];
                for (int o = 0; o < nops; o++) b.stride[o][b.rank - 1] = st[o][d];
                continue;
            }
        }
        b.shape[b.rank] = out[d];
        for (int o = 0; o < nops; o++) b.stride[o][b.rank] = st[o][d];
        b.rank++;
    }
    if (b.rank == 0) {
        b.rank = 1;
        b.shape[0] = 1;
        for (int o = 0; o < nops; o++) b.stride[o][0] = 0;
    }
    for (int o = nops; o < kMaxOps; o++)
        for (int d = 0; d < SALIENT_MAX_RANK; d++) b.stride[o][d] = 0;
    return SALIENT_OK;
}

// ---- conv geometry

// Input (n,c,h,w), weight (k, c/groups, r, s), strides, asymmetric pads (top, left, bottom,
// right), dilations and groups; check_conv fills the output size and the per-group sizes.
struct ConvGeom {
    int n, c, h, w, k, r, s, sh, sw, pt, pl, pb, pr, dh, dw, groups;
    int oh, ow;  // output plane
    int cg, kg;  // input and output channels per group
};

// The checks every engine applies to a conv (the engines add their own size limits).
inline int check_conv_geometry(const char* fn, ConvGeom& g) {
    SALIENT_CHECK(g.n > 0 && g.c > 0 && g.h > 0 && g.w > 0 && g.k > 0 && g.r > 0 && g.s > 0,
                  "%s: non-positive size (n=%d c=%d h=%d w=%d k=%d r=%d s=%d)", fn, g.n, g.c, g.h, g.w, g.k, g.r, g.s);
    SALIENT_CHECK(g.sh > 0 && g.sw > 0 && g.dh > 0 && g.dw > 0, "%s: strides and dilations must be positive", fn);
    SALIENT_CHECK(g.pt >= 0 && g.pl >= 0 && g.pb >= 0 && g.pr >= 0, "%s: negative pad", fn);
    SALIENT_CHECK(g.groups > 0 && g.c % g.groups == 0 && g.k % g.groups == 0,
                  "%s: groups=%d must divide c=%d and k=%d", fn, g.groups, g.c, g.k);
    const int64_t eh = (int64_t)g.h + g.pt + g.pb - (int64_t)g.dh * (g.r - 1) - 1;
    const int64_t ew = (int64_t)g.w + g.pl + g.pr - (int64_t)g.dw * (g.s - 1) - 1;
    SALIENT_CHECK(eh >= 0 && ew >= 0, "%s: kernel larger than the padded input", fn);
    g.oh = (int)(eh / g.sh + 1);
    g.ow = (int)(ew / g.sw + 1);
    g.cg = g.c / g.groups;
    g.kg = g.k / g.groups;
    return SALIENT_OK;
}

// ---- 3-D conv and pool geometry (the int arrays of salient.h, SALIENT_CONV3D_GEOM / SALIENT_POOL3D_GEOM)

// Spatial axes in (d,h,w) order. conv: `out` is computed by unpack_conv3d; pool: `out` is the caller's.
struct Vol3Geom {
    int n, c, k, groups;                                      // k, groups: conv only (pool: k = c, groups = c)
    int in[3], ker[3], stride[3], pad0[3], pad1[3], dil[3], out[3];
    int cg, kg;                                               // conv: channels per group in and out
    int64_t in_vol() const { return (int64_t)in[0] * in[1] * in[2]; }
    int64_t out_vol() const { return (int64_t)out[0] * out[1] * out[2]; }
    int64_t ker_vol() const { return (int64_t)ker[0] * ker[1] * ker[2]; }
};

inline int check_vol3_window(const char* fn, const Vol3Geom& g) {
    for (int a = 0; a < 3; a++) {
        SALIENT_CHECK(g.in[a] > 0 && g.ker[a] > 0, "%s: non-positive input %d or kernel %d on spatial axis %d", fn,
                      g.in[a], g.ker[a], a);
        SALIENT_CHECK(g.stride[a] > 0 && g.dil[a] > 0, "%s: strides and dilations must be positive (axis %d)", fn, a);
        SALIENT_CHECK(g.pad0[a] >= 0 && g.pad1[a] >= 0, "%s: negative pad on axis %d", fn, a);
    }
    SALIENT_CHECK(g.n > 0 && g.c > 0, "%s: non-positive size (n=%d c=%d)", fn, g.n, g.c);
    SALIENT_CHECK((int64_t)g.n * g.c * g.in_vol() < ((int64_t)1 << 40), "%s: volume too large", fn);
    return SALIENT_OK;
}

// Reads and checks geom[SALIENT_CONV3D_GEOM]; fills out, cg and kg.
inline int unpack_conv3d(const char* fn, const int32_t* geom, Vol3Geom& g) {
    SALIENT_CHECK(geom != nullptr, "%s: geom is null", fn);
    g.n = geom[0], g.c = geom[1], g.k = geom[2], g.groups = geom[3];
    for (int a = 0; a < 3; a++) {
        g.in[a] = geom[4 + a], g.ker[a] = geom[7 + a], g.stride[a] = geom[10 + a];
        g.pad0[a] = geom[13 + a], g.pad1[a] = geom[16 + a], g.dil[a] = geom[19 + a];
    }
    if (int rc = check_vol3_window(fn, g)) return rc;
    SALIENT_CHECK(g.k > 0 && g.groups > 0 && g.c % g.groups == 0 && g.k % g.groups == 0,
                  "%s: groups=%d must divide c=%d and k=%d", fn, g.groups, g.c, g.k);
    for (int a = 0; a < 3; a++) {
        const int64_t e = (int64_t)g.in[a] + g.pad0[a] + g.pad1[a] - (int64_t)g.dil[a] * (g.ker[a] - 1) - 1;
        SALIENT_CHECK(e >= 0, "%s: kernel larger than the padded input on axis %d", fn, a);
        g.out[a] = (int)(e / g.stride[a] + 1);
    }
    g.cg = g.c / g.groups;
    g.kg = g.k / g.groups;
    SALIENT_CHECK((int64_t)g.n * g.k * g.out_vol() < ((int64_t)1 << 40), "%s: output too large", fn);
    return SALIENT_OK;
}

// Reads and checks geom[SALIENT_POOL3D_GEOM].
inline int unpack_pool3d(const char* fn, const int32_t* geom, Vol3Geom& g) {
    SALIENT_CHECK(geom != nullptr, "%s: geom is null", fn);
    g.n = geom[0], g.c = geom[1], g.k = geom[1], g.groups = geom[1];
    for (int a = 0; a < 3; a++) {
        g.in[a] = geom[2 + a], g.ker[a] = geom[5 + a], g.stride[a] = geom[8 + a];
        g.pad0[a] = geom[11 + a], g.pad1[a] = geom[14 + a], g.dil[a] = geom[17 + a], g.out[a] = geom[20 + a];
    }
    g.cg = g.kg = 1;
    if (int rc = check_vol3_window(fn, g)) return rc;
    for (int a = 0; a < 3; a++) {
        SALIENT_CHECK(g.out[a] > 0, "%s: non-positive output size %d on axis %d", fn, g.out[a], a);
        // windows past the input pool nothing, but an output far larger than the input is a corrupt size
        SALIENT_CHECK((int64_t)(g.out[a] - 1) * g.stride[a] <=
                          (int64_t)g.in[a] + g.pad0[a] + g.pad1[a] + (int64_t)g.dil[a] * (g.ker[a] - 1),
                      "%s: output %d does not fit the padded input %d on axis %d", fn, g.out[a], g.in[a], a);
    }
    SALIENT_CHECK((int64_t)g.n * g.c * g.out_vol() < ((int64_t)1 << 40), "%s: output too large", fn);
    return SALIENT_OK;
}

}  // namespace host
}  // namespace salient
#pragma GCC visibility pop
