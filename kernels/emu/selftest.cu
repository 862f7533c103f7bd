// selftest.cu: checks of the emulation itself, built like the kernels (preprocessed, rewritten,
// compiled by g++) and linked with the emulation runtime: `make -C kernels emu-test` runs it
// in the normal order and in race mode. Each check prints one line; the exit code counts the
// failures.
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "../common.cuh"

// ---- kernels

// Block reduction through common.cuh's block_sum (warp shuffles + shared scratch + barriers).
__global__ void sum_kernel(const float* x, float* out, int n) {
    __shared__ float scratch[32];
    float v = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) v += x[(int64_t)blockIdx.x * n + i];
    v = block_sum(v, scratch);
    if (threadIdx.x == 0) out[blockIdx.x] = v;
}

// Every thread reads its left neighbour's value: correct with the barrier.
__global__ void neighbour_kernel(float* out, bool barrier) {
    __shared__ float s[256];
    const int t = threadIdx.x;
    s[t] = (float)(t + 1000 * blockIdx.x);
    if (barrier) __syncthreads();
    out[blockIdx.x * blockDim.x + t] = t > 0 ? s[t - 1] : -1.f;
}

__global__ void shuffles_kernel(int* out) {
    const int lane = threadIdx.x & 31;
    int down = lane;
    for (int o = 16; o > 0; o >>= 1) down += __shfl_down_sync(0xffffffffu, down, o);
    int up = 1;
    for (int o = 1; o < 32; o <<= 1) {
        int v = __shfl_up_sync(0xffffffffu, up, o);
        if (lane >= o) up += v;
    }
    const int bcast = __shfl_sync(0xffffffffu, lane * 7, 5);
    const unsigned ballot = __ballot_sync(0xffffffffu, lane % 3 == 0);
    const int any = __any_sync(0xffffffffu, lane == 31), all = __all_sync(0xffffffffu, lane < 31);
    const int xr = __shfl_xor_sync(0xffffffffu, lane, 1, 4);
    int* o = out + threadIdx.x * 7;
    o[0] = down;
    o[1] = up;
    o[2] = bcast;
    o[3] = (int)ballot;
    o[4] = any;
    o[5] = all;
    o[6] = xr;
}

__global__ void atomics_kernel(int* counter, float* fsum) {
    atomicAdd(counter, 1);
    atomicAdd(fsum, 0.5f);
}

__global__ void divergent_barrier_kernel(float* out) {
    float v = (float)threadIdx.x;
    if (threadIdx.x % 2) __syncthreads();
    else v = __shfl_xor_sync(0xffffffffu, v, 2);
    out[threadIdx.x] = v;
}

__global__ void oob_write_kernel(float* out, int n) {
    GRID_STRIDE(i, n + 1) out[i] = 1.f;  // one past the end
}

__global__ void ids_kernel(int* out) {
    const int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    out[b * blockDim.x * blockDim.y * blockDim.z + t] = b * 10000 + t;
}

// ---- checks

static int failures = 0, checks = 0;

static void check(bool ok, const char* what) {
    checks++;
    if (!ok) failures++;
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
}

int main() {
    const char* race = getenv("SALIENT_EMU_RACE");
    const bool race_mode = race && *race && race[0] != '0';
    printf("emulation self-test (%s)\n", race_mode ? "race mode" : "normal order");

    {  // reductions over 5 blocks of 256 threads
        const int blocks = 5, n = 1000;
        std::vector<float> h(blocks * n);
        for (size_t i = 0; i < h.size(); i++) h[i] = (float)(i % 17) - 8.f;
        float *x, *out;
        cudaMalloc(&x, h.size() * 4);
        cudaMalloc(&out, blocks * 4);
        cudaMemcpy(x, h.data(), h.size() * 4, cudaMemcpyHostToDevice);
        sum_kernel<<<blocks, 256>>>(x, out, n);
        bool ok = cudaGetLastError() == cudaSuccess;
        float r[blocks];
        cudaMemcpy(r, out, sizeof r, cudaMemcpyDeviceToHost);
        for (int b = 0; b < blocks; b++) {
            double ref = 0;
            for (int i = 0; i < n; i++) ref += h[b * n + i];
            ok = ok && r[b] == (float)ref;
        }
        check(ok, "block_sum over 5 blocks (shuffles, shared scratch, barriers)");
        cudaFree(x);
        cudaFree(out);
    }
    {  // a missing barrier: fine in the fixed order, caught in race mode
        float* out;
        const int blocks = 3;
        cudaMalloc(&out, blocks * 256 * 4);
        std::vector<float> r(blocks * 256);
        auto right = [&] {
            for (int b = 0; b < blocks; b++)
                for (int t = 0; t < 256; t++)
                    if (r[b * 256 + t] != (t > 0 ? (float)(t - 1 + 1000 * b) : -1.f)) return false;
            return true;
        };
        neighbour_kernel<<<blocks, 256>>>(out, true);
        cudaMemcpy(r.data(), out, r.size() * 4, cudaMemcpyDeviceToHost);
        check(right(), "neighbour exchange with __syncthreads");
        neighbour_kernel<<<blocks, 256>>>(out, false);
        cudaMemcpy(r.data(), out, r.size() * 4, cudaMemcpyDeviceToHost);
        if (race_mode) check(!right(), "race mode: the same exchange without __syncthreads reads unwritten shared memory");
        else check(right(), "fixed order: without __syncthreads the left neighbour happens to have run first");
        cudaFree(out);
    }
    {  // shuffles and votes
        int* out;
        cudaMalloc(&out, 64 * 7 * 4);
        shuffles_kernel<<<1, 64>>>(out);
        std::vector<int> r(64 * 7);
        cudaMemcpy(r.data(), out, r.size() * 4, cudaMemcpyDeviceToHost);
        bool ok = cudaGetLastError() == cudaSuccess;
        unsigned ballot = 0;
        for (int l = 0; l < 32; l++)
            if (l % 3 == 0) ballot |= 1u << l;
        for (int t = 0; t < 64; t++) {
            const int lane = t & 31, *o = &r[t * 7];
            ok = ok && (lane != 0 || o[0] == 496) && o[1] == lane + 1 && o[2] == 35 && (unsigned)o[3] == ballot && o[4] == 1 &&
                 o[5] == 0 && o[6] == (lane ^ 1);
        }
        check(ok, "shfl_down / shfl_up / shfl / shfl_xor with width 4 / ballot / any / all");
        cudaFree(out);
    }
    {  // atomics from blocks on several OS threads
        int* c;
        float* f;
        cudaMalloc(&c, 4);
        cudaMalloc(&f, 4);
        cudaMemset(c, 0, 4);
        cudaMemset(f, 0, 4);
        atomics_kernel<<<64, 128>>>(c, f);
        int hc = 0;
        float hf = 0;
        cudaMemcpy(&hc, c, 4, cudaMemcpyDeviceToHost);
        cudaMemcpy(&hf, f, 4, cudaMemcpyDeviceToHost);
        check(hc == 64 * 128 && hf == 64 * 128 * 0.5f, "atomicAdd (int and float) from 64 blocks");
        cudaFree(c);
        cudaFree(f);
    }
    {  // 3-D grids and blocks
        int* out;
        const dim3 g(3, 2, 2), b(4, 3, 2);
        const int total = 12 * 24;
        cudaMalloc(&out, total * 4);
        ids_kernel<<<g, b>>>(out);
        std::vector<int> r(total);
        cudaMemcpy(r.data(), out, total * 4, cudaMemcpyDeviceToHost);
        bool ok = true;
        for (int i = 0; i < total; i++) ok = ok && r[i] == (i / 24) * 10000 + i % 24;
        check(ok, "threadIdx / blockIdx / blockDim / gridDim in 3-D");
        cudaFree(out);
    }
    {  // misuse the emulation reports
        float* out;
        cudaMalloc(&out, 64 * 4);
        divergent_barrier_kernel<<<1, 64>>>(out);
        cudaError_t e = cudaGetLastError();
        check(e == cudaErrorLaunchFailure && strstr(cudaGetErrorString(e), "divergent_barrier_kernel"),
              "a barrier not reached by every thread fails the launch and names the kernel");
        printf("     (%s)\n", cudaGetErrorString(e));
        oob_write_kernel<<<1, 64>>>(out, 64);
        e = cudaGetLastError();
        check(e == cudaErrorIllegalAddress, "a write one past an allocation is an illegal address");
        printf("     (%s)\n", cudaGetErrorString(e));
        ids_kernel<<<1, 2048>>>(reinterpret_cast<int*>(out));
        check(cudaGetLastError() == cudaErrorInvalidConfiguration, "2048 threads per block is an invalid configuration");
        float h[4];
        check(cudaMemcpy(h, out + 62, sizeof h, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue,
              "a copy that runs past an allocation is refused");
        cudaGetLastError();
        cudaFree(out);
        void* big = nullptr;
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        check(cudaMalloc(&big, total_b + 1) == cudaErrorMemoryAllocation && big == nullptr,
              "allocations beyond the emulated device memory fail with cudaErrorMemoryAllocation");
        cudaGetLastError();
    }
    printf("emulation self-test: %d of %d checks passed\n", checks - failures, checks);
    return failures;
}
