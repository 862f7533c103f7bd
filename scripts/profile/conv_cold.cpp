// conv_cold: one conv layer timed through the engine's C API, with its input and output in cache or
// out of it, as a network leaves them. Links the static library the build makes, so perf sees the
// engine's symbols (the JNI library in the jar is stripped):
//
//   mvn -q -DskipTests package
//   g++ -O2 -fopenmp scripts/profile/conv_cold.cpp target/native/libsalient_cpu.a -lopenblas -o /tmp/conv_cold
//   COPIES=64 /tmp/conv_cold B C H K REPS [Z [R [STRIDE]]]
//
// B images of C x H x H into K channels, an R x R window (default 1) at STRIDE (default 1), padding
// R / 2, Z = 1 adds a residual (conv2d_forward_sum_cpu; the residual stays one buffer), weights and
// bias sealed. Prints the median of REPS calls after 20 warm-up calls. Environment:
//   COPIES=N  rotate N inputs and outputs (N large enough that they leave the caches: 16-64)
//   HOTX=1, HOTY=1  keep the input (or the output) one buffer while the other rotates
//   GRP=G     G groups (G = C = K: a depthwise conv; not GROUPS, which bash keeps for itself)
//   THREADS=T threads (default 2); GAPUS=U  busy-wait U microseconds before each call (idle workers)
//   NOBIAS=1  no bias (with Z = 0, nothing for the conv to apply to its outputs)
//   SWEEPMB=M write a line of every 64 bytes of an M MiB buffer before each call (everything the layer
//             touches, its weights and the engine's scratch too, then comes from memory)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <vector>
#include <random>
#include <thread>
extern "C" {
float* salient_host_alloc(int64_t count);
int salient_host_seal(const float* p, int64_t count);
int salient_set_num_threads(int n);
int conv2d_forward_cpu(const float*, const float*, const float*, float*, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int);
int conv2d_forward_sum_cpu(const float*, const float*, const float*, const float*, float*, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, float, float);
}
float* fill(std::mt19937& r, int64_t n, bool seal) {
    float* p = salient_host_alloc(n);
    std::uniform_real_distribution<float> u(-.5f, .5f);
    for (int64_t i = 0; i < n; i++) p[i] = u(r);
    if (seal) salient_host_seal(p, n);
    return p;
}
int main(int argc, char** argv) {
    int B = atoi(argv[1]), C = atoi(argv[2]), H = atoi(argv[3]), K = atoi(argv[4]), reps = atoi(argv[5]);
    bool z = argc > 6 && atoi(argv[6]);
    int R = argc > 7 ? atoi(argv[7]) : 1, S = R, stride = argc > 8 ? atoi(argv[8]) : 1, pad = R / 2;
    salient_set_num_threads(getenv("THREADS") ? atoi(getenv("THREADS")) : 2);
    std::mt19937 rng(1);
    int OH = (H + 2 * pad - R) / stride + 1;
    const int copies = getenv("COPIES") ? atoi(getenv("COPIES")) : 1;
    std::vector<float*> xs, ys;
    for (int i = 0; i < copies; i++) {
        xs.push_back(fill(rng, (int64_t)B * C * H * H, false));
        ys.push_back(salient_host_alloc((int64_t)B * K * OH * OH));
        for (int64_t j = 0; j < (int64_t)B * K * OH * OH; j++) ys.back()[j] = 0.f;
    }
    float *x = xs[0], *y = ys[0];
    float* zz = z ? fill(rng, (int64_t)B * K * OH * OH, false) : nullptr;
    const int G = getenv("GRP") ? atoi(getenv("GRP")) : 1;
    float* w = fill(rng, (int64_t)K * (C / G) * R * S, true);
    float* b = getenv("NOBIAS") ? nullptr : fill(rng, K, true);
    const size_t sweep_floats = getenv("SWEEPMB") ? (size_t)atoi(getenv("SWEEPMB")) << 18 : 0;
    float* sweep = sweep_floats ? (float*)calloc(sweep_floats, sizeof(float)) : nullptr;
    std::vector<double> t;
    for (int i = -20; i < reps; i++) {
        if (sweep) {  // every cache line of a buffer larger than the caches written, as the rest of a network does
            for (size_t j = 0; j < sweep_floats; j += 16) sweep[j] += 1.f;
        }
        if (getenv("GAPUS")) { auto g0 = std::chrono::steady_clock::now(); while (std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - g0).count() < atoi(getenv("GAPUS"))) {} }
        x = xs[getenv("HOTX") ? 0 : (i + 40) % copies], y = ys[getenv("HOTY") ? 0 : (i + 40) % copies];
        auto t0 = std::chrono::steady_clock::now();
        int rc = z ? conv2d_forward_sum_cpu(x, w, b, zz, y, B, C, H, H, K, R, S, stride, stride, pad, pad, pad, pad, 1, 1, G, 0, 0, 0)
                   : conv2d_forward_cpu(x, w, b, y, B, C, H, H, K, R, S, stride, stride, pad, pad, pad, pad, 1, 1, G);
        if (rc) { printf("rc %d\n", rc); return 1; }
        if (i >= 0) t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    double fl = 2.0 * B * (C / G) * K * OH * OH * R * S;
    printf("%d->%d %dx%d r%d s%d b%d z%d: median %.1f us  %.1f GFLOP/s\n", C, K, H, H, R, stride, B, z, t[t.size() / 2], fl / t[t.size() / 2] / 1e3);
}
