// Broadcasting binary arithmetic y = a op b (numpy rules), on the CPU.
#include "broadcast.h"

namespace {

template <int OP>
inline float apply(float a, float b) {
    if constexpr (OP == SALIENT_BIN_ADD) return a + b;
    if constexpr (OP == SALIENT_BIN_SUB) return a - b;
    if constexpr (OP == SALIENT_BIN_MUL) return a * b;
    return a / b;
}

// y[i] = a[i*sa] op b[i*sb] with sa, sb in {0, 1}; split so each loop vectorises.
template <int OP>
void run(float* y, const float* a, int64_t sa, const float* b, int64_t sb, int64_t len) {
    if (sa && sb) {
#pragma omp simd
        for (int64_t i = 0; i < len; i++) y[i] = apply<OP>(a[i], b[i]);
    } else if (sa) {
        const float bv = b[0];
#pragma omp simd
        for (int64_t i = 0; i < len; i++) y[i] = apply<OP>(a[i], bv);
    } else if (sb) {
        const float av = a[0];
#pragma omp simd
        for (int64_t i = 0; i < len; i++) y[i] = apply<OP>(av, b[i]);
    } else {
        const float v = apply<OP>(a[0], b[0]);
        for (int64_t i = 0; i < len; i++) y[i] = v;
    }
}

template <int OP>
void binary(const salient::Broadcast& bc, const float* a, const float* b, float* y) {
    salient::for_each_run(bc, 3, [&](const int64_t* off, int64_t len, const int64_t* st) {
        run<OP>(y + off[0], a + off[1], st[1], b + off[2], st[2], len);
    });
}

}  // namespace

extern "C" int binary_forward_cpu(int op, const float* a, const int64_t* a_shape, int a_rank,
                                  const float* b, const int64_t* b_shape, int b_rank,
                                  float* y, const int64_t* y_shape, int y_rank) {
    SALIENT_CHECK_PTR(a);
    SALIENT_CHECK_PTR(b);
    SALIENT_CHECK_PTR(y);
    SALIENT_CHECK(op >= SALIENT_BIN_ADD && op <= SALIENT_BIN_DIV, "binary_forward_cpu: unknown op %d", op);
    // y: y_shape, a: a_shape, b: b_shape (right-aligned broadcast)
    const int64_t* shapes[3] = {y_shape, a_shape, b_shape};
    int ranks[3] = {y_rank, a_rank, b_rank};
    salient::Broadcast bc;
    if (int rc = salient::make_broadcast(__func__, y_shape, y_rank, 3, shapes, ranks, bc)) return rc;
    switch (op) {
        case SALIENT_BIN_ADD: binary<SALIENT_BIN_ADD>(bc, a, b, y); break;
        case SALIENT_BIN_SUB: binary<SALIENT_BIN_SUB>(bc, a, b, y); break;
        case SALIENT_BIN_MUL: binary<SALIENT_BIN_MUL>(bc, a, b, y); break;
        default: binary<SALIENT_BIN_DIV>(bc, a, b, y); break;
    }
    return SALIENT_OK;
}
