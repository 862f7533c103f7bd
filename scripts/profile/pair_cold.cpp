// pair_cold: a 1x1 expansion and the 3x3 depthwise conv that reads it (MobileNetV2's), both with Clip(0, 6),
// timed as the two convs (conv2d_forward_act_cpu twice, through the expanded tensor) and as the fused pair
// (conv2d_pointwise_depthwise_cpu), alternating, with the outputs compared bit for bit. Links the static
// library the build makes, as conv_cold.cpp does:
//
//   make -s -j2 -C native OUT=/tmp/X OPENBLAS_INC=$OB/include /tmp/X/libsalient_cpu.a
//   g++ -O2 -fopenmp scripts/profile/pair_cold.cpp /tmp/X/libsalient_cpu.a $OB/libopenblas.so.0 -Wl,-rpath,$OB -o /tmp/pair
//   /tmp/pair B C H K STRIDE REPS
//
// (OB: the OpenBLAS preset's folder under target/openblas.) B images of C x H x H expanded to K channels,
// the depthwise conv at STRIDE. Prints the medians of REPS calls each after 5 warm-up rounds and how many
// outputs differ. Environment: COPIES=N rotate N inputs and outputs (default 4: out of the caches, as a
// network leaves them); THREADS=T threads (default 2); REVERSE=1 the other pair: a 3x3 depthwise conv of C
// channels at STRIDE with Clip(0, 6), then a 1x1 conv onto K channels (conv2d_depthwise_pointwise_cpu,
// MobileNetV2's first block).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <vector>
#include <random>
extern "C" {
float* salient_host_alloc(int64_t count);
int salient_host_seal(const float* p, int64_t count);
int salient_set_num_threads(int n);
int conv2d_forward_act_cpu(const float*, const float*, const float*, float*, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, float, float);
int conv2d_forward_cpu(const float*, const float*, const float*, float*, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int);
int conv2d_depthwise_pointwise_cpu(const float* x, const float* w1, const float* b1, int act1, float lo1, float hi1,
                                   const float* w2, const float* b2, float* y, int n, int c, int h, int wd, int stride,
                                   int k, int act2, float lo2, float hi2);
int conv2d_pointwise_depthwise_cpu(const float* x, const float* w1, const float* b1, int act1, float lo1, float hi1,
                                   const float* w2, const float* b2, float* y, int n, int c, int h, int wd, int k,
                                   int stride, int act2, float lo2, float hi2);
}
float* fill(std::mt19937& r, int64_t n, bool seal) {
    float* p = salient_host_alloc(n);
    std::uniform_real_distribution<float> u(-.5f, .5f);
    for (int64_t i = 0; i < n; i++) p[i] = u(r);
    if (seal) salient_host_seal(p, n);
    return p;
}
int main(int argc, char** argv) {
    int B = atoi(argv[1]), C = atoi(argv[2]), H = atoi(argv[3]), K = atoi(argv[4]), S = atoi(argv[5]), reps = atoi(argv[6]);
    salient_set_num_threads(getenv("THREADS") ? atoi(getenv("THREADS")) : 2);
    const int copies = getenv("COPIES") ? atoi(getenv("COPIES")) : 4;
    std::mt19937 rng(1);
    int OH = (H + 2 - 3) / S + 1;
    const bool rev = getenv("REVERSE") != nullptr;
    std::vector<float*> xs, ys;
    for (int i = 0; i < copies; i++) {
        xs.push_back(fill(rng, (int64_t)B * C * H * H, false));
        ys.push_back(salient_host_alloc((int64_t)B * K * OH * OH));
        memset(ys.back(), 0, sizeof(float) * B * K * OH * OH);
    }
    const int64_t nmid = rev ? (int64_t)B * C * OH * OH : (int64_t)B * K * H * H;
    float* mid = salient_host_alloc(nmid);
    memset(mid, 0, sizeof(float) * nmid);
    float* w1 = fill(rng, rev ? (int64_t)C * 9 : (int64_t)K * C, true); float* b1 = fill(rng, rev ? C : K, true);
    float* w2 = fill(rng, rev ? (int64_t)K * C : (int64_t)K * 9, true); float* b2 = fill(rng, K, true);
    auto unfused = [&](int i) {
        if (rev) {
            conv2d_forward_act_cpu(xs[i], w1, b1, mid, B, C, H, H, C, 3, 3, S, S, 1, 1, 1, 1, 1, 1, C, 2, 0.f, 6.f);
            return conv2d_forward_cpu(mid, w2, b2, ys[i], B, C, OH, OH, K, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        }
        conv2d_forward_act_cpu(xs[i], w1, b1, mid, B, C, H, H, K, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 2, 0.f, 6.f);
        return conv2d_forward_act_cpu(mid, w2, b2, ys[i], B, K, H, H, K, 3, 3, S, S, 1, 1, 1, 1, 1, 1, K, 2, 0.f, 6.f);
    };
    auto fused = [&](int i) {
        if (rev) return conv2d_depthwise_pointwise_cpu(xs[i], w1, b1, 2, 0.f, 6.f, w2, b2, ys[i], B, C, H, H, S, K, -1, 0.f, 0.f);
        return conv2d_pointwise_depthwise_cpu(xs[i], w1, b1, 2, 0.f, 6.f, w2, b2, ys[i], B, C, H, H, K, S, 2, 0.f, 6.f);
    };
    int64_t ny = (int64_t)B * K * OH * OH;
    std::vector<float> ref(ny);
    int rc = unfused(0); if (rc) { printf("unfused rc %d\n", rc); return 1; }
    memcpy(ref.data(), ys[0], ny * 4);
    memset(ys[0], 0, ny * 4);
    rc = fused(0); if (rc) { printf("fused rc %d\n", rc); return 1; }
    int64_t diff = 0; for (int64_t i = 0; i < ny; i++) diff += memcmp(&ref[i], ys[0] + i, 4) != 0;
    std::vector<double> tu, tf;
    for (int r = 0; r < reps + 5; r++) {
        for (int f = 0; f < 2; f++) {
            auto t0 = std::chrono::steady_clock::now();
            f ? fused(r % copies) : unfused(r % copies);
            double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
            if (r >= 5) (f ? tf : tu).push_back(us);
        }
    }
    std::sort(tu.begin(), tu.end()); std::sort(tf.begin(), tf.end());
    printf("%d->%d %dx%d s%d b%d: unfused %.1f us, fused %.1f us (%.3fx); outputs differing %lld of %lld\n", C, K, H, H, S, B,
           tu[tu.size() / 2], tf[tf.size() / 2], tu[tu.size() / 2] / tf[tf.size() / 2], (long long)diff, (long long)ny);
}
