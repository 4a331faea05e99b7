/*
 * tests/unit/cuda_emu/cuda_emu.cpp — the CPU emulation behind
 * cuda_runtime_api.h, cublas_v2.h and cuda_emu_device.h (see those for what
 * is emulated and why). Test-only.
 *
 * Streams are synchronous here (every call completes before returning),
 * which is a valid schedule of a single in-order stream. Kernels run on
 * fibers of the calling thread (see "fibers" below). Environment:
 * AWQ_EMU_GUARD_DEVICE=1 guards device memory from host code ("device
 * guard"), AWQ_EMU_SCHEDULE=reverse runs blocks and threads in reverse
 * order (run_block).
 */
#include "cublas_v2.h"
#include "cuda_emu_device.h"
#include "cuda_runtime_api.h"

#include <map>
#include <mutex>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#include <vector>

/* On x86-64 fibers switch with the few instructions below (callee-saved
 * registers and the stack pointer); glibc's swapcontext also saves the
 * signal mask with a system call per switch, which made kernel emulation
 * ten times slower. Other machines use ucontext. */
#if defined(__x86_64__) && defined(__GNUC__)
#define AWQ_EMU_ASM_SWITCH 1
extern "C" void awq_emu_switch(void **save_sp, void *new_sp);
__asm__(".text\n"
        ".globl awq_emu_switch\n"
        ".type awq_emu_switch,@function\n"
        "awq_emu_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size awq_emu_switch,.-awq_emu_switch\n");
#else
#define AWQ_EMU_ASM_SWITCH 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define AWQ_EMU_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#define AWQ_EMU_ASAN 0
#endif

/* ------------------------------------------------------------- state */

awq_emu_uint3 awq_emu_threadIdx;
awq_emu_uint3 awq_emu_blockIdx;
awq_emu_uint3 awq_emu_blockDim;
awq_emu_uint3 awq_emu_gridDim;

namespace {

std::mutex g_api; /* runtime calls come from one test thread; cheap safety */
int g_device_count = 1;
size_t g_mem_limit = (size_t)1 << 30;
size_t g_mem_used = 0;
cudaError_t g_last = cudaSuccess;
int g_misuse = 0;
int g_gemm_calls = 0;
std::map<uintptr_t, size_t> g_allocs; /* base -> size */
std::map<const void *, int> g_smem_attr;

const size_t kSmemDefault = 48 * 1024;
const size_t kSmemOptin = 101376; /* sm_86 / sm_89: the strictest target */

cudaError_t set_err(cudaError_t e) {
    if (e != cudaSuccess) g_last = e;
    return e;
}

void misuse(const char *what) {
    g_misuse++;
    fprintf(stderr, "[cuda_emu] misuse: %s\n", what);
}

/* Whether [p, p+n) lies inside one device allocation. */
bool in_device(const void *p, size_t n) {
    uintptr_t a = (uintptr_t)p;
    auto it = g_allocs.upper_bound(a);
    if (it == g_allocs.begin()) return false;
    --it;
    return a >= it->first && a + n <= it->first + it->second;
}

/* ------------------------------------------------------ device guard */

/* With AWQ_EMU_GUARD_DEVICE=1 in the environment, device allocations are
 * their own mappings, inaccessible (PROT_NONE) except while an emulated
 * device operation runs (a kernel, a copy, a memset, a GEMM): host code
 * that reads or writes "device" memory directly faults here as it would on
 * a GPU, where the emulation otherwise lets it pass. Freed allocations are
 * unmapped, so a use after free faults too. */
int g_guard = -1; /* -1: environment not read yet */
int g_open = 0;   /* nesting of device operations */

bool guard_on(void) {
    if (g_guard < 0) {
        const char *e = getenv("AWQ_EMU_GUARD_DEVICE");
        g_guard = e && e[0] == '1';
    }
    return g_guard == 1;
}

size_t page_round(size_t n) {
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) / pg * pg;
}

void protect_all(int prot) {
    for (auto &a : g_allocs)
        if (mprotect((void *)a.first, page_round(a.second), prot) != 0) {
            perror("[cuda_emu] mprotect");
            abort();
        }
}

/* Scope of one emulated device operation: device memory accessible. */
struct DeviceAccess {
    DeviceAccess() {
        if (guard_on() && g_open++ == 0) protect_all(PROT_READ | PROT_WRITE);
    }
    ~DeviceAccess() {
        if (guard_on() && --g_open == 0) protect_all(PROT_NONE);
    }
    DeviceAccess(const DeviceAccess &) = delete;
    DeviceAccess &operator=(const DeviceAccess &) = delete;
};

bool touches_device(const void *p, size_t n) {
    uintptr_t a = (uintptr_t)p;
    auto it = g_allocs.upper_bound(a + (n ? n - 1 : 0));
    if (it == g_allocs.begin()) return false;
    --it;
    return a < it->first + it->second && it->first < a + (n ? n : 1);
}

/* ------------------------------------------------------------ fibers */

/* Every thread of a block is a fiber (ucontext) run by a scheduler on the
 * calling OS thread: a fiber runs until it reaches a barrier or returns,
 * then the next one runs. When every unfinished thread of the block waits
 * at __syncthreads, or every lane of a warp waits at a warp barrier, they
 * are released. If nothing can be released while threads still wait, the
 * kernel has a thread that skipped a barrier others reached: reported and
 * aborted (on a GPU that is a hang or undefined behaviour). Context
 * switches are a few hundred nanoseconds, so whole test suites run in
 * seconds, deterministically. */

enum { F_RUN = 0, F_BLOCK_BAR = 1, F_WARP_BAR = 2, F_DONE = 3 };

struct Fiber {
#if AWQ_EMU_ASM_SWITCH
    void *sp = nullptr;
#else
    ucontext_t uc;
#endif
    char *stack = nullptr;
    int state = F_DONE;
#if AWQ_EMU_ASAN
    void *fake = nullptr;
#endif
};

const size_t kStack = (size_t)256 << 10;

struct Launch {
    dim3 grid, block;
    int nthreads = 0;
    std::function<void()> fn;
    std::vector<unsigned char> dyn_smem;
    std::vector<uint64_t> warp_slots; /* 32 per warp */
};

Launch *g_launch = nullptr;

/* Fibers (and their stacks) are kept between launches; freed at exit. */
struct FiberSet : std::vector<Fiber> {
    ~FiberSet() {
        for (Fiber &f : *this) free(f.stack);
    }
};
FiberSet g_fibers;
#if AWQ_EMU_ASM_SWITCH
void *g_sched_sp = nullptr;
#else
ucontext_t g_sched_uc;
#endif
int g_cur = -1;
#if AWQ_EMU_ASAN
void *g_sched_fake = nullptr;
const void *g_sched_bottom = nullptr;
size_t g_sched_size = 0;
#endif

void set_thread_idx(int id) {
    const dim3 &b = g_launch->block;
    awq_emu_threadIdx = {(unsigned)id % b.x, ((unsigned)id / b.x) % b.y,
                         (unsigned)id / (b.x * b.y)};
}

/* fiber -> scheduler */
void yield_to_sched(int state) {
    Fiber &f = g_fibers[(size_t)g_cur];
    f.state = state;
#if AWQ_EMU_ASAN
    __sanitizer_start_switch_fiber(&f.fake, g_sched_bottom, g_sched_size);
#endif
#if AWQ_EMU_ASM_SWITCH
    awq_emu_switch(&f.sp, g_sched_sp);
#else
    swapcontext(&f.uc, &g_sched_uc);
#endif
#if AWQ_EMU_ASAN
    __sanitizer_finish_switch_fiber(f.fake, &g_sched_bottom, &g_sched_size);
#endif
}

void fiber_main(void) {
#if AWQ_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &g_sched_bottom, &g_sched_size);
#endif
    g_launch->fn();
    Fiber &f = g_fibers[(size_t)g_cur];
    f.state = F_DONE;
#if AWQ_EMU_ASAN
    __sanitizer_start_switch_fiber(nullptr, g_sched_bottom, g_sched_size);
#endif
#if AWQ_EMU_ASM_SWITCH
    void *dead;
    awq_emu_switch(&dead, g_sched_sp);
#else
    setcontext(&g_sched_uc);
#endif
    abort(); /* never resumed */
}

[[noreturn]] void deadlock(const char *why) {
    int counts[4] = {0, 0, 0, 0};
    for (int i = 0; i < g_launch->nthreads; i++) counts[g_fibers[(size_t)i].state]++;
    fprintf(stderr,
            "[cuda_emu] kernel deadlock (%s) in block (%u, %u, %u): %d threads at "
            "__syncthreads, %d at warp barriers, %d finished\n",
            why, awq_emu_blockIdx.x, awq_emu_blockIdx.y, awq_emu_blockIdx.z, counts[F_BLOCK_BAR],
            counts[F_WARP_BAR], counts[F_DONE]);
    abort();
}

/* With AWQ_EMU_SCHEDULE=reverse in the environment, blocks and the
 * threads of a block run in reverse order: a kernel whose result depends
 * on the order (a missing __syncthreads between one thread's write and
 * another's read, blocks reading what other blocks write) then computes
 * something else, which the tests' exact comparisons catch. On a GPU any
 * order, or none, happens. */
bool reverse_schedule(void) {
    static int rev = -1;
    if (rev < 0) {
        const char *e = getenv("AWQ_EMU_SCHEDULE");
        rev = e && strcmp(e, "reverse") == 0;
    }
    return rev == 1;
}

void run_block(void) {
    const int n = g_launch->nthreads;
    const bool rev = reverse_schedule();
    for (int i = 0; i < n; i++) {
        Fiber &f = g_fibers[(size_t)i];
        if (!f.stack) f.stack = (char *)malloc(kStack);
        if (!f.stack) {
            fprintf(stderr, "[cuda_emu] out of memory for fiber stacks\n");
            abort();
        }
#if AWQ_EMU_ASAN
        /* a fiber that finished left its frames' redzones poisoned */
        __asan_unpoison_memory_region(f.stack, kStack);
#endif
#if AWQ_EMU_ASM_SWITCH
        /* the frame awq_emu_switch pops: r15 r14 r13 r12 rbx rbp, then the
         * return address (fiber_main), which is entered with rsp = 8 mod 16
         * as after a call */
        uintptr_t top = ((uintptr_t)(f.stack + kStack)) & ~(uintptr_t)15;
        uintptr_t *sp = (uintptr_t *)(top - 64);
        for (int r = 0; r < 6; r++) sp[r] = 0;
        sp[6] = (uintptr_t)&fiber_main;
        sp[7] = 0;
        f.sp = sp;
#else
        getcontext(&f.uc);
        f.uc.uc_stack.ss_sp = f.stack;
        f.uc.uc_stack.ss_size = kStack;
        f.uc.uc_link = &g_sched_uc;
        makecontext(&f.uc, fiber_main, 0);
#endif
        f.state = F_RUN;
    }
    const int nwarps = (n + 31) / 32;
    for (;;) {
        for (int k = 0; k < n; k++) {
            const int i = rev ? n - 1 - k : k;
            if (g_fibers[(size_t)i].state != F_RUN) continue;
            g_cur = i;
            set_thread_idx(i);
#if AWQ_EMU_ASAN
            __sanitizer_start_switch_fiber(&g_sched_fake, g_fibers[(size_t)i].stack, kStack);
#endif
#if AWQ_EMU_ASM_SWITCH
            awq_emu_switch(&g_sched_sp, g_fibers[(size_t)i].sp);
#else
            swapcontext(&g_sched_uc, &g_fibers[(size_t)i].uc);
#endif
#if AWQ_EMU_ASAN
            __sanitizer_finish_switch_fiber(g_sched_fake, nullptr, nullptr);
#endif
        }
        g_cur = -1;
        int done = 0, at_block = 0;
        for (int i = 0; i < n; i++) {
            done += g_fibers[(size_t)i].state == F_DONE;
            at_block += g_fibers[(size_t)i].state == F_BLOCK_BAR;
        }
        if (done == n) return;
        bool released = false;
        if (at_block == n) {
            for (int i = 0; i < n; i++) g_fibers[(size_t)i].state = F_RUN;
            continue;
        }
        for (int w = 0; w < nwarps; w++) {
            const int l0 = 32 * w, l1 = l0 + 32 < n ? l0 + 32 : n;
            bool all = true;
            for (int i = l0; i < l1 && all; i++) all = g_fibers[(size_t)i].state == F_WARP_BAR;
            if (!all) continue;
            for (int i = l0; i < l1; i++) g_fibers[(size_t)i].state = F_RUN;
            released = true;
        }
        if (!released)
            deadlock(done ? "some threads returned while others wait at a barrier"
                          : "threads wait at different barriers");
    }
}

} /* namespace */

/* ------------------------------------------------------------ launch */

cudaError_t awq_emu_launch_fn(const void *func, dim3 grid, dim3 block, size_t smem,
                              const std::function<void()> &fn) {
    const long nthreads = (long)block.x * block.y * block.z;
    if (nthreads < 1 || nthreads > 1024 || block.z > 64 || grid.x < 1 || grid.y < 1 ||
        grid.z < 1 || grid.y > 65535 || grid.z > 65535 || grid.x > 2147483647u) {
        misuse("launch configuration out of range");
        return set_err(cudaErrorInvalidConfiguration);
    }
    size_t limit = kSmemDefault;
    auto it = g_smem_attr.find(func);
    if (it != g_smem_attr.end()) limit = (size_t)it->second;
    if (smem > limit) {
        misuse("dynamic shared memory above the kernel's limit (cudaFuncSetAttribute missing?)");
        return set_err(cudaErrorInvalidValue);
    }
    if (g_launch) {
        misuse("kernel launched from a kernel");
        return set_err(cudaErrorLaunchFailure);
    }
    DeviceAccess access;
    Launch L;
    L.grid = grid;
    L.block = block;
    L.nthreads = (int)nthreads;
    L.fn = fn;
    L.dyn_smem.assign(smem ? smem : 16, 0xff); /* uninitialised: NaN */
    L.warp_slots.assign((size_t)((nthreads + 31) / 32) * 32u, 0);
    if (g_fibers.size() < (size_t)nthreads) g_fibers.resize((size_t)nthreads);
    awq_emu_blockDim = {block.x, block.y, block.z};
    awq_emu_gridDim = {grid.x, grid.y, grid.z};
    g_launch = &L;
    const bool rev = reverse_schedule();
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                awq_emu_blockIdx = rev ? awq_emu_uint3{grid.x - 1 - x, grid.y - 1 - y, grid.z - 1 - z}
                                       : awq_emu_uint3{x, y, z};
                run_block();
            }
    g_launch = nullptr;
    return cudaSuccess;
}

void *awq_emu_dyn_smem(void) { return g_launch->dyn_smem.data(); }

void awq_emu_syncthreads(void) { yield_to_sched(F_BLOCK_BAR); }

int awq_emu_lane(void) { return g_cur & 31; }

void awq_emu_syncwarp(void) { yield_to_sched(F_WARP_BAR); }

uint64_t awq_emu_warp_exchange(uint64_t v, int src) {
    const int w = g_cur / 32, lane = g_cur & 31;
    uint64_t *slots = &g_launch->warp_slots[(size_t)w * 32u];
    slots[lane] = v;
    yield_to_sched(F_WARP_BAR);
    uint64_t r = slots[src];
    yield_to_sched(F_WARP_BAR); /* everyone has read before anyone writes again */
    return r;
}

/* ----------------------------------------------------------- runtime */

extern "C" {

void awq_emu_set_device_count(int n) { g_device_count = n; }
void awq_emu_set_mem_limit(size_t bytes) { g_mem_limit = bytes; }
size_t awq_emu_mem_in_use(void) { return g_mem_used; }
size_t awq_emu_live_allocations(void) { return g_allocs.size(); }
int awq_emu_misuse_count(void) { return g_misuse; }
int awq_emu_gemm_calls(void) { return g_gemm_calls; }

cudaError_t cudaGetDeviceCount(int *count) {
    *count = 0;
    if (g_device_count <= 0) return set_err(cudaErrorNoDevice);
    *count = g_device_count;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
    if (device < 0 || device >= g_device_count) return set_err(cudaErrorInvalidDevice);
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device) {
    if (device < 0 || device >= g_device_count) return set_err(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "awqkit CPU emulation of a CUDA GPU");
    prop->major = 8;
    prop->minor = 6;
    prop->multiProcessorCount = 2;
    prop->totalGlobalMem = g_mem_limit;
    prop->sharedMemPerBlock = kSmemDefault;
    prop->sharedMemPerBlockOptin = kSmemOptin;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device) {
    (void)device;
    *value = attr == cudaDevAttrMemoryPoolsSupported ? 1 : 0;
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
    cudaError_t e = g_last;
    g_last = cudaSuccess;
    return e;
}

const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorNoKernelImageForDevice: return "cudaErrorNoKernelImageForDevice";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorNoKernelImageForDevice: return "no kernel image is available for execution on the device";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    }
    return "unknown error";
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
    (void)flags;
    *s = (cudaStream_t)malloc(16);
    return *s ? cudaSuccess : set_err(cudaErrorMemoryAllocation);
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
    free(s);
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    (void)s;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t n) {
    std::lock_guard<std::mutex> l(g_api);
    *p = nullptr;
    if (n == 0) return cudaSuccess;
    if (n > g_mem_limit - g_mem_used) return set_err(cudaErrorMemoryAllocation);
    DeviceAccess access; /* the new allocation is guarded when it ends */
    void *q = nullptr;
    if (guard_on()) {
        q = mmap(nullptr, page_round(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                 0);
        if (q == MAP_FAILED) return set_err(cudaErrorMemoryAllocation);
    } else if (posix_memalign(&q, 256, n) != 0) {
        return set_err(cudaErrorMemoryAllocation);
    }
    memset(q, 0xff, n);
    g_allocs[(uintptr_t)q] = n;
    g_mem_used += n;
    *p = q;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p) {
    std::lock_guard<std::mutex> l(g_api);
    if (!p) return cudaSuccess;
    auto it = g_allocs.find((uintptr_t)p);
    if (it == g_allocs.end()) {
        misuse("cudaFree of a pointer that is not a device allocation");
        return set_err(cudaErrorInvalidValue);
    }
    g_mem_used -= it->second;
    if (guard_on()) {
        munmap(p, page_round(it->second));
        g_allocs.erase(it);
        return cudaSuccess;
    }
    memset(p, 0xff, it->second);
    g_allocs.erase(it);
    free(p);
    return cudaSuccess;
}

cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t s) {
    (void)s;
    return cudaMalloc(p, n);
}

cudaError_t cudaFreeAsync(void *p, cudaStream_t s) {
    (void)s;
    return cudaFree(p);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind,
                            cudaStream_t s) {
    (void)s;
    if (n == 0) return cudaSuccess;
    bool ok = true;
    switch (kind) {
    case cudaMemcpyHostToDevice: ok = in_device(dst, n) && !touches_device(src, n); break;
    case cudaMemcpyDeviceToHost: ok = in_device(src, n) && !touches_device(dst, n); break;
    case cudaMemcpyDeviceToDevice: ok = in_device(src, n) && in_device(dst, n); break;
    default: ok = false;
    }
    if (!ok) {
        misuse("cudaMemcpyAsync pointers do not match the copy kind / lie outside allocations");
        return set_err(cudaErrorInvalidValue);
    }
    DeviceAccess access;
    memmove(dst, src, n);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t n, cudaStream_t s) {
    (void)s;
    if (n == 0) return cudaSuccess;
    if (!in_device(p, n)) {
        misuse("cudaMemsetAsync outside a device allocation");
        return set_err(cudaErrorInvalidValue);
    }
    DeviceAccess access;
    memset(p, value, n);
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    *free_bytes = g_mem_limit - g_mem_used;
    *total_bytes = g_mem_limit;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int device) {
    (void)device;
    static int dummy;
    *pool = (cudaMemPool_t)(void *)&dummy;
    return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, enum cudaMemPoolAttr attr, void *value) {
    (void)pool, (void)attr, (void)value;
    return cudaSuccess;
}

cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t keep) {
    (void)pool, (void)keep;
    return cudaSuccess;
}

cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes *attr, const void *func) {
    (void)func;
    memset(attr, 0, sizeof *attr);
    attr->maxThreadsPerBlock = 1024;
    return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value) {
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
        (size_t)value > kSmemOptin)
        return set_err(cudaErrorInvalidValue);
    g_smem_attr[func] = value;
    return cudaSuccess;
}

/* ------------------------------------------------------------ cuBLAS */

struct awq_emu_cublas {
    cudaStream_t stream;
};

cublasStatus_t cublasCreate(cublasHandle_t *h) {
    *h = new awq_emu_cublas();
    (*h)->stream = nullptr;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t h) {
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

static float half_bits_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, u;
    if (e == 0x1f) {
        u = sign | 0x7f800000u | (m << 13);
    } else if (e == 0) {
        float v = (float)m * 5.9604644775390625e-08f;
        return sign ? -v : v;
    } else {
        u = sign | ((e + 112u) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static float load_elem(const void *base, cudaDataType_t t, int64_t i) {
    if (t == CUDA_R_32F) return ((const float *)base)[i];
    uint16_t h = ((const uint16_t *)base)[i];
    if (t == CUDA_R_16F) return half_bits_to_float(h);
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* TF32: 10 explicit mantissa bits, round to nearest (ties away, as the
 * hardware's conversion; the exact tie rule does not matter for tests). */
static float to_tf32(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
    memcpy(&f, &u, 4);
    return f;
}

/* BF16 inputs of CUBLAS_COMPUTE_32F_FAST_16BF: round to nearest even
 * (finite values; the tests feed no Inf/NaN). */
static float to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

static size_t elem_size(cudaDataType_t t) { return t == CUDA_R_32F ? 4 : 2; }

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                            int n, int k, const void *alpha, const void *A, cudaDataType_t at,
                            int lda, const void *B, cudaDataType_t bt, int ldb,
                            const void *beta, void *C, cudaDataType_t ct, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    (void)algo;
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    g_gemm_calls++;
    if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
    const int arows = ta == CUBLAS_OP_N ? m : k, brows = tb == CUBLAS_OP_N ? k : n;
    if (lda < (arows > 1 ? arows : 1) || ldb < (brows > 1 ? brows : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (ct != CUDA_R_32F || at != bt) return CUBLAS_STATUS_NOT_SUPPORTED;
    if ((compute == CUBLAS_COMPUTE_32F_FAST_TF32 || compute == CUBLAS_COMPUTE_32F_FAST_16BF) &&
        at != CUDA_R_32F)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    /* every element read must lie in device memory */
    const int acols = ta == CUBLAS_OP_N ? k : m, bcols = tb == CUBLAS_OP_N ? n : k;
    if ((k > 0 && (!in_device(A, ((size_t)(acols - 1) * lda + arows) * elem_size(at)) ||
                   !in_device(B, ((size_t)(bcols - 1) * ldb + brows) * elem_size(bt)))) ||
        !in_device(C, ((size_t)(n - 1) * ldc + m) * 4u)) {
        misuse("cublasGemmEx operand outside device memory");
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    DeviceAccess access;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    const bool tf32 = compute == CUBLAS_COMPUTE_32F_FAST_TF32;
    const bool bf16 = compute == CUBLAS_COMPUTE_32F_FAST_16BF;
    float *c = (float *)C;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            float acc = 0.0f;
            for (int p = 0; p < k; p++) {
                float a = load_elem(A, at, ta == CUBLAS_OP_N ? (int64_t)p * lda + i
                                                             : (int64_t)i * lda + p);
                float b = load_elem(B, bt, tb == CUBLAS_OP_N ? (int64_t)j * ldb + p
                                                             : (int64_t)p * ldb + j);
                if (tf32) {
                    a = to_tf32(a);
                    b = to_tf32(b);
                }
                if (bf16) {
                    a = to_bf16(a);
                    b = to_bf16(b);
                }
                acc = fmaf(a, b, acc);
            }
            float *cij = c + (int64_t)j * ldc + i;
            /* beta == 0: C is not read (it may hold NaN), as in cuBLAS */
            *cij = be == 0.0f ? al * acc : al * acc + be * *cij;
        }
    return CUBLAS_STATUS_SUCCESS;
}

} /* extern "C" */
