// emu_runtime.cpp: the CPU emulation of CUDA's execution model and of the runtime calls the
// engine makes (see cuda_runtime.h in this folder for the model in brief).
//
//   grid    -> blocks handed out to a pool of OS threads (the launching thread helps);
//   block   -> one fiber per thread on that OS thread, run one after another until each
//              reaches a barrier or returns; a barrier is passed when every thread concerned
//              has arrived (returned threads count as arrived for __syncthreads, never for a
//              warp collective); no runnable fiber left before the end is a deadlock, and the
//              launch fails naming the kernel, the block and where the fibers wait;
//   memory  -> host allocations filled with NaN, with NaN redzones on both sides that are
//              checked after every launch (a kernel that wrote outside its buffers fails the
//              launch as an illegal address) and copies checked against the allocations;
//              a device capacity (SALIENT_EMU_MEMORY, default 4G) for out-of-memory paths;
//   streams -> launches and copies complete before they return, so every stream is in order.
//
// Settings (environment): SALIENT_EMU_THREADS (OS threads, default: the cores),
// SALIENT_EMU_RACE=<seed> (shuffled fiber and block order, seeded), SALIENT_EMU_MEMORY
// (bytes, K/M/G suffixes), SALIENT_EMU_STACK_KB (fiber stack, default 128).
#include <cuda_runtime.h>

#include <cxxabi.h>
#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace salient_emu {

SALIENT_EMU_TLS ThreadState* t_thread = nullptr;
SALIENT_EMU_TLS uint3 t_block = {0, 0, 0};
SALIENT_EMU_TLS dim3 t_block_dim;
SALIENT_EMU_TLS dim3 t_grid_dim;

namespace {

constexpr uint32_t kPoison = 0x7FF4DEADu;  // a quiet NaN as float; a huge index as int
constexpr size_t kRedzone = 256;             // bytes of NaN on each side of an allocation
constexpr size_t kStaticShared = 48 * 1024;  // per block, as CUDA allows without opt-in
constexpr size_t kDynamicSharedMax = 227 * 1024;

// ---- settings

size_t parse_bytes(const char* s, size_t dflt) {
    if (s == nullptr || *s == 0) return dflt;
    char* end = nullptr;
    double v = strtod(s, &end);
    if (end == s || v <= 0) return dflt;
    switch (*end) {
        case 'k': case 'K': v *= 1024.0; break;
        case 'm': case 'M': v *= 1024.0 * 1024; break;
        case 'g': case 'G': v *= 1024.0 * 1024 * 1024; break;
        default: break;
    }
    return (size_t)v;
}

struct Settings {
    int threads;
    bool race;
    uint64_t seed;
    size_t memory;
    size_t stack;
};

const Settings& settings() {
    static const Settings s = [] {
        Settings r{};
        const char* t = getenv("SALIENT_EMU_THREADS");
        r.threads = t && atoi(t) > 0 ? atoi(t) : (int)std::max(1u, std::thread::hardware_concurrency());
        const char* race = getenv("SALIENT_EMU_RACE");
        r.race = race != nullptr && *race != 0 && strcmp(race, "0") != 0 && strcmp(race, "off") != 0;
        r.seed = r.race ? strtoull(race, nullptr, 0) : 0;
        r.memory = parse_bytes(getenv("SALIENT_EMU_MEMORY"), size_t(4) << 30);
        const char* st = getenv("SALIENT_EMU_STACK_KB");
        r.stack = (st && atoi(st) >= 16 ? (size_t)atoi(st) : 128) * 1024;
        return r;
    }();
    return s;
}

// ---- the last error of this host thread (cudaGetLastError), with the emulation's detail

thread_local cudaError_t t_last = cudaSuccess;
thread_local char t_detail[768] = {0};
thread_local cudaError_t t_detail_code = cudaSuccess;

cudaError_t set_error(cudaError_t e) {
    if (e != cudaSuccess) t_last = e;
    return e;
}

cudaError_t set_error_detail(cudaError_t e, const std::string& detail) {
    snprintf(t_detail, sizeof t_detail, "%s", detail.c_str());
    t_detail_code = e;
    return set_error(e);
}

std::string kernel_name(const void* fn) {
    Dl_info info;
    if (fn == nullptr || dladdr(fn, &info) == 0 || info.dli_sname == nullptr) return "a kernel";
    int st = 0;
    char* dem = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &st);
    std::string r = st == 0 && dem ? dem : info.dli_sname;
    free(dem);
    size_t paren = r.find('(');
    if (paren != std::string::npos) r.resize(paren);  // the name and template arguments suffice
    return r;
}

// ---- device memory

struct Alloc {
    char* raw;
    size_t bytes;  // requested
    size_t span;   // user bytes rounded up to the redzone granule
};

std::mutex g_mem_mu;
std::map<uintptr_t, Alloc> g_allocs;  // by user address
size_t g_used = 0;

void fill_words(void* p, size_t bytes, uint32_t w) {
    uint32_t* q = static_cast<uint32_t*>(p);
    for (size_t i = 0; i < bytes / 4; i++) q[i] = w;
}

bool words_are(const void* p, size_t bytes, uint32_t w) {
    const uint32_t* q = static_cast<const uint32_t*>(p);
    for (size_t i = 0; i < bytes / 4; i++)
        if (q[i] != w) return false;
    return true;
}

// The allocation holding [p, p + bytes), or null. Caller holds g_mem_mu.
const Alloc* find_range(const void* p, size_t bytes) {
    uintptr_t a = (uintptr_t)p;
    auto it = g_allocs.upper_bound(a);
    if (it == g_allocs.begin()) return nullptr;
    --it;
    if (a < it->first || a + bytes > it->first + it->second.bytes) return nullptr;
    return &it->second;
}

bool is_device(const void* p) {
    std::lock_guard<std::mutex> lock(g_mem_mu);
    return find_range(p, 1) != nullptr;
}

// Checks every redzone; describes the first damaged one (and repairs them all).
std::string check_redzones() {
    std::lock_guard<std::mutex> lock(g_mem_mu);
    std::string what;
    for (auto& [user, a] : g_allocs) {
        char* lo = a.raw;
        char* hi = a.raw + kRedzone + a.bytes;
        size_t hi_len = a.span - a.bytes + kRedzone;
        bool lo_ok = words_are(lo, kRedzone, kPoison), hi_ok = words_are(hi, hi_len & ~size_t(3), kPoison);
        if (lo_ok && hi_ok) continue;
        if (what.empty()) {
            char buf[256];
            snprintf(buf, sizeof buf, "wrote %s the device allocation of %zu bytes at %p", lo_ok ? "past the end of" : "before the start of",
                     a.bytes, (void*)user);
            what = buf;
        }
        fill_words(lo, kRedzone, kPoison);
        fill_words(hi, hi_len & ~size_t(3), kPoison);
    }
    return what;
}

// ---- fibers

#if defined(__x86_64__)
// salient_emu_switch(save, to): saves the callee-saved registers, MXCSR and the x87 control
// word on the current stack, stores the stack pointer in *save and resumes the stack `to`.
asm(R"(
    .pushsection .text
    .globl salient_emu_switch
    .hidden salient_emu_switch
    .type salient_emu_switch,@function
salient_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $16, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $16, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size salient_emu_switch,.-salient_emu_switch
    .popsection
)");
extern "C" void salient_emu_switch(void** save, void* to);
#endif

enum FiberState : uint8_t { F_NEW, F_READY, F_BLOCK_BAR, F_WARP_BAR, F_DONE };

struct Fiber {
    ThreadState ts;
    void* sp;
    char* stack;
    FiberState state;
#if !defined(__x86_64__)
    ucontext_t uc;
#endif
};

struct Warp {
    unsigned existing, done, mask;
    int arrived;
    unsigned gen;
    uint64_t slots[2][32];
};

struct Job;

struct Executor {
    std::vector<Fiber> fibers;
    std::vector<Warp> warps;
    std::vector<char*> free_stacks;
    std::vector<int> order;
    void* sched_sp = nullptr;
#if !defined(__x86_64__)
    ucontext_t sched_uc;
#endif
    Fiber* cur = nullptr;
    int n = 0, done = 0, block_waiting = 0;
    bool failed = false;
    std::string error;
    void (*body)(void*) = nullptr;
    void* ctx = nullptr;
    std::mt19937_64 rng;
    // __shared__
    struct Var {
        const char* key;
        size_t off, bytes;
    };
    std::vector<Var> vars;
    size_t shared_used = 0, dyn_bytes = 0;
    bool dyn_ready = false;
    char* shared = nullptr;  // kStaticShared bytes
    char* dyn = nullptr;     // kDynamicSharedMax bytes

    Executor() {
        shared = static_cast<char*>(aligned_alloc(128, kStaticShared));
        dyn = static_cast<char*>(aligned_alloc(128, kDynamicSharedMax));
    }

    char* take_stack() {
        if (!free_stacks.empty()) {
            char* s = free_stacks.back();
            free_stacks.pop_back();
            return s;
        }
        const size_t page = (size_t)sysconf(_SC_PAGESIZE), size = settings().stack;
        void* m = mmap(nullptr, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            fprintf(stderr, "salient emulation: cannot map a fiber stack of %zu bytes\n", size);
            abort();
        }
        mprotect(m, page, PROT_NONE);  // guard page below the stack: an overflow faults
        return static_cast<char*>(m) + page;
    }

    void start(Fiber& f);
    void run_block(uint3 idx, uint64_t seed);
    void abandon() {
        for (int i = 0; i < n; i++)
            if (fibers[i].stack) {
                free_stacks.push_back(fibers[i].stack);
                fibers[i].stack = nullptr;
            }
    }
};

thread_local Executor* t_exec = nullptr;

Executor& executor() {
    if (t_exec == nullptr) t_exec = new Executor();  // one per OS thread, for the process' life
    return *t_exec;
}

[[noreturn]] void fiber_main() {
    Executor* ex = t_exec;
    Fiber* f = ex->cur;
    ex->body(ex->ctx);
    f->state = F_DONE;
#if defined(__x86_64__)
    salient_emu_switch(&f->sp, ex->sched_sp);
#else
    swapcontext(&f->uc, &ex->sched_uc);
#endif
    __builtin_unreachable();
}

void switch_out(Fiber* f) {
    Executor* ex = t_exec;
#if defined(__x86_64__)
    salient_emu_switch(&f->sp, ex->sched_sp);
#else
    swapcontext(&f->uc, &ex->sched_uc);
#endif
    t_thread = &f->ts;  // resumed
}

void Executor::start(Fiber& f) {
    f.stack = take_stack();
#if defined(__x86_64__)
    // initial frame, popped by salient_emu_switch: [mxcsr, fcw | pad] r15 r14 r13 r12 rbx rbp ret=fiber_main, 0
    uintptr_t top = ((uintptr_t)(f.stack + settings().stack)) & ~uintptr_t(15);
    uint64_t* sp = reinterpret_cast<uint64_t*>(top - 80);
    uint32_t mxcsr;
    uint16_t fcw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fcw));
    memset(sp, 0, 80);
    memcpy(reinterpret_cast<char*>(sp), &mxcsr, 4);
    memcpy(reinterpret_cast<char*>(sp) + 4, &fcw, 2);
    sp[8] = reinterpret_cast<uint64_t>(&fiber_main);
    sp[9] = 0;
    f.sp = sp;
#else
    getcontext(&f.uc);
    f.uc.uc_stack.ss_sp = f.stack;
    f.uc.uc_stack.ss_size = settings().stack;
    f.uc.uc_link = nullptr;
    makecontext(&f.uc, (void (*)())fiber_main, 0);
#endif
}

void Executor::run_block(uint3 idx, uint64_t seed) {
    t_block = idx;
    const unsigned bx = t_block_dim.x, by = t_block_dim.y;
    n = (int)(t_block_dim.x * t_block_dim.y * t_block_dim.z);
    fibers.resize(n);
    for (int i = 0; i < n; i++) {
        Fiber& f = fibers[i];
        f.ts.tid = {(unsigned)i % bx, ((unsigned)i / bx) % by, (unsigned)i / (bx * by)};
        f.ts.lane = (unsigned)i & 31u;
        f.ts.warp = (unsigned)i >> 5;
        f.sp = nullptr;
        f.stack = nullptr;
        f.state = F_NEW;
    }
    const int nw = (n + 31) / 32;
    warps.resize(nw);
    for (int w = 0; w < nw; w++) {
        Warp& wp = warps[w];
        const int lanes = std::min(32, n - 32 * w);
        wp.existing = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1u);
        wp.done = 0;
        wp.mask = 0;
        wp.arrived = 0;
        wp.gen = 0;
    }
    vars.clear();
    shared_used = 0;
    dyn_ready = false;
    done = block_waiting = 0;
    failed = false;
    error.clear();
    order.resize(n);
    for (int i = 0; i < n; i++) order[i] = i;
    const bool race = settings().race;
    if (race) rng.seed(seed);

    // Race mode: the order of the fibers is shuffled every pass, and one warp of the block lags
    // (it runs one pass in eight, or when nothing else can), so that other warps run many
    // barrier-free phases ahead of it, as they may on a GPU.
    const int lagging = race && nw > 1 ? (int)(rng() % (uint64_t)nw) : -1;
    bool skipped = false, force = false;
    while (done < n) {
        if (race) std::shuffle(order.begin(), order.end(), rng);
        const bool lag_now = lagging >= 0 && !force && rng() % 8 != 0;
        skipped = force = false;
        int ran = 0;
        for (int i : order) {
            Fiber& f = fibers[i];
            if (f.state != F_NEW && f.state != F_READY) continue;
            if (lag_now && (int)f.ts.warp == lagging) {
                skipped = true;
                continue;
            }
            if (f.state == F_NEW) start(f);
            f.state = F_READY;
            cur = &f;
            t_thread = &f.ts;
#if defined(__x86_64__)
            salient_emu_switch(&sched_sp, f.sp);
#else
            swapcontext(&sched_uc, &f.uc);
#endif
            ran++;
            if (failed) {
                abandon();
                return;
            }
            if (f.state == F_DONE) {
                free_stacks.push_back(f.stack);
                f.stack = nullptr;
                done++;
                Warp& wp = warps[f.ts.warp];
                wp.done |= 1u << f.ts.lane;
                if (wp.arrived > 0 && ((wp.mask >> f.ts.lane) & 1u)) {
                    char buf[200];
                    snprintf(buf, sizeof buf,
                             "thread %d returned while lanes of its warp wait for it in a warp collective (mask 0x%08x)", i,
                             wp.mask);
                    error = buf;
                    failed = true;
                    abandon();
                    return;
                }
            }
        }
        if (block_waiting > 0 && block_waiting + done == n) {
            for (int i = 0; i < n; i++)
                if (fibers[i].state == F_BLOCK_BAR) fibers[i].state = F_READY;
            block_waiting = 0;
        } else if (ran == 0 && skipped) {
            force = true;  // only the lagging warp can run: the next pass runs it
        } else if (ran == 0 && done < n) {
            int at_warp = 0;
            for (int i = 0; i < n; i++) at_warp += fibers[i].state == F_WARP_BAR;
            char buf[256];
            snprintf(buf, sizeof buf,
                     "deadlock: %d threads wait at __syncthreads, %d in warp collectives, %d returned (a barrier not "
                     "reached by every thread)",
                     block_waiting, at_warp, done);
            error = buf;
            failed = true;
            abandon();
            return;
        }
    }
}

// ---- the grid and the thread pool

struct Job {
    LaunchConfig cfg;
    void (*body)(void*);
    void* ctx;
    uint64_t nblocks, perm_a, perm_c, launch_no;
    std::atomic<uint64_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex mu;
    std::string error;
    int pending = 0;
};

void work(Job& job) {
    Executor& ex = executor();
    ex.body = job.body;
    ex.ctx = job.ctx;
    t_block_dim = job.cfg.block;
    t_grid_dim = job.cfg.grid;
    ex.dyn_bytes = job.cfg.shmem;
    const uint64_t gx = job.cfg.grid.x, gy = job.cfg.grid.y;
    for (;;) {
        uint64_t b = job.next.fetch_add(1);
        if (b >= job.nblocks || job.failed.load(std::memory_order_relaxed)) break;
        uint64_t lin = settings().race ? (job.perm_a * b + job.perm_c) % job.nblocks : b;
        uint3 idx = {(unsigned)(lin % gx), (unsigned)((lin / gx) % gy), (unsigned)(lin / (gx * gy))};
        ex.run_block(idx, settings().seed * 0x9E3779B97F4A7C15ull ^ (job.launch_no << 32) ^ lin);
        if (ex.failed) {
            std::lock_guard<std::mutex> lock(job.mu);
            if (!job.failed) {
                char buf[96];
                snprintf(buf, sizeof buf, "block (%u,%u,%u): ", idx.x, idx.y, idx.z);
                job.error = buf + ex.error;
                job.failed = true;
            }
        }
    }
    t_thread = nullptr;
}

class Pool {
  public:
    // Runs the job on `helpers` pool threads and the caller.
    void run(Job& job, int helpers) {
        {
            std::unique_lock<std::mutex> lock(mu_);
            while ((int)threads_.size() < helpers) {
                int index = (int)threads_.size();
                threads_.emplace_back([this, index] { loop(index); });
                threads_.back().detach();
            }
            job_ = &job;
            helpers_ = helpers;
            job.pending = helpers;
            gen_++;
        }
        cv_.notify_all();
        work(job);
        std::unique_lock<std::mutex> lock(mu_);
        done_cv_.wait(lock, [&] { return job.pending == 0; });
        job_ = nullptr;
    }

  private:
    void loop(int index) {
        uint64_t seen = 0;
        for (;;) {
            Job* job;
            {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait(lock, [&] { return gen_ != seen; });
                seen = gen_;
                if (index >= helpers_ || job_ == nullptr) continue;
                job = job_;
            }
            work(*job);
            std::lock_guard<std::mutex> lock(mu_);
            if (--job->pending == 0) done_cv_.notify_all();
        }
    }

    std::mutex mu_;
    std::condition_variable cv_, done_cv_;
    std::vector<std::thread> threads_;
    Job* job_ = nullptr;
    int helpers_ = 0;
    uint64_t gen_ = 0;
};

std::mutex g_launch_mu;  // one device: launches from several host threads run one at a time
std::atomic<uint64_t> g_launch_no{0};
std::mutex g_attr_mu;
std::map<const void*, int> g_max_dyn_shared;

uint64_t gcd(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int current_device = 0;

}  // namespace

// ---- the calls kernel code makes (cuda_runtime.h)

[[noreturn]] void kernel_error(const char* fmt, ...) {
    Executor* ex = t_exec;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (ex == nullptr || ex->cur == nullptr) {
        fprintf(stderr, "salient emulation: %s (outside a kernel)\n", buf);
        abort();
    }
    char tid[96];
    snprintf(tid, sizeof tid, "thread (%u,%u,%u): ", ex->cur->ts.tid.x, ex->cur->ts.tid.y, ex->cur->ts.tid.z);
    ex->error = std::string(tid) + buf;
    ex->failed = true;
    Fiber* f = ex->cur;
    f->state = F_DONE;
    switch_out(f);
    __builtin_unreachable();
}

void syncthreads() {
    Executor* ex = t_exec;
    Fiber* f = ex->cur;
    f->state = F_BLOCK_BAR;
    ex->block_waiting++;
    switch_out(f);
}

const uint64_t* warp_collect(unsigned mask, uint64_t mine) {
    Executor* ex = t_exec;
    Fiber* f = ex->cur;
    Warp& w = ex->warps[f->ts.warp];
    const unsigned lane = f->ts.lane;
    if (!((mask >> lane) & 1u)) kernel_error("lane %u calls a warp collective with mask 0x%08x, which leaves it out", lane, mask);
    if (mask & ~w.existing)
        kernel_error("warp collective mask 0x%08x names lanes that do not exist (the warp has lanes 0x%08x)", mask, w.existing);
    if (mask & w.done) kernel_error("warp collective mask 0x%08x names lanes that have returned (0x%08x)", mask, mask & w.done);
    if (w.arrived == 0) w.mask = mask;
    else if (w.mask != mask)
        kernel_error("lanes of warp %u wait in warp collectives with different masks (0x%08x, 0x%08x)", f->ts.warp, w.mask, mask);
    const unsigned buf = w.gen & 1u;
    w.slots[buf][lane] = mine;
    f->state = F_WARP_BAR;
    if (++w.arrived == __builtin_popcount(mask)) {
        for (unsigned l = 0; l < 32; l++)
            if ((mask >> l) & 1u) ex->fibers[f->ts.warp * 32 + l].state = F_READY;
        w.arrived = 0;
        w.gen++;
    }
    switch_out(f);  // always yield, so that race mode can interleave the lanes
    return w.slots[buf];
}

void syncwarp(unsigned mask) { warp_collect(mask, 0); }

unsigned live_lanes() {
    Executor* ex = t_exec;
    const Warp& w = ex->warps[ex->cur->ts.warp];
    return w.existing & ~w.done;
}

void* shared_alloc(const char* key, size_t bytes) {
    Executor* ex = t_exec;
    for (const auto& v : ex->vars)
        if (v.key == key || strcmp(v.key, key) == 0) {
            if (v.bytes != bytes) kernel_error("__shared__ %s is declared with %zu and %zu bytes", key, v.bytes, bytes);
            return ex->shared + v.off;
        }
    size_t off = (ex->shared_used + 127) & ~size_t(127);
    if (off + bytes > kStaticShared)
        kernel_error("__shared__ %s (%zu bytes) takes the block's static shared memory past %zu bytes", key, bytes, kStaticShared);
    fill_words(ex->shared + off, (bytes + 3) & ~size_t(3), kPoison);
    ex->vars.push_back({key, off, bytes});
    ex->shared_used = off + bytes;
    return ex->shared + off;
}

void* dynamic_shared() {
    Executor* ex = t_exec;
    if (!ex->dyn_ready) {
        fill_words(ex->dyn, (ex->dyn_bytes + 3) & ~size_t(3), kPoison);
        ex->dyn_ready = true;
    }
    return ex->dyn;
}

void run_grid(const LaunchConfig& cfg, void (*body)(void*), void* ctx) {
    const dim3 g = cfg.grid, b = cfg.block;
    const uint64_t threads = (uint64_t)b.x * b.y * b.z;
    if (b.x == 0 || b.y == 0 || b.z == 0 || b.x > 1024 || b.y > 1024 || b.z > 64 || threads > 1024 || g.x == 0 ||
        g.y == 0 || g.z == 0 || g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535) {
        char buf[200];
        snprintf(buf, sizeof buf, "%s: grid (%u,%u,%u), block (%u,%u,%u)", kernel_name(cfg.fn).c_str(), g.x, g.y, g.z, b.x,
                 b.y, b.z);
        set_error_detail(cudaErrorInvalidConfiguration, buf);
        return;
    }
    int max_dyn = 0;
    {
        std::lock_guard<std::mutex> lock(g_attr_mu);
        auto it = g_max_dyn_shared.find(cfg.fn);
        if (it != g_max_dyn_shared.end()) max_dyn = it->second;
    }
    if (cfg.shmem > kStaticShared && (int)cfg.shmem > max_dyn) {
        set_error_detail(cudaErrorInvalidValue, kernel_name(cfg.fn) + ": dynamic shared memory over 48 KiB without cudaFuncSetAttribute");
        return;
    }
    std::lock_guard<std::mutex> lock(g_launch_mu);
    Job job;
    job.cfg = cfg;
    job.body = body;
    job.ctx = ctx;
    job.nblocks = (uint64_t)g.x * g.y * g.z;
    job.launch_no = g_launch_no.fetch_add(1);
    job.perm_c = settings().seed % job.nblocks;
    job.perm_a = (settings().seed | 1) * 2654435761ull % job.nblocks;
    if (job.perm_a == 0) job.perm_a = 1;
    while (gcd(job.perm_a, job.nblocks) != 1) job.perm_a++;
    static Pool& pool = *new Pool();  // never destroyed: its threads outlive static destructors
    const int helpers = (int)std::min<uint64_t>((uint64_t)settings().threads, job.nblocks) - 1;
    if (helpers > 0) pool.run(job, helpers);
    else work(job);
    if (job.failed) {
        set_error_detail(cudaErrorLaunchFailure, kernel_name(cfg.fn) + ", " + job.error);
        return;
    }
    std::string oob = check_redzones();
    if (!oob.empty()) set_error_detail(cudaErrorIllegalAddress, kernel_name(cfg.fn) + " " + oob);
}

}  // namespace salient_emu

// ---- runtime API

using namespace salient_emu;

namespace {
struct SalientEmuEventData {
    std::chrono::steady_clock::time_point t;
    bool recorded = false;
};
}  // namespace
struct SalientEmuStream {
    unsigned flags;
};
struct SalientEmuEvent {
    SalientEmuEventData d;
};

extern "C" {

cudaError_t cudaGetDeviceCount(int* count) {
    if (count == nullptr) return set_error(cudaErrorInvalidValue);
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
    if (device != 0) return set_error(cudaErrorInvalidDevice);
    current_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
    if (device == nullptr) return set_error(cudaErrorInvalidValue);
    *device = current_device;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
    if (prop == nullptr) return set_error(cudaErrorInvalidValue);
    if (device != 0) return set_error(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "emulated (CPU)");
    prop->totalGlobalMem = settings().memory;
    prop->sharedMemPerBlock = kStaticShared;
    prop->sharedMemPerBlockOptin = kDynamicSharedMax;
    prop->regsPerBlock = 65536;
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = 1024;
    prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
    prop->maxThreadsDim[2] = 64;
    prop->maxGridSize[0] = 0x7fffffff;
    prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
    prop->major = 9;  // the limits modelled are sm_90's
    prop->minor = 0;
    prop->multiProcessorCount = settings().threads;
    prop->l2CacheSize = 0;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
    if (value == nullptr) return set_error(cudaErrorInvalidValue);
    if (device != 0) return set_error(cudaErrorInvalidDevice);
    switch (attr) {
        case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
        case cudaDevAttrMaxSharedMemoryPerBlock: *value = (int)kStaticShared; break;
        case cudaDevAttrWarpSize: *value = 32; break;
        case cudaDevAttrMultiProcessorCount: *value = settings().threads; break;
        case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
        case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
        case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = (int)kDynamicSharedMax; break;
        default: return set_error(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

// No CUDA runtime or driver is involved: both versions are 0.
cudaError_t cudaRuntimeGetVersion(int* v) {
    if (v == nullptr) return set_error(cudaErrorInvalidValue);
    *v = 0;
    return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* v) {
    if (v == nullptr) return set_error(cudaErrorInvalidValue);
    *v = 0;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
    if (p == nullptr) return set_error(cudaErrorInvalidValue);
    *p = nullptr;
    if (bytes == 0) return cudaSuccess;
    const size_t span = (bytes + kRedzone - 1) / kRedzone * kRedzone;
    std::lock_guard<std::mutex> lock(g_mem_mu);
    if (bytes > settings().memory || g_used + span > settings().memory) return set_error(cudaErrorMemoryAllocation);
    char* raw = static_cast<char*>(aligned_alloc(kRedzone, span + 2 * kRedzone));
    if (raw == nullptr) return set_error(cudaErrorMemoryAllocation);
    fill_words(raw, span + 2 * kRedzone, kPoison);  // redzones and the fresh contents: NaN
    g_allocs[(uintptr_t)(raw + kRedzone)] = Alloc{raw, bytes, span};
    g_used += span;
    *p = raw + kRedzone;
    return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
    if (p == nullptr) return cudaSuccess;
    std::lock_guard<std::mutex> lock(g_mem_mu);
    auto it = g_allocs.find((uintptr_t)p);
    if (it == g_allocs.end()) return set_error(cudaErrorInvalidValue);
    g_used -= it->second.span;
    free(it->second.raw);
    g_allocs.erase(it);
    return cudaSuccess;
}

cudaError_t cudaMallocHost(void** p, size_t bytes) {
    if (p == nullptr) return set_error(cudaErrorInvalidValue);
    *p = malloc(bytes ? bytes : 1);
    return *p ? cudaSuccess : set_error(cudaErrorMemoryAllocation);
}

cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned) { return cudaMallocHost(p, bytes); }

cudaError_t cudaFreeHost(void* p) {
    free(p);
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
    if (free_bytes == nullptr || total_bytes == nullptr) return set_error(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> lock(g_mem_mu);
    *total_bytes = settings().memory;
    *free_bytes = settings().memory - g_used;
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
    if (bytes == 0) return cudaSuccess;
    if (dst == nullptr || src == nullptr) return set_error(cudaErrorInvalidValue);
    bool dst_dev = false, src_dev = false;
    switch (kind) {
        case cudaMemcpyHostToHost: break;
        case cudaMemcpyHostToDevice: dst_dev = true; break;
        case cudaMemcpyDeviceToHost: src_dev = true; break;
        case cudaMemcpyDeviceToDevice: dst_dev = src_dev = true; break;
        case cudaMemcpyDefault: dst_dev = is_device(dst); src_dev = is_device(src); break;
        default: return set_error(cudaErrorInvalidMemcpyDirection);
    }
    {
        std::lock_guard<std::mutex> lock(g_mem_mu);
        if ((dst_dev && find_range(dst, bytes) == nullptr) || (src_dev && find_range(src, bytes) == nullptr))
            return set_error_detail(cudaErrorInvalidValue, "a copy runs outside the device allocation it starts in");
    }
    memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
    return cudaMemcpy(dst, src, bytes, kind);
}

cudaError_t cudaMemset(void* p, int value, size_t bytes) {
    if (bytes == 0) return cudaSuccess;
    {
        std::lock_guard<std::mutex> lock(g_mem_mu);
        if (p == nullptr || find_range(p, bytes) == nullptr)
            return set_error_detail(cudaErrorInvalidValue, "cudaMemset runs outside a device allocation");
    }
    memset(p, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) { return cudaMemset(p, value, bytes); }

cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaDeviceReset(void) { return cudaSuccess; }

cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
    if (s == nullptr) return set_error(cudaErrorInvalidValue);
    *s = new SalientEmuStream{flags};
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
    if (s == nullptr) return set_error(cudaErrorInvalidResourceHandle);
    delete s;
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t e, unsigned) {
    return e == nullptr ? set_error(cudaErrorInvalidResourceHandle) : cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
    if (e == nullptr) return set_error(cudaErrorInvalidValue);
    *e = new SalientEmuEvent();
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    if (e == nullptr) return set_error(cudaErrorInvalidResourceHandle);
    delete e;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
    if (e == nullptr) return set_error(cudaErrorInvalidResourceHandle);
    e->d.t = std::chrono::steady_clock::now();
    e->d.recorded = true;
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) { return e == nullptr ? set_error(cudaErrorInvalidResourceHandle) : cudaSuccess; }
cudaError_t cudaEventQuery(cudaEvent_t e) { return e == nullptr ? set_error(cudaErrorInvalidResourceHandle) : cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
    if (ms == nullptr || start == nullptr || end == nullptr) return set_error(cudaErrorInvalidValue);
    if (!start->d.recorded || !end->d.recorded) return set_error(cudaErrorInvalidResourceHandle);
    *ms = std::chrono::duration<float, std::milli>(end->d.t - start->d.t).count();
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
    cudaError_t e = t_last;
    t_last = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void) { return t_last; }

const char* cudaGetErrorName(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "cudaSuccess";
        case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
        case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
        case cudaErrorInitializationError: return "cudaErrorInitializationError";
        case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
        case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
        case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
        case cudaErrorNoDevice: return "cudaErrorNoDevice";
        case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
        case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
        case cudaErrorNotReady: return "cudaErrorNotReady";
        case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
        case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
        case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
        case cudaErrorNotSupported: return "cudaErrorNotSupported";
        default: return "cudaErrorUnknown";
    }
}

// CUDA's strings; the emulation adds what it found for the last error of this thread.
const char* cudaGetErrorString(cudaError_t e) {
    const char* s;
    switch (e) {
        case cudaSuccess: s = "no error"; break;
        case cudaErrorInvalidValue: s = "invalid argument"; break;
        case cudaErrorMemoryAllocation: s = "out of memory"; break;
        case cudaErrorInitializationError: s = "initialization error"; break;
        case cudaErrorInvalidConfiguration: s = "invalid configuration argument"; break;
        case cudaErrorInvalidDevicePointer: s = "invalid device pointer"; break;
        case cudaErrorInvalidMemcpyDirection: s = "invalid copy direction for memcpy"; break;
        case cudaErrorNoDevice: s = "no CUDA-capable device is detected"; break;
        case cudaErrorInvalidDevice: s = "invalid device ordinal"; break;
        case cudaErrorInvalidResourceHandle: s = "invalid resource handle"; break;
        case cudaErrorNotReady: s = "device not ready"; break;
        case cudaErrorIllegalAddress: s = "an illegal memory access was encountered"; break;
        case cudaErrorLaunchOutOfResources: s = "too many resources requested for launch"; break;
        case cudaErrorLaunchFailure: s = "unspecified launch failure"; break;
        case cudaErrorNotSupported: s = "operation not supported"; break;
        default: s = "unknown error"; break;
    }
    if (e == t_detail_code && t_detail[0] != 0) {
        static thread_local char buf[1024];
        snprintf(buf, sizeof buf, "%s (emulation: %s)", s, t_detail);
        return buf;
    }
    return s;
}

cudaError_t salient_emu_func_set_attribute(const void* fn, cudaFuncAttribute attr, int value) {
    if (fn == nullptr) return set_error(cudaErrorInvalidValue);
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
        if (value < 0 || (size_t)value > kDynamicSharedMax) return set_error(cudaErrorInvalidValue);
        std::lock_guard<std::mutex> lock(g_attr_mu);
        g_max_dyn_shared[fn] = value;
    }
    return cudaSuccess;
}

}  // extern "C"
